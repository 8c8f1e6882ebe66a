"""ATIF: the Agent Trajectory Interchange Format (Harbor / terminal-bench)."""

from __future__ import annotations

from typing import Any

from watchkeeper.trajectories._base import DocumentReader, Source, StepsBuilder
from watchkeeper.trajectories._chat import split_arguments
from watchkeeper.trajectories._model import Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_list,
    as_str,
    parse_ts,
    scalar_str,
    small_metadata,
    text_of,
)


def _is_atif(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    version = doc.get("schema_version")
    if isinstance(version, str) and version.upper().startswith("ATIF"):
        return True
    return "session_id" in doc and isinstance(doc.get("steps"), list) and "agent" in doc


class AtifReader(DocumentReader):
    """Reads ATIF trajectories (``schema_version`` "ATIF-v1.x").

    Root: ``session_id`` (the trajectory id), ``agent{name, version, model_name}``,
    ``steps[]``. Each step with ``source`` "agent" is a Step (user and system steps are not);
    its ``tool_calls[]{tool_call_id, function_name, arguments}`` are the calls and
    ``observation.results[]{source_call_id, content}`` their outputs. ``timestamp`` (ISO 8601)
    gives Step.ts and ToolCall.ts. A JSON list of ATIF objects gives one trajectory each.
    """

    name = "atif"

    def is_document(self, doc: Any) -> bool:
        """An ATIF root object."""
        return _is_atif(doc)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One ATIF root object."""
        if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
            raise src.error("ATIF trajectory without a steps list", "steps")
        builder = StepsBuilder()
        for step in doc["steps"][:MAX_ITEMS]:
            if not isinstance(step, dict) or step.get("source") != "agent":
                continue
            ts = parse_ts(step.get("timestamp"))
            builder.step(ts)
            for call in as_list(step.get("tool_calls"))[:MAX_ITEMS]:
                if not isinstance(call, dict):
                    continue
                name = as_str(call.get("function_name")) or as_str(call.get("name")) or ""
                args, raw = split_arguments(call.get("arguments"))
                call_id = scalar_str(call.get("tool_call_id")) or scalar_str(call.get("id")) or ""
                builder.add(name, args, raw=raw, call_id=call_id, ts=ts)
            results = as_list(as_dict(step.get("observation")).get("results"))
            for result in results[:MAX_ITEMS]:
                fields = as_dict(result)
                source_id = scalar_str(fields.get("source_call_id"))
                if source_id:
                    builder.set_output(source_id, text_of(fields.get("content")))
        agent = as_dict(doc.get("agent"))
        metadata = small_metadata(doc, ("schema_version",))
        metadata.update({f"agent_{k}": v for k, v in small_metadata(
            agent, ("name", "version", "model_name")).items()})
        default = str(src)
        ident = scalar_str(doc.get("session_id")) or default
        return Trajectory(id=ident, source=default, format=self.name, steps=builder.build(),
                          metadata=metadata)
