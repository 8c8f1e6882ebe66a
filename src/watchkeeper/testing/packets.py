"""Craft packets and write pcap/pcapng files, for tests and demos (no traffic is sent).

Example::

    s = TcpSession("10.213.0.2", 40000, "10.213.0.1", 3333)
    frames = s.handshake() + s.send(b'{"id":1,"method":"mining.subscribe"}\\n') + s.close()
    with open("x.pcap", "wb") as fh:
        w = PcapWriter(fh)
        for i, frame in enumerate(frames):
            w.write(1.0 + i / 1000, frame)
"""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO

from watchkeeper.netproto import LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN

_MAC_A = bytes.fromhex("02000000000a")
_MAC_B = bytes.fromhex("02000000000b")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_packet(src: str, dst: str, proto: int, l4: bytes, ttl: int = 64) -> bytes:
    """An IPv4 or IPv6 packet (by the address family) carrying ``l4``."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, ttl, proto, 0,
                          s.packed, d.packed)  # fmt: skip
        hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
        return hdr + l4
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, ttl, s.packed, d.packed) + l4


def tcp_segment(
    sport: int, dport: int, flags: int, seq: int = 0, ack: int = 0, payload: bytes = b""
) -> bytes:
    """A TCP header (no options, zero checksum) followed by ``payload``."""
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                       flags, 65535, 0, 0) + payload  # fmt: skip


def udp_datagram(sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP header (zero checksum) followed by ``payload``."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ethernet(ip: bytes, src_mac: bytes = _MAC_A, dst_mac: bytes = _MAC_B) -> bytes:
    """An Ethernet II frame around an IP packet."""
    ethertype = 0x0800 if ip and ip[0] >> 4 == 4 else 0x86DD
    return dst_mac + src_mac + struct.pack("!H", ethertype) + ip


def tcp_packet(
    src: str, sport: int, dst: str, dport: int, flags: int, seq: int = 0, ack: int = 0,
    payload: bytes = b"",
) -> bytes:  # fmt: skip
    """An Ethernet frame with one TCP segment."""
    return ethernet(ip_packet(src, dst, 6, tcp_segment(sport, dport, flags, seq, ack, payload)))


def udp_packet(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    """An Ethernet frame with one UDP datagram."""
    return ethernet(ip_packet(src, dst, 17, udp_datagram(sport, dport, payload)))


class TcpSession:
    """Frames of one TCP connection between a client and a server, with correct sequence numbers."""

    def __init__(
        self, client: str, cport: int, server: str, sport: int, cisn: int = 1000,
        sisn: int = 5000, mss: int = 1460,
    ) -> None:  # fmt: skip
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.cseq = cisn
        self.sseq = sisn
        self.mss = mss

    def _frame(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        if from_client:
            return tcp_packet(self.client, self.cport, self.server, self.sport, flags,
                              self.cseq, self.sseq, payload)  # fmt: skip
        return tcp_packet(self.server, self.sport, self.client, self.cport, flags,
                          self.sseq, self.cseq, payload)  # fmt: skip

    def syn(self) -> list[bytes]:
        """The client's SYN only."""
        frame = self._frame(True, TCP_SYN)
        return [frame]

    def handshake(self) -> list[bytes]:
        """SYN, SYN-ACK, ACK."""
        out = [self._frame(True, TCP_SYN)]
        self.cseq += 1
        out.append(self._frame(False, TCP_SYN | TCP_ACK))
        self.sseq += 1
        out.append(self._frame(True, TCP_ACK))
        return out

    def send(self, data: bytes, from_client: bool = True) -> list[bytes]:
        """Data split into MSS-sized segments, each acknowledged by the peer."""
        out: list[bytes] = []
        for i in range(0, len(data), self.mss):
            chunk = data[i : i + self.mss]
            out.append(self._frame(from_client, TCP_ACK | TCP_PSH, chunk))
            if from_client:
                self.cseq += len(chunk)
            else:
                self.sseq += len(chunk)
            out.append(self._frame(not from_client, TCP_ACK))
        return out

    def close(self, client_first: bool = True) -> list[bytes]:
        """FIN from both sides and the last ACK."""
        out = [self._frame(client_first, TCP_FIN | TCP_ACK)]
        self._advance(client_first)
        out.append(self._frame(not client_first, TCP_FIN | TCP_ACK))
        self._advance(not client_first)
        out.append(self._frame(client_first, TCP_ACK))
        return out

    def reset(self, from_client: bool) -> list[bytes]:
        """An RST (with ACK) from one side."""
        return [self._frame(from_client, TCP_RST | TCP_ACK)]

    def _advance(self, client: bool) -> None:
        if client:
            self.cseq += 1
        else:
            self.sseq += 1


class PcapWriter:
    """A classic pcap writer (either byte order, micro- or nanosecond timestamps)."""

    def __init__(
        self, fh: BinaryIO, linktype: int = LINKTYPE_ETHERNET, *, big_endian: bool = False,
        nano: bool = False, snaplen: int = 262144,
    ) -> None:  # fmt: skip
        self._fh = fh
        self._e = ">" if big_endian else "<"
        self._nano = nano
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        fh.write(struct.pack(self._e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts: float, frame: bytes, orig_len: int | None = None) -> None:
        """Write one record; ``orig_len`` > len(frame) makes a snapped record."""
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if self._nano else 1e6))
        self._fh.write(struct.pack(self._e + "IIII", sec, frac, len(frame),
                                   len(frame) if orig_len is None else orig_len))  # fmt: skip
        self._fh.write(frame)


