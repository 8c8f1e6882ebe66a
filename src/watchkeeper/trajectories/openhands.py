"""OpenHands event streams: agent actions (run, run_ipython, write, edit...) and observations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from watchkeeper.trajectories._base import (
    Reader,
    ReadIssue,
    Record,
    Source,
    StepsBuilder,
    each_document,
)
from watchkeeper.trajectories._classify import editor_fields, make_call
from watchkeeper.trajectories._model import ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_str,
    dumps,
    parse_ts,
    pick_id,
    scalar_str,
    small_metadata,
    text_of,
)

#: Agent actions that are not tool calls (messages, system prompt, state changes).
NOT_CALLS = frozenset(
    {"message", "system", "recall", "change_agent_state", "agent_state_changed", "null", "",
     "condensation", "condensation_request", "pause", "resume"}
)
_V1_KINDS = frozenset({"ActionEvent", "ObservationEvent", "MessageEvent", "SystemPromptEvent",
                       "AgentErrorEvent", "UserRejectObservation"})
_WRAPPER_KEYS = ("history", "events", "trajectory")
_DEFAULT_NAMES = {
    "run": "execute_bash", "run_ipython": "execute_ipython_cell", "write": "write",
    "edit": "str_replace_editor", "read": "read", "browse": "browser",
    "browse_interactive": "browser",
}


def is_event(value: Any) -> bool:
    """True for one OpenHands event (V0 action/observation, or V1 SDK event)."""
    if not isinstance(value, dict):
        return False
    if "action" in value and "args" in value:
        return True
    if "observation" in value and ("cause" in value or "extras" in value):
        return True
    kind = value.get("kind")
    return isinstance(kind, str) and kind in _V1_KINDS


def _events_of(doc: Any) -> list[Any] | None:
    if isinstance(doc, list):
        first = next((e for e in doc[:8] if isinstance(e, dict)), None)
        return doc if first is not None and is_event(first) else None
    if isinstance(doc, dict):
        for key in _WRAPPER_KEYS:
            events = doc.get(key)
            if isinstance(events, list):
                first = next((e for e in events[:8] if isinstance(e, dict)), None)
                if first is not None and is_event(first):
                    return events
    return None


def _is_wrapper(doc: Any) -> bool:
    return isinstance(doc, dict) and not is_event(doc) and _events_of(doc) is not None


def _action_call(action: str, event: dict[str, Any], call_id: str, ts: float | None) -> ToolCall:
    args = as_dict(event.get("args"))
    meta = as_dict(event.get("tool_call_metadata"))
    name = as_str(meta.get("function_name")) or _DEFAULT_NAMES.get(action, action)
    text = dumps(args)
    common: dict[str, Any] = {"id": call_id, "name": name, "arguments_text": text, "ts": ts}
    if action == "run":
        return ToolCall(kind=ToolKind.SHELL, command=as_str(args.get("command")), **common)
    if action == "run_ipython":
        return ToolCall(kind=ToolKind.PYTHON, code=as_str(args.get("code")), **common)
    path = as_str(args.get("path"))
    if action == "write":
        return ToolCall(kind=ToolKind.FILE_WRITE, path=path, content=as_str(args.get("content")),
                        **common)
    if action == "read":
        return ToolCall(kind=ToolKind.FILE_READ, path=path, **common)
    if action == "edit":
        fields = editor_fields(args, path)
        if fields is not None:
            kind, extra = fields
            return ToolCall(kind=kind, **common, **extra)
        return ToolCall(kind=ToolKind.FILE_EDIT, path=path, **common)
    if action == "call_tool_mcp":
        inner = as_str(args.get("name")) or name
        return make_call(inner, args.get("arguments"), call_id=call_id, ts=ts)
    return ToolCall(kind=ToolKind.OTHER, **common)


class _Assembler:
    """Events -> steps. Actions from one LLM response share a step."""

    def __init__(self) -> None:
        self.builder = StepsBuilder()
        self.last_response: str | None = None
        self.calls_by_event: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        if isinstance(event.get("kind"), str):
            self._feed_v1(event)
            return
        ts = parse_ts(event.get("timestamp"))
        action = event.get("action")
        if isinstance(action, str):
            if event.get("source") != "agent":
                return
            if action == "system":
                self.metadata.update(small_metadata(as_dict(event.get("args")),
                                                    ("agent_class", "openhands_version")))
                return
            if action in NOT_CALLS:
                if action == "message":
                    self.builder.step(ts)
                    self.last_response = None
                return
            meta = as_dict(event.get("tool_call_metadata"))
            response = scalar_str(as_dict(meta.get("model_response")).get("id"))
            if response is None or response != self.last_response or not len(self.builder):
                self.builder.step(ts)
            self.last_response = response
            event_id = scalar_str(event.get("id"))
            call_id = scalar_str(meta.get("tool_call_id")) or event_id or ""
            self.builder.add_call(_action_call(action, event, call_id, ts))
            if event_id is not None:
                self.calls_by_event[event_id] = call_id
            return
        if "observation" in event:
            cause = scalar_str(event.get("cause"))
            target = self.calls_by_event.get(cause) if cause is not None else None
            if target is None:
                target = scalar_str(as_dict(event.get("tool_call_metadata")).get("tool_call_id"))
            if target:
                self.builder.set_output(target, text_of(event.get("content")), ts)

    def _feed_v1(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        ts = parse_ts(event.get("timestamp"))
        if kind == "ActionEvent":
            if event.get("source") not in (None, "agent"):
                return
            response = scalar_str(event.get("llm_response_id"))
            if response is None or response != self.last_response or not len(self.builder):
                self.builder.step(ts)
            self.last_response = response
            name = as_str(event.get("tool_name")) or ""
            call_id = scalar_str(event.get("tool_call_id")) or scalar_str(event.get("id")) or ""
            self.builder.add_call(make_call(name, event.get("action"), call_id=call_id, ts=ts))
        elif kind == "ObservationEvent":
            target = scalar_str(event.get("tool_call_id"))
            observation = as_dict(event.get("observation"))
            output = text_of(observation.get("content"))
            if output is None:
                output = as_str(observation.get("output"))
            if target:
                self.builder.set_output(target, output, ts)
        elif kind == "MessageEvent" and event.get("source") == "agent":
            self.builder.step(ts)
            self.last_response = None

    def feed_all(self, events: Iterable[Any]) -> None:
        for event in events:
            self.feed(event)


class OpenHandsReader(Reader):
    """Reads OpenHands event streams.

    Accepted documents: a JSON list of events (the trajectory export), or an object holding
    one under ``history``, ``events`` or ``trajectory`` (evaluation ``output.jsonl`` rows,
    SWE-Gym rows); a JSONL file whose lines are single events is one trajectory. Agent action
    events are calls: ``run`` -> shell (``args.command``), ``run_ipython`` -> Python
    (``args.code``), ``write`` -> file write, ``edit`` -> by ``args.command``
    (create/str_replace/insert/view), ``read`` -> file read, ``call_tool_mcp`` -> classified
    by the MCP tool's name, others (``browse``, ``think``, ``finish``...) -> OTHER. Actions
    from one LLM response (``tool_call_metadata.model_response.id``) share a step; an agent
    ``message`` is a step without calls. Observations join by ``cause`` (the action's event
    id). Event ``timestamp`` gives the times; OpenHands writes them without an offset and they
    are read as UTC. V1 SDK events (``kind`` "ActionEvent"/"ObservationEvent") are read by
    ``tool_name``, ``action`` and ``tool_call_id``.
    """

    name = "openhands"

    def sniff(self, doc: Any) -> bool:
        """An event list, a wrapper with one, or a list of wrappers."""
        if _events_of(doc) is not None:
            return True
        return isinstance(doc, list) and bool(doc) and _is_wrapper(doc[0])

    def sniff_record(self, record: Any) -> bool:
        """One event."""
        return is_event(record)

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per event list."""
        return each_document(doc, src, self.read_one, _is_wrapper)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One event list (or wrapper)."""
        events = _events_of(doc)
        if events is None:
            raise src.error("not an OpenHands event list", "history")
        assembler = _Assembler()
        assembler.feed_all(events[:MAX_ITEMS])
        wrapper = as_dict(doc)
        metadata = dict(assembler.metadata)
        meta = as_dict(wrapper.get("metadata"))
        metadata.update(small_metadata(meta, ("agent_class", "model_name")))
        ident = pick_id(wrapper, str(src), ("instance_id", "id", "conversation_id", "session_id"))
        return Trajectory(id=ident, source=str(src), format=self.name,
                          steps=assembler.builder.build(), metadata=metadata)

    def read_records(
        self, records: Iterator[Record | ReadIssue], src: Source
    ) -> Iterator[Trajectory | ReadIssue]:
        """A JSONL of events: one trajectory per file."""
        assembler = _Assembler()
        seen = False
        for entry in records:
            if isinstance(entry, ReadIssue):
                yield entry
                continue
            seen = True
            assembler.feed(entry[1])
        if seen:
            yield Trajectory(id=str(src), source=str(src), format=self.name,
                             steps=assembler.builder.build(), metadata=assembler.metadata)
