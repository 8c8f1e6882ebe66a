"""Claude Code session logs: one JSON record per line around Anthropic messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchkeeper.trajectories._base import Reader, ReadIssue, Record, Source, StepsBuilder
from watchkeeper.trajectories._model import Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    parse_ts,
    scalar_str,
    small_metadata,
)
from watchkeeper.trajectories.anthropic import add_blocks, add_results

_TYPES = frozenset(
    {"user", "assistant", "summary", "system", "file-history-snapshot", "queue-operation"}
)
_MARKS = ("sessionId", "uuid", "parentUuid", "leafUuid", "messageId")


class ClaudeCodeReader(Reader):
    """Reads Claude Code session files (``~/.claude/projects/<project>/<session>.jsonl``).

    Each line is a record ``{"type": "user"|"assistant"|..., "message": {...}, "timestamp",
    "sessionId", "uuid", ...}`` whose ``message`` is an Anthropic message. A file is one
    trajectory with id ``sessionId``. Assistant records that share ``message.id`` (one API
    response split into several lines) form one step; ``tool_result`` blocks in user records
    give the outputs. Record timestamps give Step.ts and ToolCall.ts.
    """

    name = "claude-code"

    def sniff(self, doc: Any) -> bool:
        """A JSON list of session records."""
        return isinstance(doc, list) and bool(doc) and self.sniff_record(doc[0])

    def sniff_record(self, record: Any) -> bool:
        """One session record."""
        return (
            isinstance(record, dict)
            and isinstance(record.get("type"), str)
            and record["type"] in _TYPES
            and any(mark in record for mark in _MARKS)
        )

    def read(self, doc: Any, src: Source) -> Iterator[Trajectory | ReadIssue]:
        """A JSON list of records: one trajectory."""
        if not isinstance(doc, list):
            raise src.error("expected a list of Claude Code session records")
        return self.read_records(iter(enumerate(doc[:MAX_ITEMS], 1)), src)

    def read_records(
        self, records: Iterator[Record | ReadIssue], src: Source
    ) -> Iterator[Trajectory | ReadIssue]:
        """All records of a file: one trajectory."""
        builder = StepsBuilder()
        session = ""
        metadata: dict[str, Any] = {}
        last_message_id: str | None = None
        seen = False
        for item in records:
            if isinstance(item, ReadIssue):
                yield item
                continue
            _line, record = item
            if not isinstance(record, dict):
                continue
            seen = True
            if not session:
                session = scalar_str(record.get("sessionId")) or ""
            if not metadata:
                metadata = small_metadata(record, ("cwd", "version", "gitBranch"))
            kind = record.get("type")
            message = as_dict(record.get("message"))
            ts = parse_ts(record.get("timestamp"))
            if kind == "assistant":
                message_id = scalar_str(message.get("id"))
                if message_id is None or message_id != last_message_id:
                    builder.step(ts)
                    if "model" in message and "model" not in metadata:
                        metadata.update(small_metadata(message, ("model",)))
                last_message_id = message_id
                add_blocks(builder, message.get("content"), ts)
            elif kind == "user":
                add_results(builder, message.get("content"), ts)
        if seen:
            yield Trajectory(id=session or str(src), source=str(src), format=self.name,
                             steps=builder.build(), metadata=metadata)
