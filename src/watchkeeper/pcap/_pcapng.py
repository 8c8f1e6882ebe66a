"""pcapng reader: SHB, IDB, EPB, SPB and the obsolete PB; other blocks are skipped."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from watchkeeper.errors import Location, UnknownFormatError
from watchkeeper.pcap._common import MAX_BLOCK, CapturedPacket, _Source

SHB = 0x0A0D0D0A
_MAX_OPTIONS = 256


@dataclass(slots=True)
class _Iface:
    linktype: int
    snaplen: int
    divisor: float
    offset: int


def _iface(body: bytes, e: str) -> _Iface:
    linktype, _res, snaplen = struct.unpack_from(e + "HHI", body, 0)
    divisor = 1e6
    offset = 0
    pos = 8
    for _ in range(_MAX_OPTIONS):
        if pos + 4 > len(body):
            break
        code, length = struct.unpack_from(e + "HH", body, pos)
        value = body[pos + 4 : pos + 4 + length]
        pos += 4 + length + (-length % 4)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = value[0]
            divisor = float(2 ** (v & 0x7F)) if v & 0x80 else float(10 ** min(v, 18))
        elif code == 14 and length >= 8:
            offset = struct.unpack_from(e + "q", value, 0)[0]
    return _Iface(linktype, snaplen, divisor, offset)


def read_pcapng(fh: BinaryIO, path: str = "<pcapng>") -> Iterator[CapturedPacket]:
    """Yield the packets of a pcapng file (all sections and interfaces), streaming.

    Raises:
        UnknownFormatError: not a pcapng file.
        InputError: a truncated or corrupt block (after yielding every packet before it).
    """
    src = _Source(fh, path)
    head = fh.read(12)
    if len(head) < 4 or struct.unpack("<I", head[:4])[0] != SHB:
        raise UnknownFormatError("not a pcapng file (no section header)", Location(path))
    fh.seek(0)
    e = "<"
    ifaces: list[_Iface] = []
    while not src.at_end():
        start = src.offset
        raw = src.read(8, "block header", start)
        btype = SHB if raw[:4] == b"\x0a\x0d\x0d\x0a" else struct.unpack(e + "I", raw[:4])[0]
        if btype == SHB:
            magic = src.read(4, "section header", start)
            if magic == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                raise src.error(f"corrupt section header at offset {start}: bad byte-order magic")
            ifaces = []
            consumed = 12
        else:
            consumed = 8
        total = struct.unpack(e + "I", raw[4:])[0]
        if total < 12 or total % 4 or total > MAX_BLOCK or total < consumed + 4:
            raise src.error(f"corrupt block at offset {start}: length {total}")
        body = src.read(total - consumed - 4, "block", start)
        trailer = struct.unpack(e + "I", src.read(4, "block trailer", start))[0]
        if trailer != total:
            raise src.error(
                f"corrupt block at offset {start}: trailing length {trailer} != {total}"
            )
        if btype == SHB:
            continue
        if btype == 1:
            if len(body) < 8:
                raise src.error(f"corrupt interface block at offset {start}")
            ifaces.append(_iface(body, e))
        elif btype == 6:
            if len(body) < 20:
                raise src.error(f"corrupt packet block at offset {start}")
            iface_id, hi, lo, caplen, orig = struct.unpack_from(e + "IIIII", body, 0)
            yield _packet(src, ifaces, iface_id, hi, lo, body, 20, caplen, orig, start)
        elif btype == 3:
            if len(body) < 4 or not ifaces:
                raise src.error(f"corrupt simple packet block at offset {start}")
            orig = struct.unpack_from(e + "I", body, 0)[0]
            snap = ifaces[0].snaplen or orig
            caplen = min(orig, snap, len(body) - 4)
            yield CapturedPacket(0.0, ifaces[0].linktype, body[4 : 4 + caplen], orig, 0, start)
        elif btype == 2:
            if len(body) < 20:
                raise src.error(f"corrupt packet block at offset {start}")
            iface_id, _drops, hi, lo, caplen, orig = struct.unpack_from(e + "HHIIII", body, 0)
            yield _packet(src, ifaces, iface_id, hi, lo, body, 20, caplen, orig, start)


def _packet(
    src: _Source, ifaces: list[_Iface], iface_id: int, hi: int, lo: int, body: bytes,
    pos: int, caplen: int, orig: int, start: int,
) -> CapturedPacket:  # fmt: skip
    if iface_id >= len(ifaces):
        raise src.error(f"corrupt packet block at offset {start}: unknown interface {iface_id}")
    if caplen > len(body) - pos:
        raise src.error(f"corrupt packet block at offset {start}: captured length {caplen}")
    iface = ifaces[iface_id]
    ts = ((hi << 32) | lo) / iface.divisor + iface.offset
    return CapturedPacket(
        ts, iface.linktype, body[pos : pos + caplen], max(orig, caplen), iface_id, start
    )
