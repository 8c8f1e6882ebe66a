"""OpenAI Responses API items (and Codex CLI session logs, which wrap them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchkeeper.trajectories._base import (
    Reader,
    ReadIssue,
    Record,
    Source,
    StepsBuilder,
    each_document,
)
from watchkeeper.trajectories._chat import split_arguments
from watchkeeper.trajectories._classify import make_call, patch_summary, shell_fields
from watchkeeper.trajectories._model import ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_list,
    as_str,
    dumps,
    parse_ts,
    pick_id,
    scalar_str,
    small_metadata,
    text_of,
)

#: Items the model produces; a run of them is one step.
OUTPUT_ITEMS = frozenset(
    {
        "function_call", "local_shell_call", "shell_call", "apply_patch_call", "computer_call",
        "code_interpreter_call", "web_search_call", "file_search_call", "mcp_call",
        "custom_tool_call", "image_generation_call", "reasoning", "mcp_list_tools",
        "mcp_approval_request",
    }
)
#: Items the client sends back with results.
RESULT_ITEMS = frozenset(
    {
        "function_call_output", "local_shell_call_output", "shell_call_output",
        "apply_patch_call_output", "computer_call_output", "custom_tool_call_output",
        "mcp_approval_response", "item_reference",
    }
)
ITEM_TYPES = OUTPUT_ITEMS | RESULT_ITEMS | {"message"}
_CODEX_TYPES = frozenset({"session_meta", "response_item", "turn_context", "event_msg", "compacted"})


class _Assembler:
    """Turns a sequence of items into steps: a run of model-output items is one step."""

    def __init__(self) -> None:
        self.builder = StepsBuilder()
        self.in_step = False

    def feed(self, item: Any, ts: float | None) -> None:
        if not isinstance(item, dict):
            return
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if not isinstance(kind, str):
            return
        if kind in OUTPUT_ITEMS or (kind == "message" and item.get("role") == "assistant"):
            if not self.in_step:
                self.builder.step(ts)
                self.in_step = True
            if kind != "message" and kind != "reasoning":
                self._call(kind, item, ts)
            return
        self.in_step = False
        if kind in RESULT_ITEMS:
            call_id = scalar_str(item.get("call_id")) or scalar_str(item.get("id"))
            if call_id:
                self.builder.set_output(call_id, _output_text(item.get("output")), ts)

    def _call(self, kind: str, item: dict[str, Any], ts: float | None) -> None:
        call_id = scalar_str(item.get("call_id")) or scalar_str(item.get("id")) or ""
        builder = self.builder
        if kind in ("function_call", "mcp_call"):
            name = as_str(item.get("name")) or ""
            args, raw = split_arguments(item.get("arguments"))
            builder.add(name, args, raw=raw, call_id=call_id, ts=ts)
            if kind == "mcp_call" and item.get("output") is not None:
                builder.set_output(call_id, _output_text(item.get("output")))
        elif kind == "custom_tool_call":
            name = as_str(item.get("name")) or ""
            text = as_str(item.get("input"))
            builder.add(name, text, raw=text, call_id=call_id, ts=ts)
        elif kind == "local_shell_call" or kind == "shell_call":
            builder.add_call(_shell_call(kind, item, call_id, ts))
        elif kind == "code_interpreter_call":
            code = as_str(item.get("code"))
            outputs = [as_str(as_dict(o).get("logs")) for o in as_list(item.get("outputs"))]
            output = "\n".join(o for o in outputs if o) or None
            builder.add_call(
                ToolCall(id=call_id, name="code_interpreter", kind=ToolKind.PYTHON, code=code,
                         arguments_text=code or "", output=output, ts=ts)
            )
        elif kind == "apply_patch_call":
            builder.add_call(_patch_call(item, call_id, ts))
        else:
            action = item.get("action", item.get("queries"))
            name = kind[: -len("_call")] if kind.endswith("_call") else kind
            builder.add_call(make_call(name, None, raw=dumps(action) if action is not None else "",
                                       call_id=call_id, ts=ts))


def _shell_call(kind: str, item: dict[str, Any], call_id: str, ts: float | None) -> ToolCall:
    action = as_dict(item.get("action"))
    if kind == "local_shell_call":
        fields = shell_fields(action.get("command"))
    else:
        commands = [c for c in as_list(action.get("commands")) if isinstance(c, str)]
        fields = {"command": "\n".join(commands)} if commands else {}
    return ToolCall(id=call_id, name="local_shell" if kind == "local_shell_call" else "shell",
                    kind=ToolKind.SHELL, arguments_text=dumps(action), ts=ts, **fields)


def _patch_call(item: dict[str, Any], call_id: str, ts: float | None) -> ToolCall:
    operation = as_dict(item.get("operation"))
    op = operation.get("type")
    path = as_str(operation.get("path"))
    diff = as_str(operation.get("diff")) or ""
    kind = ToolKind.FILE_WRITE if op == "create_file" else ToolKind.FILE_EDIT
    if op == "delete_file":
        kind = ToolKind.OTHER
    _, added = patch_summary(diff) if diff else (None, "")
    if op == "create_file" and not added:
        added = diff
    return ToolCall(id=call_id, name="apply_patch", kind=kind, path=path,
                    content=added if kind is not ToolKind.OTHER else None,
                    arguments_text=dumps(operation), ts=ts)


def _output_text(value: Any) -> str | None:
    if isinstance(value, list):
        parts: list[str] = []
        for part in value[:MAX_ITEMS]:
            if isinstance(part, dict) and ("stdout" in part or "stderr" in part):
                parts.extend(t for t in (as_str(part.get("stdout")), as_str(part.get("stderr"))) if t)
            else:
                text = text_of([part])
                if text:
                    parts.append(text)
        return "\n".join(parts)
    return text_of(value)


def _items_of(doc: Any) -> tuple[list[Any], list[Any], float | None] | None:
    """(input items, output items, created_at) of a Responses document, or None."""
    if isinstance(doc, list):
        return doc, [], None
    if not isinstance(doc, dict):
        return None
    request = as_dict(doc.get("request"))
    response = as_dict(doc.get("response")) if "response" in doc else doc
    inputs: list[Any] = []
    raw_inputs = doc.get("input", request.get("input"))
    if isinstance(raw_inputs, list):
        inputs = raw_inputs
    elif isinstance(raw_inputs, str):
        inputs = [{"type": "message", "role": "user", "content": raw_inputs}]
    outputs = as_list(response.get("output"))
    if not inputs and not outputs and not isinstance(response.get("output"), list):
        return None
    return inputs, outputs, parse_ts(response.get("created_at"))


def _is_item(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    return isinstance(kind, str) and kind in ITEM_TYPES


class OpenAIResponsesReader(Reader):
    """Reads Responses API items.

    Accepted documents: a list of items, a response object (``output``), a request/response
    pair (``input`` + ``output``), or a JSON list of such objects (one trajectory each). A JSONL
    file whose lines are single items, or a Codex CLI session (``{"type": "response_item",
    "payload": {...}, "timestamp"}`` lines), is one trajectory per file. A run of model-output
    items is one step. ``function_call.arguments`` is JSON text (kept verbatim);
    ``local_shell_call.action.command`` is an argv list; ``shell_call.action.commands`` a list
    of command lines; ``apply_patch_call`` is a file write/edit; ``code_interpreter_call`` is
    Python; ``computer_call``, ``web_search_call`` and the like are OTHER. Outputs
    (``*_output`` items) are joined by ``call_id``.
    """

    name = "openai-responses"

    def sniff(self, doc: Any) -> bool:
        """A list of items, or a response / request-response object."""
        if isinstance(doc, list):
            first = doc[0] if doc else None
            if isinstance(first, dict) and not _is_item(first) and "role" not in first:
                return self.sniff(first)
            return any(_is_item(i) and i.get("type") != "message" for i in doc[:64]) or (
                _is_item(first) and first is not None and _has_responses_parts(first)
            )
        if not isinstance(doc, dict):
            return False
        if doc.get("object") == "response" and isinstance(doc.get("output"), list):
            return True
        response = as_dict(doc.get("response"))
        if response.get("object") == "response" or isinstance(response.get("output"), list):
            return True
        for key in ("output", "input"):
            value = doc.get(key)
            if isinstance(value, list) and value and _is_item(value[0]):
                return True
        return False

    def sniff_record(self, record: Any) -> bool:
        """One item, or one Codex CLI session line."""
        if not isinstance(record, dict):
            return False
        kind = record.get("type")
        if isinstance(kind, str) and kind in _CODEX_TYPES and "payload" in record:
            return True
        if "instructions" in record and "id" in record and "timestamp" in record:
            return True  # older Codex session header
        if record.get("type") == "message":
            return _has_responses_parts(record)
        return _is_item(record)

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per response object or item list."""
        return each_document(doc, src, self.read_one, _is_response_doc)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One response object or item list."""
        found = _items_of(doc)
        if found is None:
            raise src.error("not a Responses API item list or response", "output")
        inputs, outputs, created = found
        assembler = _Assembler()
        for item in inputs[:MAX_ITEMS]:
            assembler.feed(item, None)
        for item in outputs[:MAX_ITEMS]:
            assembler.feed(item, created)
        meta = as_dict(doc)
        response = as_dict(meta.get("response"))
        metadata = small_metadata(meta, ("model",)) or small_metadata(response, ("model",))
        default = str(src)
        ident = pick_id(meta, "") or pick_id(response, default)
        return Trajectory(id=ident, source=default, format=self.name,
                          steps=assembler.builder.build(), metadata=metadata)

    def read_records(
        self, records: Iterator[Record | ReadIssue], src: Source
    ) -> Iterator[Trajectory | ReadIssue]:
        """A JSONL of items or a Codex session: one trajectory per file."""
        assembler = _Assembler()
        ident = ""
        metadata: dict[str, Any] = {}
        seen = False
        for entry in records:
            if isinstance(entry, ReadIssue):
                yield entry
                continue
            _line, record = entry
            if not isinstance(record, dict):
                continue
            seen = True
            kind = record.get("type")
            ts = parse_ts(record.get("timestamp"))
            if isinstance(kind, str) and kind in _CODEX_TYPES:
                payload = as_dict(record.get("payload"))
                if kind == "session_meta":
                    ident = ident or (scalar_str(payload.get("id")) or "")
                    metadata.update(small_metadata(payload, ("cwd", "originator", "cli_version")))
                elif kind == "turn_context" and "model" not in metadata:
                    metadata.update(small_metadata(payload, ("model",)))
                elif kind == "response_item":
                    assembler.feed(payload, ts)
            elif "instructions" in record and "id" in record and kind is None:
                ident = ident or (scalar_str(record.get("id")) or "")
            else:
                assembler.feed(record, ts)
        if seen:
            yield Trajectory(id=ident or str(src), source=str(src), format=self.name,
                             steps=assembler.builder.build(), metadata=metadata)


def _has_responses_parts(item: dict[str, Any]) -> bool:
    for part in as_list(item.get("content"))[:16]:
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text"):
            return True
    return False


def _is_response_doc(element: dict[str, Any]) -> bool:
    return not _is_item(element) and "role" not in element and _items_of(element) is not None
