"""Run the flow table over capture files: the offline twin of the live network sensor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchkeeper.errors import InputError
from watchkeeper.events import Event
from watchkeeper.netproto import decode_link
from watchkeeper.pcap._open import read_capture
from watchkeeper.sensors._net_flows import FlowConfig, FlowTable


@dataclass(slots=True)
class ReplayResult:
    """What a replay read.

    Attributes:
        packets: Records read.
        decoded: Records that decoded to an IP packet.
        errors: InputErrors of truncated or corrupt files (the packets before them were used).
    """

    packets: int = 0
    decoded: int = 0
    errors: list[InputError] = field(default_factory=list)


def replay(
    paths: Sequence[str | Path],
    emit: Callable[[Event], None],
    *,
    config: FlowConfig | None = None,
    local_nets: tuple[str, ...] = (),
    sandbox_id: str = "",
) -> ReplayResult:
    """Feed every packet of the captures, in order, through one flow table.

    Each file gets its own flow table (captures are independent); the table is flushed at the end
    of each file, so every flow ends with a "close" event. A damaged file is read up to the damage,
    its error is recorded and the next file is read.
    """
    result = ReplayResult()
    for path in paths:
        table = FlowTable(emit, config, local_nets=local_nets, source="pcap", sandbox_id=sandbox_id)
        next_expire = 0.0
        last_ts = 0.0
        try:
            for rec in read_capture(path):
                result.packets += 1
                pkt = decode_link(rec.linktype, rec.data)
                if pkt is None:
                    continue
                result.decoded += 1
                ts = rec.ts if rec.ts else last_ts
                last_ts = max(last_ts, ts)
                table.process(pkt, ts)
                if ts >= next_expire:
                    table.expire(ts)
                    next_expire = ts + 1.0
        except InputError as exc:
            result.errors.append(exc)
        table.flush(last_ts)
    return result
