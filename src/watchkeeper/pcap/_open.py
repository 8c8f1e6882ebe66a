"""Open a capture file of either format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from watchkeeper.errors import InputError, Location, UnknownFormatError
from watchkeeper.pcap._common import CapturedPacket
from watchkeeper.pcap._pcap import MAGICS, read_pcap
from watchkeeper.pcap._pcapng import read_pcapng


def read_capture(path: str | Path) -> Iterator[CapturedPacket]:
    """Yield the packets of a pcap or pcapng file (detected by its magic), streaming.

    Raises:
        InputError: the file cannot be read, or is truncated or corrupt (raised after every good
            record before the damage has been yielded).
        UnknownFormatError: neither pcap nor pcapng.
    """
    name = str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally of the generator
    except OSError as exc:
        raise InputError(f"cannot open capture: {exc.strerror or exc}", Location(name)) from None
    try:
        magic = fh.read(4)
        fh.seek(0)
        if magic in MAGICS:
            yield from read_pcap(fh, name)
        elif magic == b"\x0a\x0d\x0d\x0a":
            yield from read_pcapng(fh, name)
        else:
            raise UnknownFormatError("not a pcap or pcapng file", Location(name))
    except OSError as exc:
        raise InputError(f"read error: {exc.strerror or exc}", Location(name)) from None
    finally:
        fh.close()
