"""Read alert logs of any supported format: detection per file, streaming, issues as items."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchkeeper._files import walk_files
from watchkeeper.attribution.external._alert import ExternalAlert, LineIssue, ReadOptions
from watchkeeper.attribution.external._common import AlertReader, Line, iter_lines, open_text
from watchkeeper.attribution.external.generic_csv import GenericCsvReader
from watchkeeper.attribution.external.netfilter import NetfilterReader
from watchkeeper.attribution.external.suricata import SuricataReader
from watchkeeper.attribution.external.zeek import ZeekReader
from watchkeeper.errors import InputError, Location, UnknownFormatError

#: ``--alerts-format`` values ("auto" detects per file).
FORMATS = ("auto", "suricata", "zeek", "zeek-conn", "zeek-notice", "nft", "iptables", "csv")
#: Lines looked at to detect a file's format.
SNIFF_LINES = 20


def make_reader(fmt: str, options: ReadOptions) -> AlertReader:
    """The reader for a format name (one of :data:`FORMATS` but "auto")."""
    if fmt == "suricata":
        return SuricataReader(options)
    if fmt in ("zeek", "zeek-conn", "zeek-notice"):
        return ZeekReader(options, log=None if fmt == "zeek" else fmt.removeprefix("zeek-"))
    if fmt in ("nft", "iptables", "netfilter"):
        return NetfilterReader(options, kind=None if fmt == "netfilter" else fmt)
    if fmt == "csv":
        return GenericCsvReader(options)
    raise UnknownFormatError(f"unknown alerts format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def detect(lines: list[str], options: ReadOptions) -> AlertReader | None:
    """The reader for a file that starts with ``lines`` (first non-blank lines), or None."""
    for cls in (SuricataReader, ZeekReader, NetfilterReader, GenericCsvReader):
        if cls.sniff(lines):
            return cls(options)
    return None


@dataclass(slots=True)
class AlertStats:
    """Counts kept while reading (updated as the stream is consumed)."""

    files: int = 0
    alerts: int = 0
    issues: int = 0
    skipped: int = 0  # valid lines that are not alerts: headers, other event types, other messages


class AlertStream(Iterator[ExternalAlert | LineIssue]):
    """The iterator returned by :func:`read_alerts`; ``stats`` counts what was read."""

    def __init__(self, paths: list[Path], fmt: str, options: ReadOptions) -> None:
        self.stats = AlertStats()
        self._paths = paths
        self._fmt = fmt
        self._options = options
        self._items = self._all()

    def __iter__(self) -> AlertStream:
        return self

    def __next__(self) -> ExternalAlert | LineIssue:
        item = next(self._items)
        if isinstance(item, LineIssue):
            self.stats.issues += 1
        else:
            self.stats.alerts += 1
        return item

    def _all(self) -> Iterator[ExternalAlert | LineIssue]:
        for path in self._paths:
            if path.is_dir():
                for name in walk_files(path):
                    if not os.path.basename(name).startswith("."):
                        yield from self._file(name, explicit=False)
            else:
                yield from self._file(str(path), explicit=True)

    def _file(self, path: str, *, explicit: bool) -> Iterator[ExternalAlert | LineIssue]:
        self.stats.files += 1
        try:
            handle = open_text(path)
        except OSError as exc:
            yield LineIssue(Location(path), f"cannot read: {exc.strerror}")
            return
        try:
            lines = iter_lines(handle, path, self._options.max_line_bytes)
            head: list[Line | LineIssue] = []
            texts: list[str] = []
            try:
                for entry in lines:
                    head.append(entry)
                    if not isinstance(entry, LineIssue):
                        texts.append(entry[1])
                        if len(texts) >= SNIFF_LINES:
                            break
            except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
                yield LineIssue(Location(path), f"cannot read: {exc}")
                return
            if self._fmt == "auto":
                reader = detect(texts, self._options)
                if reader is None:
                    if not texts:
                        yield from (e for e in head if isinstance(e, LineIssue))
                        return
                    message = ("cannot tell the alerts format (Suricata EVE, Zeek, nft/iptables "
                               "log, CSV); use --alerts-format")
                    if explicit:
                        raise UnknownFormatError(message, Location(path))
                    yield LineIssue(Location(path), message)
                    return
            else:
                reader = make_reader(self._fmt, self._options)
            try:
                yield from reader.read(path, _chain(head, lines))
            except (OSError, EOFError) as exc:
                yield LineIssue(Location(path), f"cannot read further: {exc}")
            finally:
                self.stats.skipped += reader.skipped
        finally:
            handle.close()


def _chain(head: list[Line | LineIssue], rest: Iterator[Line | LineIssue]) -> Iterator[Line | LineIssue]:
    yield from head
    yield from rest


def read_alerts(
    paths: Iterable[str | Path],
    *,
    fmt: str = "auto",
    options: ReadOptions | None = None,
) -> AlertStream:
    """Read external alerts from log files and folders, streaming.

    Args:
        paths: Log files (``.gz`` is decompressed) or folders (walked, hidden entries skipped).
        fmt: One of :data:`FORMATS`; "auto" detects each file's format from its first lines.
        options: Year, boot time, time zone, EVE event types, line limit.

    Returns:
        An iterator of ExternalAlert and LineIssue items in file order, read lazily.

    Raises:
        InputError: A path does not exist.
        UnknownFormatError: ``fmt`` is unknown, or a file named in ``paths`` is in no known
            format (files found in folders give a LineIssue instead).
        InputError: dmesg relative time stamps without ``options.boot_time``.
    """
    if fmt not in FORMATS and fmt != "netfilter":
        make_reader(fmt, options or ReadOptions())
    resolved: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if not path.exists():
            raise InputError("no such file or folder", Location(str(path)))
        resolved.append(path)
    return AlertStream(resolved, fmt, options or ReadOptions())
