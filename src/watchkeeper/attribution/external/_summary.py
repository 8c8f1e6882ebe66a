"""Per-trajectory summary of attributed external alerts."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchkeeper.attribution.correlate import Attribution

#: Most distinct signatures counted per trajectory; the rest count under "(other)".
MAX_KEYS = 1000
#: Attributions below this confidence are counted as low-confidence.
LOW_CONFIDENCE = 0.5


def _bump(counter: Counter[Any], key: Any) -> None:
    if key in counter or len(counter) < MAX_KEYS:
        counter[key] += 1
    else:
        counter["(other)"] += 1


@dataclass(slots=True)
class TrajectorySummary:
    """What the external alerts say about one trajectory (``trajectory_id`` None: unattributed).

    Attributes:
        alerts: How many alerts were attributed to it.
        by_signature, by_severity, by_kind: Alert counts per signature, severity label
            ("unknown" when the log has none) and log kind.
        first_alert, last_alert: Alert time range (epoch seconds).
        steps: Alert counts per step index (alerts with no step under -1).
        tool_calls: Alert counts per tool call id.
        low_confidence: Alerts attributed with confidence under 0.5.
    """

    trajectory_id: str | None
    alerts: int = 0
    by_signature: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    first_alert: float = math.inf
    last_alert: float = -math.inf
    steps: Counter[int] = field(default_factory=Counter)
    tool_calls: Counter[str] = field(default_factory=Counter)
    low_confidence: int = 0

    def add(self, attribution: Attribution) -> None:
        """Count one attribution."""
        alert = attribution.alert
        self.alerts += 1
        _bump(self.by_signature, alert.signature)
        self.by_severity[alert.severity.label if alert.severity is not None else "unknown"] += 1
        _bump(self.by_kind, alert.kind)
        self.first_alert = min(self.first_alert, alert.ts)
        self.last_alert = max(self.last_alert, alert.ts)
        _bump(self.steps, attribution.step if attribution.step is not None else -1)
        if attribution.tool_call_id:
            _bump(self.tool_calls, attribution.tool_call_id)
        if attribution.confidence < LOW_CONFIDENCE:
            self.low_confidence += 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (counters most common first)."""
        return {
            "trajectory_id": self.trajectory_id,
            "alerts": self.alerts,
            "first_alert": self.first_alert if self.alerts else None,
            "last_alert": self.last_alert if self.alerts else None,
            "by_signature": dict(self.by_signature.most_common()),
            "by_severity": dict(self.by_severity.most_common()),
            "by_kind": dict(self.by_kind.most_common()),
            "steps": {str(k): v for k, v in sorted(self.steps.items())},
            "tool_calls": dict(self.tool_calls.most_common()),
            "low_confidence": self.low_confidence,
        }


class Summarizer:
    """Accumulates attributions into one TrajectorySummary per trajectory (and unattributed)."""

    def __init__(self) -> None:
        self._by_id: dict[str | None, TrajectorySummary] = {}

    def add(self, attribution: Attribution) -> None:
        """Count one attribution under its trajectory."""
        key = attribution.trajectory_id
        summary = self._by_id.get(key)
        if summary is None:
            summary = self._by_id[key] = TrajectorySummary(key)
        summary.add(attribution)

    def results(self) -> list[TrajectorySummary]:
        """Summaries, most alerts first; the unattributed one (id None) last."""
        found = [s for k, s in self._by_id.items() if k is not None]
        found.sort(key=lambda s: (-s.alerts, s.trajectory_id or ""))
        if None in self._by_id:
            found.append(self._by_id[None])
        return found
