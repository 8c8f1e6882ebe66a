"""The entry point: read trajectories from files and folders, any supported format."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper._files import walk_files
from watchkeeper.errors import InputError, Location, UnknownFormatError
from watchkeeper.trajectories._base import Reader, ReadIssue, Record, Source
from watchkeeper.trajectories._detect import (
    detect_document,
    detect_record,
    reader_for,
    undetected,
)
from watchkeeper.trajectories._model import Trajectory
from watchkeeper.trajectories._source import (
    MAX_JSON_BYTES,
    MAX_LINE_BYTES,
    ExtraData,
    ReadIssueError,
    iter_jsonl,
    load_json,
)
from watchkeeper.trajectories.inspect import InspectReader

#: File suffixes read when walking a folder; other files are skipped (and counted).
SUFFIXES = (".json", ".jsonl", ".ndjson", ".traj", ".eval")
_JSONL = (".jsonl", ".ndjson")

# Failures of reader code on shapes it did not foresee: reported as a ReadIssue for the
# record, never raised to the caller. (Readers raise InputError for shapes they reject.)
_READER_FAULTS = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError,
)


@dataclass(slots=True)
class ReadStats:
    """Counts kept while reading (updated as the stream is consumed)."""

    files: int = 0
    skipped_files: int = 0
    trajectories: int = 0
    issues: int = 0


class TrajectoryStream(Iterator[Trajectory | ReadIssue]):
    """The iterator returned by :func:`read_trajectories`; ``stats`` counts what was read."""

    def __init__(
        self,
        paths: list[Path],
        reader: Reader | None,
        strict: bool,
        max_line_bytes: int,
        max_json_bytes: int,
    ) -> None:
        self.stats = ReadStats()
        self._paths = paths
        self._reader = reader
        self._strict = strict
        self._max_line = max_line_bytes
        self._max_json = max_json_bytes
        self._items = self._counted(self._all())

    def __iter__(self) -> Iterator[Trajectory | ReadIssue]:
        # the counting generator itself: a for loop then resumes it directly, without a
        # Python-level __next__ call per item
        return self._items

    def __next__(self) -> Trajectory | ReadIssue:
        return next(self._items)

    def _counted(self, items: Iterator[Trajectory | ReadIssue]) -> Iterator[Trajectory | ReadIssue]:
        stats = self.stats
        for item in items:
            if isinstance(item, ReadIssue):
                stats.issues += 1
                if self._strict:
                    raise InputError(item.message, item.location)
            else:
                stats.trajectories += 1
            yield item

    def _all(self) -> Iterator[Trajectory | ReadIssue]:
        for path in self._paths:
            if path.is_dir():
                yield from self._folder(path)
            else:
                yield from self._file(str(path), explicit=True)

    def _folder(self, folder: Path) -> Iterator[Trajectory | ReadIssue]:
        for path in walk_files(folder):
            name = os.path.basename(path)
            if (
                name.startswith(".")
                or not name.lower().endswith(SUFFIXES)
                or not os.path.isfile(path)  # devices, pipes, dangling links
            ):
                self.stats.skipped_files += 1
                continue
            yield from self._file(path, explicit=False)

    def _file(self, path: str, *, explicit: bool) -> Iterator[Trajectory | ReadIssue]:
        self.stats.files += 1
        low = path.lower()
        if low.endswith(".eval"):
            yield from self._eval(path)
        elif low.endswith(_JSONL):
            yield from self._jsonl(path, explicit=explicit)
        else:
            yield from self._json(path, explicit=explicit)

    def _eval(self, path: str) -> Iterator[Trajectory | ReadIssue]:
        reader = self._reader
        if reader is not None and not isinstance(reader, InspectReader):
            yield ReadIssue(Location(path), f".eval files are Inspect logs, not {reader.name}")
            return
        try:
            yield from _guarded(InspectReader().read_zip(path, self._max_json), Source(path))
        except InputError as exc:
            yield ReadIssue(exc.location or Location(path), exc.message)

    def _json(self, path: str, *, explicit: bool) -> Iterator[Trajectory | ReadIssue]:
        try:
            doc = load_json(path, self._max_json)
        except ReadIssueError as exc:
            yield exc.issue
            return
        except ExtraData:
            yield from self._jsonl(path, explicit=explicit)
            return
        src = Source(path)
        forced = self._reader
        if forced is not None:
            if forced.sniff(doc) or not forced.sniff_record(doc):
                yield from _guarded_call(forced.read, doc, src)
                return
            reader: Reader | None = forced
        else:
            reader = detect_document(doc)
            if reader is not None:
                yield from _guarded_call(reader.read, doc, src)
                return
            reader = detect_record(doc)
        if reader is None:
            yield from self._unknown(Location(path), explicit)
            return
        records: Iterator[Record | ReadIssue] = iter([(1, doc)])
        yield from _guarded(reader.read_records(records, src), src)

    def _jsonl(self, path: str, *, explicit: bool) -> Iterator[Trajectory | ReadIssue]:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            yield ReadIssue(Location(path), f"cannot read: {exc.strerror}")
            return
        try:
            lines = iter_jsonl(path, handle, self._max_line)
            first: Record | None = None
            for item in lines:
                if isinstance(item, ReadIssue):
                    yield item
                    continue
                first = item
                break
            if first is None:
                return
            reader, stream = self._choose(first[1])
            if reader is None:
                yield from self._unknown(Location(path, first[0]), explicit)
                return
            rest: Iterator[Record | ReadIssue] = itertools.chain([first], lines)
            if stream:
                yield from _guarded(reader.read_records(rest, Source(path)), Source(path))
                return
            for item in rest:
                if isinstance(item, ReadIssue):
                    yield item
                    continue
                number, doc = item
                yield from _guarded_call(reader.read, doc, Source(path, number))
        finally:
            handle.close()

    def _choose(self, first: Any) -> tuple[Reader | None, bool]:
        """The reader for a JSONL file and whether its lines are stream records."""
        forced = self._reader
        if forced is not None:
            if forced.sniff_record(first):
                return forced, True
            if forced.sniff(first):
                return forced, False
            stream = type(forced).read_records is not Reader.read_records
            return forced, stream
        reader = detect_document(first)
        if reader is not None:
            return reader, False
        reader = detect_record(first)
        return reader, reader is not None

    def _unknown(self, location: Location, explicit: bool) -> Iterator[ReadIssue]:
        error = undetected(location)
        if explicit:
            raise error
        yield ReadIssue(location, error.message)


def _guarded_call(
    read: Any, doc: Any, src: Source
) -> Iterator[Trajectory | ReadIssue]:
    try:
        items = read(doc, src)
    except InputError as exc:
        yield ReadIssue(exc.location or src.location(), exc.message)
        return
    except _READER_FAULTS as exc:
        yield src.issue(f"cannot read record: {type(exc).__name__}: {exc}")
        return
    yield from _guarded(items, src)


def _guarded(
    items: Iterator[Trajectory | ReadIssue], src: Source
) -> Iterator[Trajectory | ReadIssue]:
    """Pass items through; a reader failure ends this source with one ReadIssue."""
    try:
        yield from items
    except UnknownFormatError:
        raise
    except InputError as exc:
        yield ReadIssue(exc.location or src.location(), exc.message)
    except _READER_FAULTS as exc:
        yield src.issue(f"cannot read record: {type(exc).__name__}: {exc}")


def read_trajectories(
    paths: Iterable[str | Path],
    *,
    fmt: str | None = None,
    strict: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_json_bytes: int = MAX_JSON_BYTES,
) -> TrajectoryStream:
    """Read agent trajectories from files and folders.

    Args:
        paths: Files or folders. Folders are walked recursively (sorted, hidden entries and
            symlinked folders skipped) for ``.json``, ``.jsonl``, ``.ndjson``, ``.traj`` and
            ``.eval`` files; other files are skipped and counted in ``stats.skipped_files``.
        fmt: Force a format (one of :data:`FORMATS`); by default each file's format is
            detected from its first record.
        strict: Raise InputError at the first malformed record instead of yielding a
            ReadIssue and going on.
        max_line_bytes: Longest JSONL line read; longer lines are skipped with a ReadIssue.
        max_json_bytes: Largest single JSON document read; larger files give a ReadIssue.

    Returns:
        An iterator of Trajectory objects and ReadIssue records, in input order, read lazily
        (memory stays bounded by the largest single trajectory, line or JSON document).

    Raises:
        UnknownFormatError: ``fmt`` is not a known format, or the format of a file named in
            ``paths`` cannot be detected (files found in folders give a ReadIssue instead).
        InputError: A path does not exist; with ``strict``, the first malformed record.
    """
    reader = reader_for(fmt) if fmt is not None else None
    resolved: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if not path.exists():
            raise InputError("no such file or folder", Location(str(path)))
        resolved.append(path)
    return TrajectoryStream(resolved, reader, strict, max_line_bytes, max_json_bytes)


def parse_record(record: Any, *, fmt: str | None = None, source: str = "<record>") -> Trajectory:
    """One trajectory from an in-memory record (already parsed JSON), in any supported format.

    Meant for callers that hold trajectories in memory (an RL reward function, a web hook): a
    list of chat messages, a ``{"messages": [...]}`` row, an ATIF object, an OpenHands event
    list, one commands record...

    Args:
        record: The parsed JSON value.
        fmt: Force a format (one of :data:`FORMATS`); detected from the shape by default.
        source: What to call the record in ``Trajectory.source`` and in errors.

    Raises:
        UnknownFormatError: ``fmt`` is unknown, or the shape matches no format.
        InputError: The record is malformed or holds more or less than one trajectory.
    """
    src = Source(source)
    stream = False
    if fmt is not None:
        reader = reader_for(fmt)
        stream = not reader.sniff(record) and reader.sniff_record(record)
    else:
        found = detect_document(record)
        if found is None:
            found = detect_record(record)
            stream = found is not None
        if found is None:
            raise undetected(Location(source))
        reader = found
    if stream:
        items = list(_guarded(reader.read_records(iter([(1, record)]), src), src))
    else:
        items = list(_guarded_call(reader.read, record, src))
    for item in items:
        if isinstance(item, ReadIssue):
            raise InputError(item.message, item.location)
    if len(items) != 1:
        raise InputError(f"expected one trajectory, the record holds {len(items)}",
                         Location(source))
    result = items[0]
    assert isinstance(result, Trajectory)
    return result
