"""The reader contract, where a record came from, and a builder for steps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from watchkeeper.errors import InputError, Location
from watchkeeper.trajectories._classify import make_call
from watchkeeper.trajectories._fast import new_call, new_step
from watchkeeper.trajectories._model import Step, ToolCall, Trajectory
from watchkeeper.trajectories._util import MAX_ITEMS

_SUFFIXES = (".traj.json", ".traj", ".jsonl", ".ndjson", ".json", ".eval")


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """A record that could not be read; reading went on with the next one.

    Attributes:
        location: Where: file, line (JSONL) and, when known, the field or list element.
        message: What was wrong, in one line.
    """

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a document came from: a file, a JSONL line of it, or an element of a JSON list."""

    path: str
    line: int | None = None
    index: int | None = None
    member: str | None = None

    def __str__(self) -> str:
        text = self.path
        if self.member is not None:
            text += f"!{self.member}"
        if self.line is not None:
            text += f":{self.line}"
        if self.index is not None:
            text += f"[{self.index}]"
        return text

    def at(self, index: int) -> Source:
        """The source of element ``index`` of a JSON list read from here."""
        return Source(self.path, self.line, index, self.member)

    def location(self, field: str | None = None) -> Location:
        """A Location for errors about this source (member and element go into ``field``)."""
        parts = []
        if self.member is not None:
            parts.append(self.member)
        if self.index is not None:
            parts.append(f"[{self.index}]")
        if field:
            parts.append(field)
        return Location(self.path, self.line, " ".join(parts) or None)

    def error(self, message: str, field: str | None = None) -> InputError:
        """An InputError located here."""
        return InputError(message, self.location(field))

    def issue(self, message: str, field: str | None = None) -> ReadIssue:
        """A ReadIssue located here."""
        return ReadIssue(self.location(field), message)

    @property
    def stem(self) -> str:
        """The file name without folder and known suffixes (``x.traj.json`` -> ``x``)."""
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        return name


Record = tuple[int, Any]
"""One parsed JSONL line: (line number, value)."""


class Reader(ABC):
    """Reads one trajectory format.

    A *document* is a whole JSON file or one JSONL line holding a whole trajectory (or a list
    of them). Formats whose JSONL lines are single records of a stream (commands, events)
    also implement :meth:`sniff_record` and :meth:`read_records`.
    """

    name: ClassVar[str]

    @abstractmethod
    def sniff(self, doc: Any) -> bool:
        """True if ``doc`` (a parsed document) looks like this format."""

    def sniff_record(self, record: Any) -> bool:
        """True if ``record`` (a parsed JSONL line) is one record of a stream in this format."""
        return False

    @abstractmethod
    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """The trajectories of one document; raises InputError if its shape is unusable."""

    def read_records(
        self, records: Iterator[Record | ReadIssue], src: Source
    ) -> Iterator[Trajectory | ReadIssue]:
        """The trajectories of a stream of records; issues in ``records`` pass through."""
        raise NotImplementedError(f"{self.name} has no record streams")


def each_document(
    doc: Any,
    src: Source,
    one: Callable[[Any, Source], Trajectory],
    is_document: Callable[[Any], bool],
) -> Iterator[Trajectory | ReadIssue]:
    """Read ``doc`` as one trajectory, or as a list of them when its elements are documents."""
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and is_document(doc[0]):
        for index, element in enumerate(doc[:MAX_ITEMS]):
            where = src.at(index)
            try:
                yield one(element, where)
            except InputError as exc:
                yield ReadIssue(exc.location or where.location(), exc.message)
        return
    yield one(doc, src)


