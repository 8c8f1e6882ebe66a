"""mini-swe-agent trajectories: ``messages`` whose assistant turns each run one bash command."""

from __future__ import annotations

import re
from typing import Any

from watchkeeper.trajectories._base import DocumentReader, Source, StepsBuilder
from watchkeeper.trajectories._chat import add_openai_tool_call
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

#: The action block of text-based mini-swe-agent (v1 ``bash``, v2 ``mswea_bash_command``).
ACTION_RE = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n```", re.DOTALL)


def _is_mini(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    fmt = doc.get("trajectory_format")
    if isinstance(fmt, str) and fmt.startswith("mini-swe-agent"):
        return True
    return isinstance(doc.get("messages"), list) and "mini_version" in as_dict(doc.get("info"))


def text_actions(content: str) -> list[str]:
    """The command of a text-based turn: exactly one fenced block, as the agent requires."""
    if "```" not in content:
        return []
    found = ACTION_RE.findall(content)
    return [found[0].strip()] if len(found) == 1 else []


class MiniSweAgentReader(DocumentReader):
    """Reads mini-swe-agent trajectories (``trajectory_format`` "mini-swe-agent-1"/"-1.1").

    Each assistant message is a step. Its command comes from ``extra.actions[].command`` (v2),
    else from ``tool_calls`` (v2 tool calling), else from the single fenced ``bash`` (v1) or
    ``mswea_bash_command`` (v2 text mode) block; a turn with zero or several blocks ran nothing
    and has no call. Outputs come from ``tool`` messages (by ``tool_call_id``) or from the
    next user message (``extra.raw_output`` or its ``<output>`` text). ``extra.timestamp``
    (v2) gives times. The id is ``instance_id`` when present, else the file name without
    ``.traj.json``.
    """

    name = "mini-swe-agent"

    def is_document(self, doc: Any) -> bool:
        """A mini-swe-agent trajectory object."""
        return _is_mini(doc)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One trajectory object."""
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            raise src.error("mini-swe-agent trajectory without a messages list", "messages")
        builder = StepsBuilder()
        awaiting = False
        for message in doc["messages"][:MAX_ITEMS]:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            extra = as_dict(message.get("extra"))
            ts = parse_ts(extra.get("timestamp", message.get("timestamp")))
            if role == "assistant":
                builder.step(ts)
                awaiting = self._add_actions(builder, message, extra, ts)
            elif role == "tool":
                call_id = scalar_str(message.get("tool_call_id"))
                output = as_str(extra.get("raw_output"))
                if output is None:
                    output = text_of(message.get("content"))
                if call_id and builder.set_output(call_id, output, ts):
                    awaiting = False
            elif role == "user" and awaiting:
                output = as_str(extra.get("raw_output"))
                if output is None:
                    output = text_of(message.get("content"))
                builder.set_last_output(output, ts)
                awaiting = False
        info = as_dict(doc.get("info"))
        metadata = small_metadata(doc, ("trajectory_format",))
        metadata.update(small_metadata(info, ("exit_status", "mini_version")))
        model = as_dict(as_dict(info.get("config")).get("model"))
        metadata.update(small_metadata(model, ("model_name",)))
        if src.line is None and src.index is None:
            default = src.stem
        else:
            default = str(src)
        ident = scalar_str(doc.get("instance_id")) or default
        return Trajectory(id=ident, source=str(src), format=self.name, steps=builder.build(),
                          metadata=metadata)

    @staticmethod
    def _add_actions(
        builder: StepsBuilder, message: dict[str, Any], extra: dict[str, Any], ts: float | None
    ) -> bool:
        actions = [a for a in as_list(extra.get("actions")) if isinstance(a, dict)]
        if actions:
            for action in actions[:MAX_ITEMS]:
                command = action.get("command")
                if isinstance(command, str):
                    builder.add("bash", command, call_id=scalar_str(action.get("tool_call_id")) or "",
                                ts=ts)
            return builder.has_calls()
        calls = as_list(message.get("tool_calls"))
        if calls:
            for call in calls[:MAX_ITEMS]:
                add_openai_tool_call(builder, call, ts)
            return builder.has_calls()
        content = text_of(message.get("content")) or ""
        for command in text_actions(content):
            builder.add("bash", command, ts=ts)
        return builder.has_calls()
