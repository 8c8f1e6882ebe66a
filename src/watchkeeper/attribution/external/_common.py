"""Helpers shared by the log readers: bounded line reading, times, addresses, ports."""

from __future__ import annotations

import gzip
import ipaddress
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import IO, Any, ClassVar, cast

from watchkeeper.alerts import Severity
from watchkeeper.attribution.external._alert import ExternalAlert, LineIssue, ReadOptions
from watchkeeper.errors import Location

Line = tuple[int, str]
Item = ExternalAlert | LineIssue

#: Protocol numbers that logs print as numbers, to the names used in ExternalAlert.proto.
PROTO_NAMES = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmp6", "132": "sctp",
               "ipv6-icmp": "icmp6", "icmpv6": "icmp6"}


class BadField(ValueError):
    """A field value that cannot be read (the line is reported as malformed)."""


class AlertReader(ABC):
    """Reads one log format from lines into ExternalAlert items (and LineIssue for bad lines).

    Subclasses set ``name`` (the ``--alerts-format`` value) and implement ``sniff`` (does a
    file starting with these lines have this format?) and ``read``. ``skipped`` counts lines
    that are valid but not alerts (other event types, other kernel messages, headers).
    """

    name: ClassVar[str]

    def __init__(self, options: ReadOptions | None = None) -> None:
        self.options = options or ReadOptions()
        self.skipped = 0

    @classmethod
    @abstractmethod
    def sniff(cls, lines: list[str]) -> bool:
        """True if a file whose first non-blank lines are ``lines`` is in this format."""

    @abstractmethod
    def read(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        """The alerts of one file (``lines`` are numbered from 1, blank lines left out)."""


def open_text(path: str) -> IO[bytes]:
    """Open a log for reading bytes; ``.gz`` files are decompressed on the fly."""
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def iter_lines(handle: IO[bytes], path: str, max_bytes: int) -> Iterator[Line | LineIssue]:
    """Numbered, decoded, non-blank lines without their end; over ``max_bytes`` is an issue."""
    number = 0
    while True:
        raw = handle.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest, a bounded chunk at a time
                raw = handle.readline(max_bytes + 1)
            yield LineIssue(Location(path, number), f"line longer than {max_bytes} bytes")
            continue
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text and not text.isspace():
            yield number, text


def parse_iso(text: str, tz: tzinfo) -> float:
    """Epoch seconds from ISO 8601 (``Z``, ``+01:00`` or ``+0100``; no offset: ``tz``)."""
    if not text or len(text) > 64:
        raise BadField(f"not an ISO 8601 time: {text[:64]!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadField(f"not an ISO 8601 time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def parse_epoch(value: Any) -> float:
    """Epoch seconds from a number or numeric text (ms, us and ns scaled down)."""
    if isinstance(value, bool):
        raise BadField(f"not a time: {value!r}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadField(f"not a time: {value[:64]!r}") from None
    if not isinstance(value, int | float):
        raise BadField(f"not a time: {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise BadField(f"not a time: {value!r}")
    if number > 1e17:
        number /= 1e9
    elif number > 1e14:
        number /= 1e6
    elif number > 1e11:
        number /= 1e3
    return number


def parse_time(value: Any, tz: tzinfo) -> float:
    """Epoch seconds from an epoch number/text or an ISO 8601 string."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1].isdigit() and "-" not in text[1:] and ":" not in text:
            return parse_epoch(text)
        return parse_iso(text, tz)
    return parse_epoch(value)


def norm_ip(value: Any) -> str:
    """An address as canonical text ("" for none); raises BadField for a non-address."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise BadField(f"not an IP address: {str(value)[:64]!r}")
    if ":" in value:
        try:
            return ipaddress.IPv6Address(value.split("%", 1)[0]).compressed
        except ValueError:
            raise BadField(f"not an IP address: {value!r}") from None
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise BadField(f"not an IP address: {value!r}")
    return value


def norm_port(value: Any) -> int | None:
    """A port number (None when absent); raises BadField out of 0..65535."""
    if value is None or value == "" or value == "-":
        return None
    if isinstance(value, str):
        if not value.isdigit():
            raise BadField(f"not a port: {value[:16]!r}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise BadField(f"not a port: {value!r}")
    return value


def norm_proto(value: Any) -> str:
    """Lower-case protocol name ("tcp"), numbers mapped to names where known."""
    if value is None:
        return ""
    text = str(value).strip().lower()[:16]
    return PROTO_NAMES.get(text, text)


def severity_from_priority(value: Any) -> Severity | None:
    """Suricata/Snort priority (1 most severe) to a Severity."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value <= 1:
        return Severity.HIGH
    if value == 2:
        return Severity.MEDIUM
    if value == 3:
        return Severity.LOW
    return Severity.INFORMATIONAL


def parse_severity(text: str) -> Severity | None:
    """A severity name (informational..critical) or level 1-5; None when empty."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        level = int(text)
        if 1 <= level <= 5:
            return Severity(level)
        raise BadField(f"severity level must be 1-5, got {text}")
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise BadField(str(exc)) from None


def clip(value: Any, limit: int = 512) -> str:
    """Text of a field, cut to ``limit`` characters ("" for None)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit]
