"""A generic CSV of alerts: ``ts,src_ip,src_port,dst_ip,dst_port,proto,message`` and more."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from watchkeeper.attribution.external._alert import AlertKind, LineIssue, new_alert
from watchkeeper.attribution.external._common import (
    AlertReader,
    BadField,
    Item,
    Line,
    clip,
    norm_ip,
    norm_port,
    norm_proto,
    parse_severity,
    parse_time,
)
from watchkeeper.errors import Location

#: Header aliases accepted for each column (compared in lower case, spaces trimmed).
COLUMNS: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "@timestamp"),
    "src_ip": ("src_ip", "source_ip", "source.ip", "saddr"),
    "src_port": ("src_port", "source_port", "source.port", "sport"),
    "dst_ip": ("dst_ip", "dest_ip", "destination_ip", "destination.ip", "daddr"),
    "dst_port": ("dst_port", "dest_port", "destination_port", "destination.port", "dport"),
    "proto": ("proto", "protocol", "network.transport"),
    "message": ("message", "msg", "description"),
    "signature": ("signature", "rule", "rule.name", "name"),
    "severity": ("severity", "level"),
    "community_id": ("community_id", "network.community_id"),
}
_REQUIRED = ("ts", "src_ip", "dst_ip")


class GenericCsvReader(AlertReader):
    """Reads a CSV with a header row naming at least ``ts``, ``src_ip`` and ``dst_ip``.

    Optional columns: ``src_port``, ``dst_port``, ``proto``, ``message``, ``signature``,
    ``severity`` (informational..critical or 1-5) and ``community_id`` (see :data:`COLUMNS` for
    accepted aliases). ``ts`` is epoch seconds or ISO 8601 (no offset: ``ReadOptions.tz``).
    The signature defaults to the message. Other columns are kept in ``raw`` (up to 16).
    """

    name = "csv"

    @classmethod
    def sniff(cls, lines: list[str]) -> bool:
        """The first line is a header naming a time, a source and a destination column."""
        if not lines:
            return False
        names = _header(lines[0])
        return names is not None and all(key in names for key in _REQUIRED)

    def read(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        """The rows of one CSV file."""
        current = [0]

        def texts() -> Iterator[str]:
            for entry in lines:
                if isinstance(entry, LineIssue):
                    pending.append(entry)
                    continue
                current[0] = entry[0]
                yield entry[1]

        pending: list[LineIssue] = []
        rows = csv.reader(texts())
        columns: dict[str, int] | None = None
        extra: list[tuple[int, str]] = []
        tz = self.options.tz
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                yield LineIssue(Location(path, current[0]), f"bad CSV: {exc}")
                continue
            finally:
                yield from pending
                pending.clear()
            number = current[0]
            if columns is None:
                header = _header_row(row)
                missing = [key for key in _REQUIRED if key not in header]
                if missing:
                    yield LineIssue(Location(path, number),
                                    f"CSV header lacks column(s): {', '.join(missing)}")
                    return
                columns = header
                used = set(header.values())
                extra = [(i, clip(name, 64)) for i, name in enumerate(row) if i not in used][:16]
                self.skipped += 1
                continue
            if len(row) <= max(columns.values()):
                yield LineIssue(Location(path, number), "CSV row with too few columns")
                continue
            try:
                yield self._alert(row, columns, extra, f"{path}:{number}", tz)
            except BadField as exc:
                yield LineIssue(Location(path, number), str(exc))

    def _alert(self, row: list[str], columns: dict[str, int], extra: list[tuple[int, str]],
               source: str, tz: Any) -> Any:
        def get(key: str) -> str:
            i = columns.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        stamp = get("ts")
        if not stamp:
            raise BadField("empty ts")
        message = clip(get("message"))
        community = get("community_id")
        return new_alert(
            ts=parse_time(stamp, tz),
            src_ip=norm_ip(get("src_ip")),
            src_port=norm_port(get("src_port")),
            dst_ip=norm_ip(get("dst_ip")),
            dst_port=norm_port(get("dst_port")),
            proto=norm_proto(get("proto")),
            signature=clip(get("signature"), 256) or message or "csv alert",
            message=message,
            severity=parse_severity(get("severity")),
            source=source,
            kind=AlertKind.CSV.value,
            community_id=community[:64] or None,
            raw={name: clip(row[i], 256) for i, name in extra if i < len(row) and row[i]},
        )


def _header_row(row: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    names = [cell.strip().lower() for cell in row]
    for key, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases:
                found[key] = i
                break
    return found


def _header(line: str) -> dict[str, int] | None:
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    return _header_row(row)
