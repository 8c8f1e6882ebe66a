"""Plain commands JSONL: one shell command per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchkeeper.trajectories._base import Reader, ReadIssue, Record, Source
from watchkeeper.trajectories._classify import shell_fields
from watchkeeper.trajectories._fast import new_call, new_step, new_trajectory
from watchkeeper.trajectories._model import Step, ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._util import MAX_ITEMS, dumps, parse_ts, scalar_str

_EPISODE_KEYS = ("episode", "trajectory_id", "episode_id")
_FORBIDDEN = ("role", "messages", "action", "content", "type")
#: Most steps kept in one grouped episode; longer runs continue as a new trajectory.
MAX_GROUP = 100_000


def _episode(record: dict[str, Any]) -> str | None:
    for key in _EPISODE_KEYS:
        if key in record:
            return scalar_str(record[key])
    return None


class CommandsJsonlReader(Reader):
    """Reads commands JSONL: ``{"id", "command", "step"?, "ts"?, "tool_call_id"?, "episode"?}``.

    ``command`` is a command line or an argv list (``["bash", "-lc", "..."]`` also sets the
    command to the script). ``output`` is kept when present; ``ts`` (or ``timestamp``) is ISO
    8601 or epoch seconds.

    Grouping: a line without ``episode`` (or ``trajectory_id``/``episode_id``) is its own
    trajectory, with the line's ``id`` as trajectory id (else ``file:line``). Consecutive lines
    that share an episode value are one trajectory with that id (source ``file:first_line``);
    inside it, consecutive lines with the same ``step`` value share a Step, other lines start a
    new one. Lines are never held back waiting for a later line: an episode that resumes after
    other lines is read as a second trajectory with the same id. A JSON file holding a list of
    such objects is read the same way.
    """

    name = "commands-jsonl"

    def sniff(self, doc: Any) -> bool:
        """A JSON list of command records."""
        return isinstance(doc, list) and bool(doc) and self.sniff_record(doc[0])

    def sniff_record(self, record: Any) -> bool:
        """One command record."""
        if not isinstance(record, dict) or "command" not in record:
            return False
        if not isinstance(record["command"], str | list):
            return False
        return not any(key in record for key in _FORBIDDEN)

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """A JSON list of records."""
        if not isinstance(doc, list):
            raise src.error("expected a list of command records")
        return self._read(iter(enumerate(doc[:MAX_ITEMS])), src, in_list=True)

    def read_records(
        self, records: Iterator[Record | ReadIssue], src: Source
    ) -> Iterator[Trajectory | ReadIssue]:
        """JSONL lines."""
        return self._read(records, src, in_list=False)

    def _read(
        self, records: Iterator[Record | ReadIssue], src: Source, *, in_list: bool
    ) -> Iterator[Trajectory | ReadIssue]:
        path = src.path
        group: str | None = None
        group_src = ""
        steps: list[Step] = []
        calls: list[ToolCall] = []
        step_key: Any = None
        step_ts: float | None = None
        name = self.name

        def close_step() -> None:
            if calls:
                steps.append(new_step(index=len(steps), tool_calls=tuple(calls), ts=step_ts))
                calls.clear()

        def close_group() -> Trajectory | None:
            close_step()
            if group is None or not steps:
                return None
            done = new_trajectory(id=group, source=group_src, format=name, steps=tuple(steps))
            steps.clear()
            return done

        shell = ToolKind.SHELL
        for entry in records:
            if isinstance(entry, ReadIssue):
                yield entry
                continue
            number, record = entry
            if not isinstance(record, dict):
                yield (src.at(number) if in_list else Source(path, number)).issue(
                    "command record is not an object")
                continue
            get = record.get
            command = get("command")
            if (
                command.__class__ is str and len(record) == 2
                and (ident := get("id")).__class__ is str and ident
            ):
                # the common shape, {"id": ..., "command": "..."}: what _call and the general
                # path below make of it, built directly (the reader's cost per line is mostly
                # this object building)
                if group is not None:
                    finished = close_group()
                    group = None
                    if finished is not None:
                        yield finished
                plain = new_call(id=ident, name="shell", kind=shell, command=command,
                                 arguments_text=command)
                yield new_trajectory(
                    id=ident, source=f"{path}:{number}" if not in_list else str(src.at(number)),
                    format=name, steps=(new_step(index=0, tool_calls=(plain,)),),
                )
                continue
            call = _call(record)
            if call is None:
                yield (src.at(number) if in_list else Source(path, number)).issue(
                    "command record without a command (string or argv list)", "command")
                continue
            episode = (
                _episode(record)
                if "episode" in record or "trajectory_id" in record or "episode_id" in record
                else None
            )
            own = str(src.at(number)) if in_list else f"{path}:{number}"
            if episode is None:
                if group is not None:
                    finished = close_group()
                    group = None
                    if finished is not None:
                        yield finished
                ident = get("id")
                if not isinstance(ident, str) or not ident:
                    ident = scalar_str(ident) or own
                yield new_trajectory(
                    id=ident, source=own, format=name,
                    steps=(new_step(index=0, tool_calls=(call,), ts=call.ts),),
                )
                continue
            if episode != group or len(steps) >= MAX_GROUP:
                finished = close_group()
                if finished is not None:
                    yield finished
                group = episode
                group_src = own
                step_key = None
            key = get("step")
            if key is None or key != step_key or isinstance(key, dict | list):
                close_step()
                step_ts = call.ts
            step_key = key
            calls.append(call)
        finished = close_group()
        if finished is not None:
            yield finished


def _call(record: dict[str, Any]) -> ToolCall | None:
    command = record.get("command")
    argv: tuple[str, ...] | None = None
    if isinstance(command, str):
        text = command
    elif isinstance(command, list) and command:
        fields = shell_fields(command)
        argv = fields.get("argv")
        command = fields.get("command")
        text = dumps(record["command"])
    else:
        return None
    ts = record.get("ts")
    if ts is None:
        ts = record.get("timestamp")
    call_id = record.get("tool_call_id") or record.get("id")
    if not isinstance(call_id, str):
        call_id = scalar_str(call_id) or ""
    tool = record.get("tool")
    output = record.get("output")
    return new_call(
        id=call_id,
        name=tool if isinstance(tool, str) else "shell",
        kind=ToolKind.SHELL,
        command=command,
        argv=argv,
        arguments_text=text,
        output=output if isinstance(output, str) else None,
        ts=parse_ts(ts) if ts is not None else None,
    )