class PcapngWriter:
    """A pcapng writer: one section, any number of interfaces, EPB/SPB/PB blocks."""

    def __init__(self, fh: BinaryIO, *, big_endian: bool = False) -> None:
        self._fh = fh
        self._e = ">" if big_endian else "<"
        self._resol: list[int] = []
        body = struct.pack(self._e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        self._block(0x0A0D0D0A, body)

    def _block(self, btype: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        total = len(body) + 12
        self._fh.write(struct.pack(self._e + "II", btype, total) + body
                       + struct.pack(self._e + "I", total))  # fmt: skip

    def interface(
        self, linktype: int = LINKTYPE_ETHERNET, tsresol: int = 6, snaplen: int = 0
    ) -> int:
        """Add an interface (IDB); returns its id. ``tsresol``: decimal digits of the timestamps."""
        opts = b""
        if tsresol != 6:
            opts += struct.pack(self._e + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
        if opts:
            opts += struct.pack(self._e + "HH", 0, 0)
        self._block(1, struct.pack(self._e + "HHI", linktype, 0, snaplen) + opts)
        self._resol.append(tsresol)
        return len(self._resol) - 1

    def _ticks(self, iface: int, ts: float) -> tuple[int, int]:
        ticks = round(ts * 10 ** self._resol[iface])
        return ticks >> 32, ticks & 0xFFFFFFFF

    def write(self, ts: float, frame: bytes, iface: int = 0, orig_len: int | None = None) -> None:
        """An Enhanced Packet Block."""
        hi, lo = self._ticks(iface, ts)
        olen = len(frame) if orig_len is None else orig_len
        self._block(6, struct.pack(self._e + "IIIII", iface, hi, lo, len(frame), olen) + frame)

    def write_simple(self, frame: bytes, orig_len: int | None = None) -> None:
        """A Simple Packet Block (interface 0, no timestamp)."""
        self._block(
            3, struct.pack(self._e + "I", len(frame) if orig_len is None else orig_len) + frame
        )

    def write_obsolete(self, ts: float, frame: bytes, iface: int = 0) -> None:
        """An obsolete Packet Block (type 2)."""
        hi, lo = self._ticks(iface, ts)
        self._block(
            2, struct.pack(self._e + "HHIIII", iface, 0, hi, lo, len(frame), len(frame)) + frame
        )

    def write_other(self, btype: int, body: bytes) -> None:
        """Any other block (e.g. a name resolution block), to test that readers skip it."""
        self._block(btype, body)


# ---------------------------------------------------------------- TLS hellos


def tls_ext_sni(name: str) -> tuple[int, bytes]:
    """A server_name extension."""
    host = name.encode()
    entry = b"\0" + struct.pack("!H", len(host)) + host
    return 0, struct.pack("!H", len(entry)) + entry


def tls_ext_alpn(protocols: list[bytes]) -> tuple[int, bytes]:
    """An ALPN extension."""
    body = b"".join(bytes([len(p)]) + p for p in protocols)
    return 16, struct.pack("!H", len(body)) + body


def tls_ext_u16s(ext_type: int, values: list[int], len_bytes: int = 2) -> tuple[int, bytes]:
    """An extension holding a length-prefixed list of 16-bit values (groups, sigalgs, versions)."""
    body = b"".join(struct.pack("!H", v) for v in values)
    prefix = bytes([len(body)]) if len_bytes == 1 else struct.pack("!H", len(body))
    return ext_type, prefix + body


def tls_client_hello(
    ciphers: list[int], extensions: list[tuple[int, bytes]], version: int = 0x0303
) -> bytes:
    """A TLS record holding a ClientHello with the given cipher suites and extensions."""
    exts = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in extensions)
    body = (
        struct.pack("!H", version) + bytes(32) + b"\x20" + bytes(32)
        + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
        + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    )  # fmt: skip
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls_server_hello(
    cipher: int, extensions: list[tuple[int, bytes]], version: int = 0x0303
) -> bytes:
    """A TLS record holding a ServerHello."""
    exts = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in extensions)
    body = (
        struct.pack("!H", version) + bytes(32) + b"\x00" + struct.pack("!H", cipher) + b"\x00"
        + struct.pack("!H", len(exts)) + exts
    )  # fmt: skip
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs


# ---------------------------------------------------------------------- DNS


def dns_message(
    name: str,
    qtype: int = 1,
    *,
    ident: int = 0x1234,
    answers: list[tuple[int, bytes]] | None = None,
    rcode: int = 0,
) -> bytes:
    """A DNS query, or an answer when ``answers`` ((type, rdata) with compressed owner) is given."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    response = answers is not None
    flags = (0x8180 | rcode) if response else 0x0100
    an = answers or []
    msg = (
        struct.pack("!HHHHHH", ident, flags, 1, len(an), 0, 0)
        + qname
        + struct.pack("!HH", qtype, 1)
    )
    for rtype, rdata in an:
        msg += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return msg
