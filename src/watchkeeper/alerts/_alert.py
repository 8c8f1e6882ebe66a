from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from watchkeeper.alerts._severity import Severity
from watchkeeper.events import Event, event_to_dict


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Why an alert fired: the event, the field that matched and the exact text.

    Attributes:
        event: The event that matched.
        field: The Sigma field (or detector feature) that matched, e.g. "CommandLine".
        text: The matched text (the span of the tool call, or the field value).
        span: (start, end) offsets of ``text`` in the tool call text, when known.
    """

    event: Event
    field: str = ""
    text: str = ""
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "text": self.text,
            "span": list(self.span) if self.span else None,
            "event": event_to_dict(self.event),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A detection finding (OCSF Detection Finding, class 2004), tagged with ATT&CK.

    Attributes:
        rule_id: Sigma rule id or detector id ("detector:stratum").
        title: Human title.
        severity: Severity.
        attack: ATT&CK technique ids, e.g. ("T1496", "T1571").
        confidence: 0..1, how sure the rule or detector is.
        evidence: The events and text spans behind the alert.
        action: The response taken ("alert", "kill", "freeze", "cut_network", "end_episode").
        rule_source: "builtin", "user", "sigmahq", "detector".
        author: Rule author (kept for DRL 1.1 attribution).
    """

    rule_id: str
    title: str
    severity: Severity
    attack: tuple[str, ...] = ()
    confidence: float = 1.0
    evidence: tuple[Evidence, ...] = ()
    description: str = ""
    ts: float = 0.0
    run_id: str = ""
    episode_id: str = ""
    step: int | None = None
    tool_call_id: str = ""
    sandbox_id: str = ""
    action: str = "alert"
    rule_source: str = ""
    author: str = ""
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())

    def with_action(self, action: str) -> Alert:
        """A copy with the response action recorded."""
        return dataclasses.replace(self, action=action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "attack": list(self.attack),
            "confidence": self.confidence,
            "description": self.description,
            "ts": self.ts,
            "run_id": self.run_id,
            "episode_id": self.episode_id,
            "step": self.step,
            "tool_call_id": self.tool_call_id,
            "sandbox_id": self.sandbox_id,
            "action": self.action,
            "rule_source": self.rule_source,
            "author": self.author,
            "references": list(self.references),
            "evidence": [e.to_dict() for e in self.evidence],
        }
