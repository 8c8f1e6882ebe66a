"""The report's time axis: one inline SVG with a lane per kind of activity.

Lanes, top to bottom: agent steps, processes, connections, DNS, CPU, memory, alerts. Every mark
carries a ``<title>`` (the browser's tooltip), alert markers link to their card, and responses
(kill, cut network...) are drawn as dashed lines across the lanes. No script, no library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from watchkeeper.alerts import Severity
from watchkeeper.export._html import SEVERITY_COLORS, attr, esc, size

_T = TypeVar("_T")

WIDTH = 1100
LEFT = 118
RIGHT = 24
MAX_MARKS = 3000
"""Marks drawn per lane at most (the rest are counted in the lane's tooltip)."""


@dataclass(frozen=True, slots=True)
class Span:
    """Something that lasted: a step, a process, a flow."""

    start: float
    end: float
    label: str
    tip: str
    color: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened at one time: a DNS query, an alert."""

    ts: float
    tip: str
    color: str = ""
    href: str = ""
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the time axis shows."""

    t0: float
    t1: float
    steps: Sequence[Span] = ()
    processes: Sequence[Span] = ()
    flows: Sequence[Span] = ()
    dns: Sequence[Mark] = ()
    cpu: Sequence[tuple[float, float]] = ()
    memory: Sequence[tuple[float, float]] = ()
    alerts: Sequence[Mark] = ()
    responses: Sequence[Mark] = ()


def _ticks(span: float) -> tuple[float, str]:
    """A tick step of 1/2/5 x 10^k seconds giving about 10 ticks, and its unit."""
    raw = span / 10 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power, "s"
    return 10 * power, "s"  # pragma: no cover


def _fmt_tick(seconds: float) -> str:
    if seconds >= 3600:
        h, rem = divmod(int(round(seconds)), 3600)
        return f"{h}:{rem // 60:02d}:{rem % 60:02d}"
    if seconds >= 120:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m}:{s:02d}"
    return f"{seconds:g} s"


def _sample(items: Sequence[_T], limit: int) -> list[_T]:
    if len(items) <= limit:
        return list(items)
    stride = len(items) / limit
    return [items[int(i * stride)] for i in range(limit)]


def render(tl: Timeline) -> str:
    """The SVG element (a string) for ``tl``."""
    t0, t1 = tl.t0, tl.t1
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
        t1 = t0 + 1.0
    plot_w = WIDTH - LEFT - RIGHT

    def x(ts: float) -> float:
        return LEFT + (min(max(ts, t0), t1) - t0) / (t1 - t0) * plot_w

    parts: list[str] = []
    y = 8.0
    lanes: list[tuple[str, float, float]] = []

    def lane(name: str, height: float) -> float:
        nonlocal y
        top = y
        lanes.append((name, top, height))
        y += height + 6
        return top

    # --- steps ---
    top = lane("Agent steps", 26)
    for span in _sample(tl.steps, MAX_MARKS):
        x0, x1 = x(span.start), x(span.end)
        w = max(x1 - x0, 2.0)
        color = span.color or "#94a3b8"
        parts.append(
            f'<g class="tl-step"><title>{esc(span.tip, 600)}</title>'
            f'<rect x="{x0:.1f}" y="{top + 3:.1f}" width="{w:.1f}" height="20" rx="3" '
            f'fill="{attr(color)}" fill-opacity="0.22" stroke="{attr(color)}"/>'
        )
        if w >= 16:
            parts.append(
                f'<text x="{x0 + w / 2:.1f}" y="{top + 17:.1f}" text-anchor="middle" '
                f'class="tl-label">{esc(span.label, 24)}</text>'
            )
        parts.append("</g>")

    # --- processes: packed rows of bars ---
    parts += _packed(tl.processes, lane, x, "Processes", "#475569", 4, 6)
    # --- connections ---
    parts += _packed(tl.flows, lane, x, "Connections", "#0f766e", 4, 7)

    # --- DNS ---
    top = lane("DNS", 18)
    for mark in _sample(tl.dns, MAX_MARKS):
        parts.append(
            f'<circle cx="{x(mark.ts):.1f}" cy="{top + 9:.1f}" r="3.5" '
            f'fill="{attr(mark.color or "#7c3aed")}" fill-opacity="0.75">'
            f"<title>{esc(mark.tip, 600)}</title></circle>"
        )

    # --- CPU and memory ---
    parts += _line(tl.cpu, lane, x, "CPU (cores)", "#2563eb", lambda v: f"{v:.2f}")
    parts += _line(tl.memory, lane, x, "Memory", "#9333ea", lambda v: size(v))

    # --- alerts ---
    top = lane("Alerts", 30)
    seen: dict[int, int] = {}
    for mark in _sample(tl.alerts, MAX_MARKS):
        cx = x(mark.ts)
        bucket = int(cx // 8)
        stack = seen.get(bucket, 0)
        seen[bucket] = stack + 1
        cy = top + 15 - min(stack, 2) * 5 + (5 if stack else 0)
        color = mark.color or SEVERITY_COLORS.get(mark.severity or Severity.LOW, "#64748b")
        r = 7.0
        diamond = f"{cx:.1f},{cy - r:.1f} {cx + r:.1f},{cy:.1f} {cx:.1f},{cy + r:.1f} {cx - r:.1f},{cy:.1f}"
        shape = (
            f'<polygon points="{diamond}" fill="{attr(color)}" stroke="#fff" stroke-width="1.2">'
            f"<title>{esc(mark.tip, 600)}</title></polygon>"
        )
        if mark.href:
            shape = f'<a href="{attr(mark.href)}" class="tl-alert">{shape}</a>'
        parts.append(shape)

    bottom = y
    # --- responses: dashed lines over every lane ---
    for mark in _sample(tl.responses, 200):
        rx = x(mark.ts)
        parts.append(
            f'<line x1="{rx:.1f}" y1="4" x2="{rx:.1f}" y2="{bottom:.1f}" stroke="#b91c1c" '
            f'stroke-width="1.2" stroke-dasharray="4 3"><title>{esc(mark.tip, 600)}</title></line>'
        )

    # --- lane labels, grid and axis ---
    frame: list[str] = []
    for i, (name, ltop, height) in enumerate(lanes):
        if i % 2 == 0:
            frame.append(
                f'<rect x="{LEFT}" y="{ltop - 3:.1f}" width="{plot_w}" height="{height + 6:.1f}" '
                f'fill="#f8fafc"/>'
            )
        frame.append(
            f'<text x="{LEFT - 10}" y="{ltop + height / 2 + 4:.1f}" text-anchor="end" '
            f'class="tl-lane">{esc(name)}</text>'
        )
    step, _ = _ticks(t1 - t0)
    tick = 0.0
    count = 0
    while tick <= (t1 - t0) + 1e-9 and count < 100:
        tx = LEFT + tick / (t1 - t0) * plot_w
        frame.append(
            f'<line x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="{bottom:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" class="tl-tick">'
            f"{esc(_fmt_tick(round(tick, 6)))}</text>"
        )
        tick += step
        count += 1
    height = bottom + 26
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
        f'role="img" aria-label="Timeline of the run" xmlns="http://www.w3.org/2000/svg">'
        + "".join(frame)
        + "".join(parts)
        + f'<line x1="{LEFT}" y1="{bottom:.1f}" x2="{WIDTH - RIGHT}" y2="{bottom:.1f}" '
        f'stroke="#94a3b8"/></svg>'
    )


