"""Capture files: pcap and pcapng readers, and a replay through the network flow table."""

from watchkeeper.pcap._common import MAX_BLOCK, MAX_RECORD, CapturedPacket
from watchkeeper.pcap._open import read_capture
from watchkeeper.pcap._pcap import read_pcap
from watchkeeper.pcap._pcapng import read_pcapng
from watchkeeper.pcap._replay import ReplayResult, replay

__all__ = [
    "MAX_BLOCK",
    "MAX_RECORD",
    "CapturedPacket",
    "ReplayResult",
    "read_capture",
    "read_pcap",
    "read_pcapng",
    "replay",
]
