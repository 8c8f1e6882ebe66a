"""DNS message decoding (queries and answers), with bounded name decompression."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from watchkeeper.netproto._fingerprint import clean

MAX_QUESTIONS = 8
MAX_RECORDS = 64
MAX_JUMPS = 16
MAX_NAME = 255
MAX_LABELS = 128

TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC",
    48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 255: "ANY", 257: "CAA",
}  # fmt: skip
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

_HDR = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QT = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """One decoded DNS message.

    Attributes:
        id: Transaction id.
        response: True for an answer (QR bit).
        opcode: Header opcode (0 = QUERY).
        rcode: Response code name ("NOERROR", "NXDOMAIN"...), "" for queries.
        questions: (name, type name) pairs.
        answers: (name, type name, value) from the answer section.
        partial: The message was cut; what is here was decoded before the cut.
    """

    id: int
    response: bool
    opcode: int
    rcode: str
    questions: tuple[tuple[str, str], ...]
    answers: tuple[tuple[str, str, str], ...]
    partial: bool = False


class _Bad(Exception):
    """Malformed message."""


def type_name(qtype: int) -> str:
    """Mnemonic of a record type ("A", "AAAA"...), else "TYPE<n>"."""
    return TYPES.get(qtype, f"TYPE{qtype}")


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """Decode the name at ``pos``; returns (name, position after the name in place)."""
    labels: list[str] = []
    total = 0
    jumps = 0
    after = -1
    seen: set[int] = set()
    while True:
        if pos >= len(msg):
            raise _Bad
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise _Bad
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if after < 0:
                after = pos + 2
            jumps += 1
            if jumps > MAX_JUMPS or target in seen or target >= len(msg):
                raise _Bad
            seen.add(target)
            pos = target
            continue
        if length & 0xC0:
            raise _Bad  # extended label types are obsolete
        pos += 1
        if length == 0:
            break
        if pos + length > len(msg):
            raise _Bad
        total += length + 1
        if total > MAX_NAME or len(labels) >= MAX_LABELS:
            raise _Bad
        labels.append(msg[pos : pos + length].decode("ascii", "replace"))
        pos += length
    return clean(".".join(labels)).lower(), (after if after >= 0 else pos)


def _rdata(msg: bytes, rtype: int, start: int, rdlen: int) -> str:
    data = msg[start : start + rdlen]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5, 12, 39):
        return _name(msg, start)[0]
    if rtype == 15 and rdlen > 2:
        return _name(msg, start + 2)[0]
    if rtype == 16:
        parts: list[str] = []
        pos = 0
        while pos < len(data) and len(parts) < 16:
            n = data[pos]
            parts.append(data[pos + 1 : pos + 1 + n].decode("utf-8", "replace"))
            pos += 1 + n
        return clean("".join(parts))
    return data[:64].hex()


def parse_dns(msg: bytes) -> DnsMessage | None:
    """Decode a DNS message (UDP payload, or TCP payload without its length prefix).

    Returns None when the bytes are not a plausible DNS message; a cut message returns what was
    decoded, with ``partial`` set.
    """
    if len(msg) < 12:
        return None
    ident, flags, qd, an, _ns, _ar = _HDR.unpack_from(msg, 0)
    opcode = (flags >> 11) & 0xF
    if qd == 0 or qd > MAX_QUESTIONS or opcode > 6:
        return None
    response = bool(flags & 0x8000)
    questions: list[tuple[str, str]] = []
    answers: list[tuple[str, str, str]] = []
    pos = 12
    partial = False
    try:
        for _ in range(qd):
            name, pos = _name(msg, pos)
            if pos + 4 > len(msg):
                raise _Bad
            qtype, _qclass = _QT.unpack_from(msg, pos)
            pos += 4
            questions.append((name, type_name(qtype)))
        for _ in range(min(an, MAX_RECORDS)):
            name, pos = _name(msg, pos)
            if pos + 10 > len(msg):
                raise _Bad
            rtype, _rclass, _ttl, rdlen = _RR.unpack_from(msg, pos)
            pos += 10
            if pos + rdlen > len(msg):
                raise _Bad
            answers.append((name, type_name(rtype), _rdata(msg, rtype, pos, rdlen)))
            pos += rdlen
    except (_Bad, UnicodeError, ValueError):
        if not questions:
            return None
        partial = True
    return DnsMessage(
        id=ident,
        response=response,
        opcode=opcode,
        rcode=RCODES.get(flags & 0xF, str(flags & 0xF)) if response else "",
        questions=tuple(questions),
        answers=tuple(answers),
        partial=partial,
    )
