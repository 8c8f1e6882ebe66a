"""nftables and iptables packet log lines (the kernel's nf_log format) from syslog, journal or dmesg."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from watchkeeper.attribution.external._alert import AlertKind, LineIssue, ReadOptions, new_alert
from watchkeeper.attribution.external._common import (
    AlertReader,
    BadField,
    Item,
    Line,
    norm_ip,
    norm_port,
    norm_proto,
    parse_iso,
)
from watchkeeper.errors import InputError, Location

_ISO_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\s+")
_BSD_RE = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?\s+")
_UNIX_RE = re.compile(r"(\d{9,11}\.\d{1,9})\s+")
_DMESG_RE = re.compile(r"\[\s*(\d{1,10}\.\d{1,9})\]\s*")
_DMESG_T_RE = re.compile(r"\[([A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\]\s*")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
#: Our sandbox firewall's log prefixes (``wk-deny:<sandbox id>``...): lines with them are "nft".
OWN_PREFIX = "wk-"
_KEEP = ("IN", "OUT", "LEN", "TTL", "ID", "MARK", "UID", "GID")


class NetfilterReader(AlertReader):
    """Reads kernel packet log lines: ``<stamp> ... <prefix> IN=.. OUT=.. SRC=.. DST=.. PROTO=..``.

    The same format comes from iptables ``-j LOG``, nftables ``log``, and ulogd's LOGEMU. Stamps:
    ISO 8601 (rsyslog, ``journalctl -o short-iso``), RFC 3164 ``Nov 27 15:31:30`` (year from
    ``ReadOptions.year`` or the file's mtime), epoch (``journalctl -o short-unix``), ``dmesg -T``
    and dmesg ``[12345.678]`` seconds since boot (needs ``ReadOptions.boot_time``). The log
    prefix is the signature; for our own firewall's ``wk-deny:<sandbox>`` prefixes the signature
    is ``wk-deny`` and the sandbox id goes to ``raw``. Lines without ``SRC=`` (other kernel
    messages) are skipped. ``kind`` is "nft" or "iptables" as forced, else "nft" for ``wk-``
    prefixes and "iptables" for others (the kernel format does not say which wrote it).
    """

    name = "netfilter"

    def __init__(self, options: ReadOptions | None = None, kind: str | None = None) -> None:
        super().__init__(options)
        #: Forced kind ("nft" or "iptables"), or None to decide per line by the prefix.
        self.kind = kind
        self._mtime: datetime | None = None
        self._path = ""

    @classmethod
    def sniff(cls, lines: list[str]) -> bool:
        """A kernel packet log line among the first lines."""
        return any(" SRC=" in line and " DST=" in line and "PROTO=" in line for line in lines)

    def read(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        """The packet log lines of one file."""
        self._mtime = None
        self._path = path
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            number, text = entry
            at = text.find("SRC=")
            if at < 0:
                self.skipped += 1
                continue
            try:
                yield self._alert(text.strip(), f"{path}:{number}", number)
            except BadField as exc:
                yield LineIssue(Location(path, number), str(exc))

    def _alert(self, text: str, source: str, number: int) -> Any:
        ts, rest = self._stamp(text, number)
        cut = rest.find("IN=")
        src_at = rest.find("SRC=")
        if cut < 0 or cut > src_at:
            cut = src_at
        head, tail = rest[:cut], rest[cut:]
        fields: dict[str, str] = {}
        for token in tail.split():
            if token.startswith("["):  # ICMP errors quote the offending packet's header
                break
            key, eq, value = token.partition("=")
            if eq and key not in fields:
                fields[key] = value
        src, dst, proto = fields.get("SRC"), fields.get("DST"), fields.get("PROTO")
        if not src or not dst or not proto:
            raise BadField("packet log line without SRC, DST and PROTO")
        proto = norm_proto(proto)
        if proto in ("icmp", "icmp6", "icmpv6"):
            sport, dport = norm_port(fields.get("TYPE")), norm_port(fields.get("CODE"))
        else:
            sport, dport = norm_port(fields.get("SPT")), norm_port(fields.get("DPT"))
        prefix = head.strip()
        raw: dict[str, Any] = {k.lower(): fields[k][:64] for k in _KEEP if k in fields}
        if prefix:
            raw["log_prefix"] = prefix[:128]
        if prefix.startswith(OWN_PREFIX) and ":" in prefix:
            signature, _, sandbox = prefix.partition(":")
            if sandbox.strip():
                raw["sandbox_id"] = sandbox.strip()[:64]
        else:
            signature = prefix.rstrip(" :") or "netfilter log"
        kind = self.kind or (
            AlertKind.NFT.value if prefix.startswith(OWN_PREFIX) else AlertKind.IPTABLES.value)
        return new_alert(
            ts=ts, src_ip=norm_ip(src), src_port=sport, dst_ip=norm_ip(dst), dst_port=dport,
            proto=proto, signature=signature[:128], message=_message(prefix, fields),
            severity=None, source=source, kind=kind, community_id=None, raw=raw,
        )

    def _stamp(self, text: str, number: int) -> tuple[float, str]:
        """The line's time and the text after the stamp (host and ``kernel:`` removed)."""
        opts = self.options
        syslog = True
        if m := _ISO_RE.match(text):
            ts = parse_iso(m.group(1).replace(",", "."), opts.tz)
        elif m := _BSD_RE.match(text):
            ts = self._bsd(m)
        elif m := _UNIX_RE.match(text):
            ts = float(m.group(1))
        elif m := _DMESG_T_RE.match(text):
            try:
                parsed = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").replace(
                    tzinfo=opts.tz)
            except ValueError:
                raise BadField(f"bad dmesg -T time {m.group(1)!r}") from None
            ts = parsed.timestamp()
            syslog = False
        elif m := _DMESG_RE.match(text):
            if opts.boot_time is None:
                raise InputError(
                    "dmesg time stamps are seconds since boot: give the host's boot time "
                    "(--boot-time, epoch or ISO 8601) to read them",
                    Location(self._path, number))
            ts = opts.boot_time + float(m.group(1))
            syslog = False
        else:
            raise BadField("no time stamp recognised at the start of the line")
        rest = text[m.end():]
        if syslog:
            kernel = rest.find("kernel:")
            if kernel >= 0:
                rest = rest[kernel + 7:].lstrip()
            else:  # "<host> <prefix> IN=...": drop the host name
                rest = rest.split(" ", 1)[1] if " " in rest else ""
            if bracket := _DMESG_RE.match(rest):
                rest = rest[bracket.end():]
        return ts, rest

    def _bsd(self, m: re.Match[str]) -> float:
        month = _MONTHS.get(m.group(1))
        if month is None:
            raise BadField(f"unknown month {m.group(1)!r}")
        fraction = float(m.group(6)) if m.group(6) else 0.0
        year = self.options.year
        guess = year is None
        if year is None:
            mtime = self._file_time()
            year = mtime.year
        try:
            stamp = datetime(year, month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                             int(m.group(5)), tzinfo=self.options.tz)
            if guess and stamp > self._file_time() + timedelta(days=1):
                stamp = stamp.replace(year=year - 1)  # a December line in a January file
        except ValueError:
            raise BadField("impossible syslog date") from None
        return stamp.timestamp() + fraction

    def _file_time(self) -> datetime:
        if self._mtime is None:
            try:
                epoch = os.stat(self._path).st_mtime
            except OSError:
                epoch = datetime.now(self.options.tz).timestamp()
            self._mtime = datetime.fromtimestamp(epoch, self.options.tz)
        return self._mtime


def _message(prefix: str, fields: dict[str, str]) -> str:
    where = f"in={fields.get('IN', '')} out={fields.get('OUT', '')}"
    return f"{prefix} {where}".strip() if prefix else where
