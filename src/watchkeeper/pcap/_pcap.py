"""Classic pcap reader: both byte orders, microsecond and nanosecond timestamps."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from watchkeeper.errors import Location, UnknownFormatError
from watchkeeper.pcap._common import MAX_RECORD, CapturedPacket, _Source

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


def read_pcap(fh: BinaryIO, path: str = "<pcap>") -> Iterator[CapturedPacket]:
    """Yield the records of a pcap file, streaming.

    Raises:
        UnknownFormatError: not a pcap file.
        InputError: a truncated or corrupt record (after yielding every record before it).
    """
    src = _Source(fh, path)
    header = fh.read(24)
    if len(header) < 4 or header[:4] not in MAGICS:
        raise UnknownFormatError("not a pcap file (bad magic)", Location(path))
    if len(header) < 24:
        raise src.error(f"truncated pcap header at offset 0 ({len(header)} of 24 bytes)", 0)
    src.offset = 24
    endian, scale = MAGICS[header[:4]]
    _major, _minor, _zone, _sigfigs, _snaplen, linkfield = struct.unpack(
        endian + "HHiIII", header[4:]
    )
    linktype = linkfield & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    while not src.at_end():
        start = src.offset
        sec, frac, caplen, orig = rec.unpack(src.read(16, "record header", start))
        if caplen > MAX_RECORD:
            raise src.error(f"corrupt record at offset {start}: captured length {caplen} too large")
        data = src.read(caplen, "packet data", start)
        yield CapturedPacket(sec + frac * scale, linktype, data, max(orig, caplen), 0, start)
