"""Link, network and transport decoding: bytes in, a :class:`Packet` (or None) out.

Decoders never raise on garbage and never loop without bound: anything short, malformed or
unsupported yields None. Lengths come from the headers (the wire length), payload bytes from what
was captured, so a snapped packet still counts its full size.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# Link types (pcap LINKTYPE_* values).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_BSD = 12
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW_BSD,
        LINKTYPE_RAW_OPENBSD,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_IPV6_EXT = frozenset({0, 43, 60, 51})  # hop-by-hop, routing, destination options, AH
_MAX_EXT_HEADERS = 8

_U16 = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBB")
_UDP = struct.Struct("!HHH")


class Packet(NamedTuple):
    """One decoded IP packet.

    Attributes:
        version: 4 or 6.
        src / dst: Packed addresses (4 or 16 bytes); see :func:`ip_text`.
        proto: IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, others as is).
        sport / dport: Ports; ICMP type and code; 0 for other protocols.
        tcp_flags: TCP flag byte (0 for non-TCP).
        seq / ack: TCP sequence and acknowledgement numbers (0 for non-TCP).
        payload: The captured transport payload (may be shorter than ``payload_len``).
        payload_len: Transport payload length on the wire, from the headers.
        ip_len: IP packet length on the wire, from the header.
    """

    version: int
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    tcp_flags: int
    seq: int
    ack: int
    payload: bytes
    payload_len: int
    ip_len: int


def ip_text(packed: bytes) -> str:
    """Text form of a packed IPv4 or IPv6 address ("" when it is neither)."""
    if len(packed) == 4:
        return socket.inet_ntop(socket.AF_INET, packed)
    if len(packed) == 16:
        return socket.inet_ntop(socket.AF_INET6, packed)
    return ""


def decode_ip(buf: bytes, off: int = 0) -> Packet | None:
    """Decode an IPv4 or IPv6 packet that starts at ``off``; None if malformed or a later fragment."""
    if len(buf) <= off:
        return None
    version = buf[off] >> 4
    if version == 4:
        return _decode_ipv4(buf, off)
    if version == 6:
        return _decode_ipv6(buf, off)
    return None


def _decode_ipv4(buf: bytes, off: int) -> Packet | None:
    if len(buf) < off + 20:
        return None
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(buf, off)
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or total < ihl:
        return None
    if frag & 0x1FFF:
        return None  # a later fragment: no transport header
    return _decode_l4(buf, off + ihl, 4, src, dst, proto, total - ihl, total)


def _decode_ipv6(buf: bytes, off: int) -> Packet | None:
    if len(buf) < off + 40:
        return None
    _vtf, plen, nxt, _hop, src, dst = _IPV6.unpack_from(buf, off)
    if plen == 0:  # jumbogram or truncated header: fall back to what was captured
        plen = len(buf) - off - 40
    pos = off + 40
    remaining = plen
    for _ in range(_MAX_EXT_HEADERS):
        if nxt == 44:  # fragment header
            if len(buf) < pos + 8:
                return None
            if _U16.unpack_from(buf, pos + 2)[0] & 0xFFF8:
                return None
            nxt = buf[pos]
            pos += 8
            remaining -= 8
            continue
        if nxt not in _IPV6_EXT:
            break
        if len(buf) < pos + 2:
            return None
        ext_len = (buf[pos + 1] + 2) * 4 if nxt == 51 else (buf[pos + 1] + 1) * 8
        nxt = buf[pos]
        pos += ext_len
        remaining -= ext_len
    else:
        return None
    if remaining < 0:
        return None
    return _decode_l4(buf, pos, 6, src, dst, nxt, remaining, plen + 40)


def _decode_l4(
    buf: bytes, off: int, version: int, src: bytes, dst: bytes, proto: int, l4_len: int, ip_len: int
) -> Packet | None:
    if proto == PROTO_TCP:
        if len(buf) < off + 20:
            return None
        sport, dport, seq, ack, doff, flags = _TCP.unpack_from(buf, off)
        hlen = (doff >> 4) * 4
        if hlen < 20 or hlen > l4_len:
            return None
        end = off + l4_len
        return Packet(
            version, src, dst, proto, sport, dport, flags, seq, ack,
            bytes(buf[off + hlen : end]), l4_len - hlen, ip_len,
        )  # fmt: skip
    if proto == PROTO_UDP:
        if len(buf) < off + 8 or l4_len < 8:
            return None
        sport, dport, ulen = _UDP.unpack_from(buf, off)
        plen = min(ulen, l4_len) - 8 if ulen >= 8 else l4_len - 8
        return Packet(
            version, src, dst, proto, sport, dport, 0, 0, 0,
            bytes(buf[off + 8 : off + 8 + plen]), plen, ip_len,
        )  # fmt: skip
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        if len(buf) < off + 4 or l4_len < 4:
            return None
        end = off + l4_len
        return Packet(
            version, src, dst, proto, buf[off], buf[off + 1], 0, 0, 0,
            bytes(buf[off + 4 : end]), l4_len - 4, ip_len,
        )  # fmt: skip
    return Packet(version, src, dst, proto, 0, 0, 0, 0, 0, b"", max(l4_len, 0), ip_len)


def decode_ethernet(buf: bytes) -> Packet | None:
    """Decode an Ethernet II frame (with up to two VLAN tags)."""
    if len(buf) < 14:
        return None
    ethertype = _U16.unpack_from(buf, 12)[0]
    off = 14
    for _ in range(2):
        if ethertype not in _ETH_VLAN:
            break
        if len(buf) < off + 4:
            return None
        ethertype = _U16.unpack_from(buf, off + 2)[0]
        off += 4
    if ethertype == _ETH_IPV4 or ethertype == _ETH_IPV6:
        return decode_ip(buf, off)
    return None


def decode_sll(buf: bytes) -> Packet | None:
    """Decode a Linux "cooked" capture (SLL, 16-byte header)."""
    if len(buf) < 16:
        return None
    proto = _U16.unpack_from(buf, 14)[0]
    if proto == _ETH_IPV4 or proto == _ETH_IPV6:
        return decode_ip(buf, 16)
    return None


def decode_sll2(buf: bytes) -> Packet | None:
    """Decode a Linux "cooked" capture v2 (SLL2, 20-byte header)."""
    if len(buf) < 20:
        return None
    proto = _U16.unpack_from(buf, 0)[0]
    if proto == _ETH_IPV4 or proto == _ETH_IPV6:
        return decode_ip(buf, 20)
    return None


def decode_null(buf: bytes) -> Packet | None:
    """Decode BSD loopback (4-byte address family, either byte order)."""
    if len(buf) < 4:
        return None
    return decode_ip(buf, 4)


def decode_link(linktype: int, buf: bytes) -> Packet | None:
    """Decode a frame of the given pcap link type; None if unsupported or malformed."""
    if linktype == LINKTYPE_ETHERNET:
        return decode_ethernet(buf)
    if linktype in (
        LINKTYPE_RAW,
        LINKTYPE_RAW_BSD,
        LINKTYPE_RAW_OPENBSD,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
    ):
        return decode_ip(buf, 0)
    if linktype == LINKTYPE_LINUX_SLL:
        return decode_sll(buf)
    if linktype == LINKTYPE_LINUX_SLL2:
        return decode_sll2(buf)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return decode_null(buf)
    return None
