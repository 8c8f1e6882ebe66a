"""The sandbox map: which address each episode had, and when (``--sandbox-map``)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from watchkeeper.attribution.external._alert import LineIssue
from watchkeeper.attribution.external._common import (
    BadField,
    iter_lines,
    norm_ip,
    open_text,
    parse_time,
)
from watchkeeper.errors import InputError, Location
from watchkeeper.trajectories import Trajectory

_EPISODE = ("episode", "episode_id", "trajectory_id", "trajectory", "run_id")
_IP = ("ip", "sandbox_ip", "address", "addr")
_START = ("start", "from", "assigned", "start_ts")
_END = ("end", "to", "released", "end_ts")
#: Trajectory metadata keys read when there is no sandbox map.
META_IP, META_START, META_END = "sandbox_ip", "sandbox_start", "sandbox_end"


@dataclass(frozen=True, slots=True)
class Lease:
    """An episode held ``ip`` from ``start`` to ``end`` (epoch seconds; ``end`` may be inf)."""

    episode: str
    ip: str
    start: float
    end: float
    source: str = ""


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    return None


def _lease(record: dict[str, Any], source: str) -> Lease:
    episode = _pick(record, _EPISODE)
    if isinstance(episode, int | float) and not isinstance(episode, bool):
        episode = str(episode)
    if not isinstance(episode, str) or not episode.strip():
        raise BadField("no episode id (column episode or trajectory_id)")
    ip = norm_ip(_pick(record, _IP))
    if not ip:
        raise BadField("no ip")
    start_value, end_value = _pick(record, _START), _pick(record, _END)
    if start_value is None or start_value == "":
        raise BadField("no start time")
    start = parse_time(start_value, UTC)
    end = math.inf if end_value is None or end_value == "" else parse_time(end_value, UTC)
    if end < start:
        raise BadField("end before start")
    return Lease(episode.strip()[:512], ip, start, end, source)


def load_sandbox_map(path: str | Path, *, max_line_bytes: int = 1024 * 1024) -> Iterator[Lease | LineIssue]:
    """Read a sandbox map: CSV with a header, or JSON lines.

    CSV: ``episode,ip,start,end`` (aliases: ``trajectory_id``, ``sandbox_ip``...); JSONL: one
    object a line with the same keys. ``start``/``end`` are epoch seconds or ISO 8601 (UTC
    when no offset); an empty or missing ``end`` means "still assigned". Bad lines come back
    as LineIssue items.

    Raises:
        InputError: The file does not exist or cannot be opened.
    """
    name = str(path)
    try:
        handle = open_text(name)
    except OSError as exc:
        raise InputError(f"cannot read the sandbox map: {exc.strerror}", Location(name)) from None
    with handle:
        lines = iter_lines(handle, name, max_line_bytes)
        header: list[str] | None = None
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            number, text = entry
            stripped = text.strip()
            if stripped.startswith("#"):
                continue
            where = f"{name}:{number}"
            try:
                if stripped.startswith("{"):
                    try:
                        record = json.loads(stripped)
                    except (ValueError, RecursionError):
                        raise BadField("not valid JSON") from None
                    if not isinstance(record, dict):
                        raise BadField("not a JSON object")
                    yield _lease(record, where)
                    continue
                row = next(csv.reader([text]))
                if header is None:
                    header = [cell.strip().lower() for cell in row]
                    if not any(k in header for k in _EPISODE) or not any(k in header for k in _IP):
                        yield LineIssue(Location(name, number),
                                        "sandbox map CSV header needs episode and ip columns")
                        return
                    continue
                yield _lease(dict(zip(header, (c.strip() for c in row), strict=False)), where)
            except (BadField, csv.Error) as exc:
                yield LineIssue(Location(name, number), str(exc))


def leases_from_metadata(trajectory: Trajectory) -> list[Lease]:
    """Leases a trajectory declares in its metadata (used when there is no sandbox map).

    ``metadata["sandbox_ip"]`` is an address or a list of them; ``sandbox_start`` and
    ``sandbox_end`` (epoch or ISO 8601) bound the lease, by default the first step start and
    the last step end (or start). Without either, no lease is made.
    """
    meta = trajectory.metadata
    value = meta.get(META_IP)
    ips = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    times = [t for s in trajectory.steps for t in (s.ts, s.end_ts) if t is not None]
    times += [c.ts for s in trajectory.steps for c in s.tool_calls if c.ts is not None]
    try:
        start = parse_time(meta[META_START], UTC) if META_START in meta else (
            min(times) if times else None)
        end = parse_time(meta[META_END], UTC) if META_END in meta else (
            max(times) if times else None)
    except BadField:
        return []
    if start is None or end is None or end < start:
        return []
    leases = []
    for ip in ips[:16]:
        try:
            address = norm_ip(ip)
        except BadField:
            continue
        if address:
            leases.append(Lease(trajectory.id, address, start, end, f"{trajectory.source} metadata"))
    return leases
