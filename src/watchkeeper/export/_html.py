"""Small HTML helpers for the report: escaping, formatting, badges.

Everything that comes from a run is untrusted text: it goes through :func:`esc` (or
:func:`attr`) and nothing else, so markup in a command line is shown, never parsed.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

from watchkeeper.alerts import Severity
from watchkeeper.export._attack import canonical, technique_name, technique_url

SEVERITY_COLORS: dict[Severity, str] = {
    Severity.INFORMATIONAL: "#64748b",
    Severity.LOW: "#2563eb",
    Severity.MEDIUM: "#ca8a04",
    Severity.HIGH: "#ea580c",
    Severity.CRITICAL: "#b91c1c",
}
"""Marker and badge colours by severity."""

ACTION_LABELS: dict[str, str] = {
    "alert": "alert only",
    "kill": "process killed",
    "freeze": "sandbox frozen",
    "cut_network": "network cut",
    "end_episode": "episode ended",
    "deny": "tool call denied",
}
"""Words for the response actions."""

_CONTROL = {c: "\N{REPLACEMENT CHARACTER}" for c in range(32) if chr(c) not in "\t\n"}
_CONTROL[127] = "\N{REPLACEMENT CHARACTER}"


def esc(value: object, limit: int | None = None) -> str:
    """HTML-escape any value (quotes too); control characters become U+FFFD.

    With ``limit``, longer text is cut and the number of hidden characters is said.
    """
    text = "" if value is None else str(value)
    more = 0
    if limit is not None and len(text) > limit:
        more = len(text) - limit
        text = text[:limit]
    out = html.escape(text.translate(_CONTROL), quote=True)
    if more:
        out += f'<span class="more">\N{HORIZONTAL ELLIPSIS} {more:,} more characters</span>'
    return out


def attr(value: object, limit: int = 2000) -> str:
    """Escape for an attribute value (cut at ``limit``)."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "\N{HORIZONTAL ELLIPSIS}"
    return html.escape(text.translate(_CONTROL), quote=True)


def utc(ts: float | None) -> str:
    """"2025-01-01 00:00:15.2 UTC" or "" for no time."""
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return ""
    try:
        moment = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 100000} UTC"


def rel(ts: float | None, t0: float) -> str:
    """Seconds since the start: "+15.2 s" (or "" for no time)."""
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return ""
    return f"+{ts - t0:,.1f} s"


def duration(seconds: float | None) -> str:
    """"1 h 02 min", "3 min 05 s", "12.3 s"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "\N{EM DASH}"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(n: float) -> str:
    """Bytes as "2.9 MB" (decimal units)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def severity_badge(severity: Severity) -> str:
    """A coloured severity label."""
    return f'<span class="sev sev-{severity.label}">{severity.label}</span>'


def action_badge(action: str) -> str:
    """The response action as a badge (alert-only actions are quiet)."""
    label = ACTION_LABELS.get(action, action or "alert")
    quiet = " quiet" if action in ("", "alert") else ""
    return f'<span class="action{quiet}" title="{attr(action)}">{esc(label)}</span>'


def technique_link(tid: str, with_name: bool = True) -> str:
    """A plain link to the technique on attack.mitre.org (never loaded by the page)."""
    canon = canonical(tid)
    if canon is None:
        return f'<span class="chip">{esc(tid, 40)}</span>'
    url = technique_url(canon)
    name = technique_name(canon)
    text = f"{esc(canon)}" + (f" {esc(name)}" if with_name and name != canon else "")
    return (
        f'<a class="chip attack" href="{attr(url)}" rel="noopener noreferrer" '
        f'target="_blank" title="{attr(name)}">{text}</a>'
    )


def safe_url(url: str) -> str | None:
    """``url`` if it is a plain http(s) URL that may be shown as a link, else None."""
    text = url.strip()
    if text.lower().startswith(("https://", "http://")) and len(text) < 2000:
        if not any(c in text for c in " \t\n\"'<>`"):
            return text
    return None