class DocumentReader(Reader):
    """A format whose documents are one trajectory object each (or a JSON list of them).

    Subclasses say what one object looks like (:meth:`is_document`) and read one
    (:meth:`read_one`).
    """

    @abstractmethod
    def is_document(self, doc: Any) -> bool:
        """True if ``doc`` is one trajectory object of this format."""

    @abstractmethod
    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One trajectory object; raises InputError if its shape is unusable."""

    def sniff(self, doc: Any) -> bool:
        """One trajectory object of this format, or a list whose first element is one."""
        if isinstance(doc, list) and doc:
            return self.is_document(doc[0])
        return self.is_document(doc)

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """One trajectory per object."""
        return each_document(doc, src, self.read_one, self.is_document)


class StepsBuilder:
    """Collects steps and tool calls while a reader walks a trajectory, then freezes them.

    Tool outputs often arrive after the call (a later message or event): ``set_output`` joins
    them by call id.
    """

    __slots__ = ("_steps", "_by_id")

    def __init__(self) -> None:
        self._steps: list[tuple[list[dict[str, Any]], list[float | None]]] = []
        self._by_id: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._steps)

    def step(self, ts: float | None = None, end_ts: float | None = None) -> None:
        """Start a new step (an agent turn)."""
        self._steps.append(([], [ts, end_ts]))

    def has_calls(self) -> bool:
        """True if the current step has at least one tool call."""
        return bool(self._steps and self._steps[-1][0])

    def add(
        self,
        name: str,
        arguments: Any,
        *,
        raw: str | None = None,
        call_id: str = "",
        ts: float | None = None,
        output: str | None = None,
    ) -> None:
        """Add a tool call to the current step (starting one if there is none)."""
        if not self._steps:
            self.step(ts)
        spec: dict[str, Any] = {
            "name": name,
            "arguments": arguments,
            "raw": raw,
            "call_id": call_id,
            "ts": ts,
            "output": output,
        }
        self._steps[-1][0].append(spec)
        if call_id:
            self._by_id.setdefault(call_id, spec)

    def add_call(self, call: ToolCall) -> None:
        """Add an already built ToolCall to the current step."""
        if not self._steps:
            self.step(call.ts)
        spec: dict[str, Any] = {"call": call, "call_id": call.id, "output": call.output}
        self._steps[-1][0].append(spec)
        if call.id:
            self._by_id.setdefault(call.id, spec)

    def set_output(self, call_id: str, output: str | None, end_ts: float | None = None) -> bool:
        """Attach ``output`` to the call with ``call_id``; False if there is no such call."""
        spec = self._by_id.get(call_id)
        if spec is None:
            return False
        if output is not None:
            spec["output"] = output if spec.get("output") is None else spec["output"] + "\n" + output
        if end_ts is not None:
            spec["end_ts"] = end_ts
        return True

    def set_last_output(self, output: str | None, end_ts: float | None = None) -> bool:
        """Attach ``output`` to the last call of the current step (formats without call ids)."""
        if not self._steps or not self._steps[-1][0]:
            return False
        spec = self._steps[-1][0][-1]
        if output is not None and spec.get("output") is None:
            spec["output"] = output
        if end_ts is not None:
            spec["end_ts"] = end_ts
        return True

    def set_step_time(self, ts: float | None = None, end_ts: float | None = None) -> None:
        """Set the current step's start (if unset) and end times."""
        if not self._steps:
            return
        times = self._steps[-1][1]
        if ts is not None and times[0] is None:
            times[0] = ts
        if end_ts is not None:
            times[1] = end_ts

    def build(self) -> tuple[Step, ...]:
        """The frozen steps."""
        steps: list[Step] = []
        for index, (specs, (ts, end_ts)) in enumerate(self._steps):
            calls: list[ToolCall] = []
            for spec in specs:
                call = spec.get("call")
                if isinstance(call, ToolCall):
                    if spec.get("output") is not call.output:
                        call = _with_output(call, spec.get("output"))
                else:
                    call = make_call(
                        spec["name"],
                        spec["arguments"],
                        raw=spec["raw"],
                        call_id=spec["call_id"],
                        output=spec["output"],
                        ts=spec["ts"],
                    )
                calls.append(call)
                done = spec.get("end_ts")
                if done is not None and (end_ts is None or done > end_ts):
                    end_ts = done
            if ts is None and calls:
                stamps = [c.ts for c in calls if c.ts is not None]
                ts = min(stamps) if stamps else None
            steps.append(new_step(index=index, tool_calls=tuple(calls), ts=ts, end_ts=end_ts))
        return tuple(steps)


def _with_output(call: ToolCall, output: str | None) -> ToolCall:
    return new_call(
        id=call.id,
        name=call.name,
        kind=call.kind,
        command=call.command,
        argv=call.argv,
        code=call.code,
        path=call.path,
        content=call.content,
        arguments_text=call.arguments_text,
        output=output,
        ts=call.ts,
    )