def _packed(spans: Sequence[Span], lane: Callable[[str, float], float],
            x: Callable[[float], float], name: str, color: str, rows: int,
            row_h: float) -> list[str]:  # fmt: skip
    """Bars packed greedily into ``rows`` sub-rows so overlapping spans stay visible."""
    top = lane(name, rows * row_h + 4)
    ends = [-math.inf] * rows
    out: list[str] = []
    for span in _sample(sorted(spans, key=lambda s: s.start), MAX_MARKS):
        x0 = x(span.start)
        x1 = max(x(span.end), x0 + 3.0)
        row = next((i for i, end in enumerate(ends) if end <= x0), None)
        if row is None:
            row = min(range(rows), key=lambda i: ends[i])
        ends[row] = x1 + 1
        fill = span.color or color
        out.append(
            f'<rect x="{x0:.1f}" y="{top + 2 + row * row_h:.1f}" width="{x1 - x0:.1f}" '
            f'height="{row_h - 2:.1f}" rx="1.5" fill="{attr(fill)}" fill-opacity="0.85">'
            f"<title>{esc(span.tip, 600)}</title></rect>"
        )
    return out


def _line(points: Sequence[tuple[float, float]], lane: Callable[[str, float], float],
          x: Callable[[float], float], name: str, color: str,
          fmt: Callable[[float], str]) -> list[str]:  # fmt: skip
    """A filled line plot of (ts, value) in its own lane, with its peak written."""
    height = 44.0
    top = lane(name, height)
    if not points:
        return [
            f'<text x="{LEFT + 6}" y="{top + height / 2 + 4:.1f}" class="tl-none">'
            "no samples</text>"
        ]
    peak = max(v for _, v in points)
    scale = peak if peak > 0 else 1.0
    coords = [(x(ts), top + height - (v / scale) * (height - 4)) for ts, v in points]
    line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
    area = f"{coords[0][0]:.1f},{top + height:.1f} {line} {coords[-1][0]:.1f},{top + height:.1f}"
    return [
        f'<polygon points="{area}" fill="{color}" fill-opacity="0.15"/>',
        f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.5"/>',
        f'<text x="{WIDTH - RIGHT - 4}" y="{top + 10:.1f}" text-anchor="end" class="tl-peak">'
        f"peak {esc(fmt(peak))}</text>",
    ]
