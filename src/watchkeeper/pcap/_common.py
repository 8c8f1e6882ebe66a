"""What the capture readers yield, and their shared limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from watchkeeper.errors import InputError, Location

MAX_RECORD = 1 << 20
"""Largest packet record accepted (bytes); a larger length field means a corrupt file."""
MAX_BLOCK = 16 << 20
"""Largest pcapng block accepted (bytes)."""


@dataclass(frozen=True, slots=True)
class CapturedPacket:
    """One packet record of a capture file.

    Attributes:
        ts: Capture time, seconds since the epoch (0.0 when the record has none).
        linktype: pcap LINKTYPE_* of the frame.
        data: The captured bytes (may be shorter than ``orig_len``).
        orig_len: Length on the wire.
        interface: pcapng interface id (0 for pcap).
        offset: File offset of the record.
    """

    ts: float
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0
    offset: int = 0


class _Source:
    """A file read in order, with its offset, raising InputError on a short read."""

    def __init__(self, fh: BinaryIO, path: str) -> None:
        self.fh = fh
        self.path = path
        self.offset = 0

    def read(self, n: int, what: str, start: int | None = None) -> bytes:
        data = self.fh.read(n)
        if len(data) < n:
            at = self.offset if start is None else start
            raise self.error(
                f"truncated {what} at offset {at} (wanted {n} bytes, file has {len(data)})", at
            )
        self.offset += n
        return data

    def at_end(self) -> bool:
        data = self.fh.read(1)
        if not data:
            return True
        self.fh.seek(-1, 1)
        return False

    def error(self, message: str, offset: int | None = None) -> InputError:
        if "offset" not in message:
            message += f" at offset {self.offset if offset is None else offset}"
        return InputError(message, Location(self.path))
