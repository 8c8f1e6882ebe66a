"""Scoring trajectories: tool calls -> events -> rules -> findings -> a Verdict."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from watchkeeper.alerts import Severity
from watchkeeper.audit._context import TrajectoryContext
from watchkeeper.audit._verdict import Finding, Verdict, risk_of
from watchkeeper.audit.extract import events_for_tool_call
from watchkeeper.detect import Engine
from watchkeeper.rules import BUILTIN_PREFIX, RuleIssue, SigmaRule, load_rules
from watchkeeper.trajectories import Trajectory

_EVIDENCE_MAX = 400


def behaviour_of(rule: SigmaRule) -> str:
    """The behaviour class of a rule: the builtin pack's file name (``mining``), else ``sigma``."""
    if rule.source == "builtin" and rule.path:
        return PurePosixPath(rule.path.removeprefix(BUILTIN_PREFIX)).stem
    return "sigma"


class Auditor:
    """Audits trajectories with one compiled engine; cheap to call per trajectory.

    Args:
        engine: The compiled rules.
        rule_issues: Rules that could not be loaded (reported by the CLI).
        run_id: Stamped on every event and finding.
    """

    def __init__(
        self, engine: Engine, *, rule_issues: Sequence[RuleIssue] = (), run_id: str = ""
    ) -> None:
        self.engine = engine
        self.rule_issues = tuple(rule_issues)
        self.run_id = run_id
        self._behaviour = {r.id: behaviour_of(r) for r in engine.rules}

    @classmethod
    def from_rules(
        cls, *, rules_dirs: Iterable[Path | str] = (), builtin: bool = True, run_id: str = ""
    ) -> Auditor:
        """An auditor over the built-in pack (unless ``builtin=False``) plus user rule folders."""
        ruleset = load_rules(rules_dirs, builtin=builtin)
        return cls(Engine.from_ruleset(ruleset), rule_issues=ruleset.issues, run_id=run_id)

    def audit(self, trajectory: Trajectory) -> Verdict:
        """Analyse every tool call of ``trajectory`` and return its verdict."""
        ctx = TrajectoryContext(episode_id=trajectory.id, run_id=self.run_id)
        best: dict[tuple[int | None, str, str], Finding] = {}
        calls = 0
        engine = self.engine
        for step in trajectory.steps:
            for call in step.tool_calls:
                calls += 1
                text = call.text
                for event in events_for_tool_call(call, ctx.for_step(step, call)):
                    for match in engine.match(event):
                        rule = match.rule
                        key = (step.index, call.id, rule.id)
                        span = event.span
                        if span is not None and 0 <= span[0] <= span[1] <= len(text):
                            evidence = text[span[0] : span[1]]
                        else:
                            evidence = match.text
                        if len(evidence) > _EVIDENCE_MAX:
                            evidence = evidence[: _EVIDENCE_MAX - 3] + "..."
                        finding = Finding(
                            step=step.index,
                            tool_call_id=call.id,
                            rule_id=rule.id,
                            title=rule.title,
                            severity=rule.level,
                            attack=rule.attack,
                            confidence=rule.confidence,
                            evidence=evidence,
                            span=span,
                            behaviour=self._behaviour.get(rule.id, "sigma"),
                            field=match.field,
                        )
                        old = best.get(key)
                        if old is None or (finding.severity, finding.confidence) > (
                            old.severity,
                            old.confidence,
                        ):
                            best[key] = finding
        findings = tuple(
            sorted(best.values(), key=lambda f: (f.step if f.step is not None else -1, -f.severity))
        )
        max_sev: Severity | None = max((f.severity for f in findings), default=None)
        return Verdict(
            trajectory_id=trajectory.id,
            source=trajectory.source,
            risk=risk_of(findings),
            max_severity=max_sev,
            findings=findings,
            tool_calls=calls,
            format=trajectory.format,
            metadata=trajectory.metadata,
        )


_default: Auditor | None = None
_default_lock = threading.Lock()


def default_auditor() -> Auditor:
    """The process-wide auditor over the built-in rule pack (compiled once, thread-safe to share)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Auditor.from_rules()
    return _default


def score(trajectory: Trajectory | Any, *, fmt: str | None = None, auditor: Auditor | None = None) -> Verdict:
    """Score one trajectory for use as an RL reward penalty.

    Args:
        trajectory: A :class:`~watchkeeper.trajectories.Trajectory`, or a raw record in any supported
            format (e.g. a list of OpenAI chat messages or a dict with ``messages``).
        fmt: Force the format of a raw record.
        auditor: Use this auditor instead of the default built-in one.

    Returns:
        The verdict; ``verdict.penalty()`` is a ready reward penalty.
    """
    if not isinstance(trajectory, Trajectory):
        from watchkeeper.trajectories import parse_record

        trajectory = parse_record(trajectory, fmt=fmt)
    return (auditor or default_auditor()).audit(trajectory)
