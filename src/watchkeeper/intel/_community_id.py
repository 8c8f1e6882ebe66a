"""Community ID v1 flow hashes (https://github.com/corelight/community-id-spec).

The same 5-tuple gives the same id in Suricata, Zeek, Elastic and here, in either direction,
so an alert can be joined to flows by a string compare.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct

#: IANA protocol numbers for the names that logs use.
PROTOCOLS: dict[str, int] = {
    "icmp": 1, "tcp": 6, "udp": 17, "sctp": 132,
    "icmp6": 58, "icmpv6": 58, "ipv6-icmp": 58, "ipv6icmp": 58,
}  # fmt: skip
_PORTED = frozenset({6, 17, 132})
_ICMP = 1
_ICMP6 = 58

# Zeek's request/response pairing of ICMP types (analyzer::icmp::ICMP4_counterpart and the v6 one).
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {
    128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133,
    135: 136, 136: 135, 139: 140, 140: 139, 144: 145, 145: 144,
}  # fmt: skip


def protocol_number(proto: int | str) -> int:
    """The IP protocol number of ``proto`` (a number, a numeric string or a name like "tcp")."""
    if isinstance(proto, bool):
        raise ValueError(f"not a protocol: {proto!r}")
    if isinstance(proto, int):
        number = proto
    else:
        text = proto.strip().lower()
        if text.isdigit():
            number = int(text)
        elif text in PROTOCOLS:
            number = PROTOCOLS[text]
        else:
            raise ValueError(f"unknown protocol name {proto!r}")
    if not 0 <= number <= 255:
        raise ValueError(f"protocol number out of range: {number}")
    return number


def _pack_ip(ip: str) -> bytes:
    text = ip.strip()
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError):
        raise ValueError(f"not an IP address: {ip!r}") from None


def _port(value: int | None, what: str) -> int:
    if value is None or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} must be 0..65535, got {value!r}")
    return value


def community_id(
    proto: int | str,
    src_ip: str,
    src_port: int | None,
    dst_ip: str,
    dst_port: int | None,
    seed: int = 0,
    *,
    use_base64: bool = True,
) -> str:
    """The Community ID v1 of a flow, e.g. ``"1:LQU9qZlK+B5F3KDmev6m5PMibrg="``.

    Args:
        proto: IP protocol number or name ("tcp", "udp", "icmp", "icmp6", "sctp"...).
        src_ip, dst_ip: IPv4 or IPv6 addresses (the same family).
        src_port, dst_port: Ports for TCP, UDP and SCTP; for ICMP and ICMPv6 the message type
            and code (the Zeek convention). Ignored for other protocols (may be None).
        seed: The 16-bit seed (0 unless a deployment agreed on another).
        use_base64: Base64 digest (the default form) or lower-case hex.

    Raises:
        ValueError: An address, port, protocol or seed that cannot be encoded.
    """
    number = protocol_number(proto)
    if isinstance(seed, bool) or not 0 <= seed <= 0xFFFF:
        raise ValueError(f"seed must be 0..65535, got {seed!r}")
    saddr, daddr = _pack_ip(src_ip), _pack_ip(dst_ip)
    if len(saddr) != len(daddr):
        raise ValueError("source and destination addresses are of different families")
    if number in _PORTED or number in (_ICMP, _ICMP6):
        sport, dport = _port(src_port, "source port"), _port(dst_port, "destination port")
        one_way = False
        if number in (_ICMP, _ICMP6):
            pairs = _ICMP4_PAIRS if number == _ICMP else _ICMP6_PAIRS
            counterpart = pairs.get(sport)
            if counterpart is None:
                one_way = True
            else:
                dport = counterpart
        if not one_way and (daddr, dport) < (saddr, sport):
            saddr, daddr, sport, dport = daddr, saddr, dport, sport
        data = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BBHH", number, 0, sport, dport)
    else:
        if daddr < saddr:
            saddr, daddr = daddr, saddr
        data = struct.pack("!H", seed) + saddr + daddr + struct.pack("!BB", number, 0)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    if use_base64:
        return "1:" + base64.b64encode(digest).decode("ascii")
    return "1:" + digest.hex()
