"""Bounded reading of JSON and JSONL files.

JSONL is read line by line with a cap on one line: a longer line is skipped in chunks and never
held in memory whole. A single JSON document is read whole, so files above a cap are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from watchkeeper.errors import Location
from watchkeeper.trajectories._base import ReadIssue, Record
from watchkeeper.trajectories._util import loads as fast_loads

#: Longest JSONL line read (bytes). Longer lines are skipped with a ReadIssue.
MAX_LINE_BYTES = 64 * 1024 * 1024
#: Largest single JSON document read (bytes). Larger files are refused.
MAX_JSON_BYTES = 512 * 1024 * 1024
#: A JSONL file whose first this-many non-blank lines are all malformed is given up.
MAX_LEADING_ISSUES = 100

_SKIP_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


class ExtraData(Exception):
    """A .json file that holds more than one JSON value (probably JSONL)."""


def parse_error(exc: BaseException) -> str:
    """One-line message for a JSON parse failure."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    return f"invalid JSON: {exc}"


def iter_jsonl(
    path: str, handle: BinaryIO, max_line: int = MAX_LINE_BYTES
) -> Iterator[Record | ReadIssue]:
    """Parsed lines of a JSONL file, or a ReadIssue for each line that cannot be used.

    Blank lines are skipped. A UTF-8 byte order mark on the first line is ignored.
    """
    readline = handle.readline
    limit = max_line + 1
    number = 0
    good = 0
    bad = 0
    loads = fast_loads
    while True:
        line = readline(limit)
        if not line:
            return
        number += 1
        if len(line) == limit and not line.endswith(b"\n"):
            while True:
                chunk = readline(_SKIP_CHUNK)
                if not chunk or chunk.endswith(b"\n"):
                    break
            bad += 1
            yield ReadIssue(Location(path, number), f"line longer than {max_line} bytes; skipped")
            continue
        if number == 1 and line.startswith(_BOM):
            line = line[3:]
        try:
            value = loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            if not line.strip():
                continue
            bad += 1
            yield ReadIssue(Location(path, number), parse_error(exc))
            if good == 0 and bad >= MAX_LEADING_ISSUES:
                yield ReadIssue(
                    Location(path),
                    f"the first {bad} lines are not JSON; rest of the file skipped",
                )
                return
            continue
        good += 1
        yield number, value


def load_json(path: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed document of a JSON file.

    Raises:
        ReadIssueError: The file is too large, unreadable or not valid JSON.
        ExtraData: The file holds several JSON values (read it as JSONL instead).
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ReadIssueError(ReadIssue(Location(path), f"cannot read: {exc.strerror}")) from None
    if size > max_bytes:
        raise ReadIssueError(
            ReadIssue(
                Location(path),
                f"JSON file is {size} bytes, over the {max_bytes}-byte limit for one document "
                "(write it as JSONL, one trajectory per line)",
            )
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ReadIssueError(ReadIssue(Location(path), f"cannot read: {exc.strerror}")) from None
    if len(data) > max_bytes:
        raise ReadIssueError(ReadIssue(Location(path), f"JSON file is over {max_bytes} bytes"))
    if data.startswith(_BOM):
        data = data[3:]
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise ExtraData() from None
        raise ReadIssueError(ReadIssue(Location(path, exc.lineno), parse_error(exc))) from None
    except (ValueError, RecursionError) as exc:
        raise ReadIssueError(ReadIssue(Location(path), parse_error(exc))) from None


class ReadIssueError(Exception):
    """Carries a ReadIssue out of a helper (internal)."""

    def __init__(self, issue: ReadIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue
