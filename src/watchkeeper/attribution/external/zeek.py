"""Zeek logs (conn.log, notice.log and others with ``id.*`` fields), TSV or JSON."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from watchkeeper.attribution.external._alert import LineIssue, ReadOptions, new_alert
from watchkeeper.attribution.external._common import (
    AlertReader,
    BadField,
    Item,
    Line,
    clip,
    norm_ip,
    norm_port,
    norm_proto,
    parse_time,
)
from watchkeeper.errors import Location

_ESCAPE_RE = re.compile(r"\\x([0-9a-fA-F]{2})")
_KNOWN_PATHS = ("conn", "notice", "dns", "http", "ssl", "ssh", "weird", "files", "x509",
                "dhcp", "smtp", "ftp", "software", "intel", "tunnel", "dpd", "known_hosts")
# Fields that say a little more about the record, per Zeek log, for ExternalAlert.message.
_DETAIL = {"dns": ("query",), "http": ("host", "uri"), "ssl": ("server_name",),
           "ssh": ("auth_success",), "weird": ("name",), "intel": ("seen.indicator",)}
MAX_FIELDS = 512


def _unescape(value: str) -> str:
    if "\\x" not in value:
        return value
    return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), value)


def _guess_path(path: str, has: Callable[[str], bool]) -> str:
    stem = os.path.basename(path).split(".", 1)[0].lower()
    if stem in _KNOWN_PATHS:
        return stem
    if has("note"):
        return "notice"
    if has("conn_state"):
        return "conn"
    return "conn" if has("id.orig_h") else stem or "conn"


class ZeekReader(AlertReader):
    """Reads Zeek ASCII (TSV) and JSON logs.

    TSV: the ``#separator`` (``\\x09``), ``#set_separator``, ``#empty_field`` (``(empty)``),
    ``#unset_field`` (``-``), ``#path`` and ``#fields`` headers are honoured, ``\\xHH`` escapes
    in values decoded, and a new header block may start anywhere in the file. JSON: one object
    a line with flat (``id.orig_h``) or nested (``{"id": {"orig_h": ...}}``) connection ids;
    ``ts`` is epoch seconds or ISO 8601. The log (conn, notice...) comes from ``#path``, a
    ``_path`` field, the file name, or the fields present. conn.log records become
    ``zeek-conn`` alerts (signature ``zeek conn <service>``), notice.log ``zeek-notice``
    (signature the ``note``, message the ``msg``); other logs ``zeek-<log>``.
    """

    name = "zeek"

    def __init__(self, options: ReadOptions | None = None, log: str | None = None) -> None:
        super().__init__(options)
        #: The log to assume when the file does not say (``#path``/``_path``): "conn", "notice".
        self.log = log

    @classmethod
    def sniff(cls, lines: list[str]) -> bool:
        """A ``#separator`` header, or JSON objects with ``id.orig_h`` / ``uid`` and ``ts``."""
        for line in (raw.lstrip() for raw in lines[:5]):
            if line.startswith("#separator") or line.startswith("#fields"):
                return True
            if line.startswith("{") and '"ts"' in line and (
                '"id.orig_h"' in line or '"uid"' in line or '"orig_h"' in line or '"note"' in line
            ):
                return True
        return False

    def read(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        """The records of one Zeek log."""
        first: Line | None = None
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            first = entry
            break
        if first is None:
            return
        rest = _chain(first, lines)
        if first[1].lstrip().startswith("{"):
            yield from self._json(path, rest)
        else:
            yield from self._tsv(path, rest)

    # ------------------------------------------------------------------ TSV

    def _tsv(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        sep, empty, unset = "\t", "(empty)", "-"
        fields: list[str] | None = None
        index: dict[str, int] = {}
        log = self.log or ""
        tz = self.options.tz
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            number, text = entry
            if text.startswith("#"):
                self.skipped += 1
                if text.startswith("#separator"):
                    sep = _unescape(text[len("#separator"):].strip()) or "\t"
                    continue
                key, _, value = text[1:].partition(sep)
                if key == "fields":
                    fields = value.split(sep)[:MAX_FIELDS]
                    index = {name: i for i, name in enumerate(fields)}
                    if not log:
                        log = _guess_path(path, index.__contains__)
                elif key == "path":
                    log = value.strip()
                elif key == "empty_field":
                    empty = value
                elif key == "unset_field":
                    unset = value
                continue
            if fields is None:
                yield LineIssue(Location(path, number), "Zeek TSV record before any #fields header")
                continue
            values = text.split(sep)
            if len(values) != len(fields):
                yield LineIssue(Location(path, number),
                                f"{len(values)} values for {len(fields)} #fields")
                continue

            def get(name: str, _v: list[str] = values, _i: dict[str, int] = index,
                    _unset: str = unset, _empty: str = empty) -> str | None:
                i = _i.get(name)
                if i is None:
                    return None
                value = _v[i]
                if value == _unset:
                    return None
                if value == _empty:
                    return ""
                return _unescape(value)

            try:
                yield self._alert(get, log, f"{path}:{number}", tz)
            except BadField as exc:
                yield LineIssue(Location(path, number), str(exc))

    # ----------------------------------------------------------------- JSON

    def _json(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        tz = self.options.tz
        log = self.log or ""
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            number, text = entry
            try:
                record = json.loads(text)
            except (ValueError, RecursionError):
                yield LineIssue(Location(path, number), "not valid JSON")
                continue
            if not isinstance(record, dict):
                yield LineIssue(Location(path, number), "Zeek JSON record is not an object")
                continue
            ids = record.get("id")
            if isinstance(ids, dict):  # nested ids (JSON::use_json_nested... style)
                for key, value in ids.items():
                    record.setdefault(f"id.{key}", value)

            def get(name: str, _r: dict[str, Any] = record) -> Any:
                return _r.get(name)

            this_log = record.get("_path")
            if not isinstance(this_log, str) or not this_log:
                if not log:
                    log = _guess_path(path, record.__contains__)
                this_log = log
            try:
                yield self._alert(get, this_log, f"{path}:{number}", tz)
            except BadField as exc:
                yield LineIssue(Location(path, number), str(exc))

    # --------------------------------------------------------------- record

    def _alert(self, get: Callable[[str], Any], log: str, source: str, tz: Any) -> Any:
        stamp = get("ts")
        if stamp is None or stamp == "":
            raise BadField("Zeek record without ts")
        ts = parse_time(stamp, tz)
        src, dst = get("id.orig_h"), get("id.resp_h")
        sport, dport = get("id.orig_p"), get("id.resp_p")
        if log == "notice" and src is None and dst is None:
            src, dst, dport = get("src"), get("dst"), get("p")
            sport = None
        proto = norm_proto(get("proto"))
        if isinstance(dport, str) and "/" in dport:  # notice "p" may be "22/tcp"
            dport, _, proto_text = dport.partition("/")
            proto = proto or norm_proto(proto_text)
        raw: dict[str, Any] = {"log": log}
        uid = get("uid")
        if uid:
            raw["uid"] = clip(uid, 64)
        if log == "notice":
            note = clip(get("note"), 128)
            signature = note or "zeek notice"
            message = clip(get("msg"))
            sub = get("sub")
            if sub:
                raw["sub"] = clip(sub, 256)
            kind = "zeek-notice"
        elif log == "conn":
            service = clip(get("service"), 64)
            signature = f"zeek conn {service}" if service else "zeek conn"
            state = clip(get("conn_state"), 16)
            sent, got = get("orig_bytes"), get("resp_bytes")
            message = " ".join(p for p in (
                state, clip(get("history"), 32),
                f"{sent or 0}/{got or 0} bytes" if sent is not None or got is not None else "",
            ) if p)
            if state:
                raw["conn_state"] = state
            if service:
                raw["service"] = service
            kind = "zeek-conn"
        else:
            log_name = clip(log, 32)
            signature = f"zeek {log_name}"
            message = " ".join(clip(get(f), 256) for f in _DETAIL.get(log_name, ()) if get(f))
            kind = f"zeek-{log_name}"
        community = get("community_id")
        return new_alert(
            ts=ts,
            src_ip=norm_ip(src),
            src_port=norm_port(sport),
            dst_ip=norm_ip(dst),
            dst_port=norm_port(dport),
            proto=proto,
            signature=signature,
            message=message,
            severity=None,
            source=source,
            kind=kind,
            community_id=community if isinstance(community, str) and community else None,
            raw=raw,
        )


def _chain(first: Line, rest: Iterator[Line | LineIssue]) -> Iterator[Line | LineIssue]:
    yield first
    yield from rest
