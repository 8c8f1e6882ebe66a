"""Scoring trajectories: tool calls -> events -> rules -> findings -> a Verdict."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from watchkeeper.alerts import Severity
from watchkeeper.audit._context import TrajectoryContext
from watchkeeper.audit._memo import NO_EFFECTS, Effects, Memo, context_key, fresh_key, is_pure
from watchkeeper.audit._verdict import Finding, Verdict, risk_of
from watchkeeper.audit.extract import events_for_tool_call
from watchkeeper.detect import Engine
from watchkeeper.rules import BUILTIN_PREFIX, RuleIssue, SigmaRule, load_rules
from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._fast import fast_constructor, positional_maker

_EVIDENCE_MAX = 400
_new_finding = fast_constructor(Finding)
_new_verdict = fast_constructor(Verdict)


def behaviour_of(rule: SigmaRule) -> str:
    """The behaviour class of a rule: the builtin pack's file name (``mining``), else ``sigma``."""
    if rule.source == "builtin" and rule.path:
        return PurePosixPath(rule.path.removeprefix(BUILTIN_PREFIX)).stem
    return "sigma"


@dataclass(frozen=True, slots=True)
class _Hit:
    """One rule match in one tool call, independent of the call's attribution."""

    rule: SigmaRule
    evidence: str
    span: tuple[int, int] | None
    field: str
    behaviour: str
    confidence: float


_HEAD = ("step", "tool_call_id")
_TAIL_OF: dict[str, Callable[[_Hit], Any]] = {
    "rule_id": lambda h: h.rule.id,
    "title": lambda h: h.rule.title,
    "severity": lambda h: h.rule.level,
    "attack": lambda h: h.rule.attack,
    "confidence": lambda h: h.confidence,
    "evidence": lambda h: h.evidence,
    "span": lambda h: h.span,
    "behaviour": lambda h: h.behaviour,
    "field": lambda h: h.field,
}
_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))
if _FIELDS[: len(_HEAD)] != _HEAD or set(_FIELDS[len(_HEAD) :]) != set(_TAIL_OF):
    raise TypeError(f"Finding fields changed ({_FIELDS}): update audit._score._TAIL_OF")
_TAIL = tuple(_TAIL_OF[name] for name in _FIELDS[len(_HEAD) :])
_finding_of: Callable[[tuple[Any, ...]], Finding] = positional_maker(Finding) or (
    lambda values: Finding(**dict(zip(_FIELDS, values, strict=True)))
)
"""A Finding from the values of all its fields in order: the memo-hit path builds findings from
(step, call id) + a tail kept per memoised command."""


class _Entry:
    """A memoised pure command: its hits and context effects, and (computed on first use) what a
    trajectory made of this one call concludes: its distinct hits in verdict order, as the
    Finding field values after ``step`` and ``tool_call_id``, its risk and max severity.
    Trajectories of one tool call (a commands JSONL line, a single-step rollout) are the common
    case; their verdict on a memo hit then costs one Finding per distinct hit."""

    __slots__ = ("hits", "effects", "alone")

    def __init__(self, hits: tuple[_Hit, ...], effects: Effects) -> None:
        self.hits = hits
        self.effects = effects
        self.alone: tuple[tuple[tuple[Any, ...], ...], float, Severity | None] | None = None

    def summary(self) -> tuple[tuple[tuple[Any, ...], ...], float, Severity | None]:
        alone = self.alone
        if alone is None:
            # the same selection and order as Auditor.audit: per rule the strongest hit (the first
            # on ties), then by severity, highest first (stable)
            best: dict[str, _Hit] = {}
            for hit in self.hits:
                old = best.get(hit.rule.id)
                if old is None or (hit.rule.level, hit.confidence) > (old.rule.level, old.confidence):
                    best[hit.rule.id] = hit
            ordered = tuple(sorted(best.values(), key=lambda h: -h.rule.level))
            risk = _risk(ordered)
            top = max((h.rule.level for h in ordered), default=None)
            tails = tuple(tuple(get(h) for get in _TAIL) for h in ordered)
            alone = self.alone = (tails, risk, top)
        return alone


def _risk(hits: tuple[_Hit, ...]) -> float:
    """:func:`risk_of` of the findings these hits become."""
    return risk_of([
        _new_finding(step=None, tool_call_id="", rule_id=h.rule.id, title="", severity=h.rule.level,
                     attack=(), confidence=h.confidence, evidence="")
        for h in hits
    ])


class Auditor:
    """Audits trajectories with one compiled engine; cheap to call per trajectory.

    Args:
        engine: The compiled rules.
        rule_issues: Rules that could not be loaded (reported by the CLI).
        run_id: Stamped on every event and finding.
        memo_size: Pure shell commands seen before reuse their findings (see
            ``watchkeeper.audit._memo``); up to this many distinct commands are kept (0: off).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        rule_issues: Sequence[RuleIssue] = (),
        run_id: str = "",
        memo_size: int = 32_768,
    ) -> None:
        self.engine = engine
        self.memo: Memo[_Entry] | None = Memo(memo_size) if memo_size > 0 else None
        self.rule_issues = tuple(rule_issues)
        self.run_id = run_id
        self._behaviour = {r.id: behaviour_of(r) for r in engine.rules}

    def _hits(self, call: ToolCall, ctx: TrajectoryContext) -> tuple[_Hit, ...]:
        """The rule matches of one tool call's events, in event order."""
        text = call.text
        out: list[_Hit] = []
        match = self.engine.match
        for event in events_for_tool_call(call, ctx):
            for m in match(event):
                span = event.span
                if span is not None and 0 <= span[0] <= span[1] <= len(text):
                    evidence = text[span[0] : span[1]]
                else:
                    evidence = m.text
                if len(evidence) > _EVIDENCE_MAX:
                    evidence = evidence[: _EVIDENCE_MAX - 3] + "..."
                rule = m.rule
                out.append(_Hit(rule, evidence, span, m.field, self._behaviour.get(rule.id, "sigma"),
                                rule.confidence))
        return tuple(out)

    def _single(self, trajectory: Trajectory, step: Step, call: ToolCall) -> Verdict | None:
        """The verdict of a trajectory of one pure shell call already in the memo, or None (the
        general path then analyses it; the memo's counters are left to that path)."""
        if call.kind is not ToolKind.SHELL:
            return None
        text = call.text
        key = fresh_key(text) if text else None
        memo = self.memo
        if key is None or memo is None:
            return None
        known = memo.peek(key)
        if known is None:
            return None
        memo.hits += 1
        tails, risk, top = known.summary()
        if tails:
            head = (step.index, call.id)
            findings = tuple([_finding_of(head + tail) for tail in tails])
        else:
            findings = ()
        return _new_verdict(
            trajectory_id=trajectory.id, source=trajectory.source, risk=risk, max_severity=top,
            findings=findings, tool_calls=1, format=trajectory.format, metadata=trajectory.metadata,
        )

    @classmethod
    def from_rules(
        cls, *, rules_dirs: Iterable[Path | str] = (), builtin: bool = True, run_id: str = ""
    ) -> Auditor:
        """An auditor over the built-in pack (unless ``builtin=False``) plus user rule folders."""
        ruleset = load_rules(rules_dirs, builtin=builtin)
        return cls(Engine.from_ruleset(ruleset), rule_issues=ruleset.issues, run_id=run_id)

    def audit(self, trajectory: Trajectory) -> Verdict:
        """Analyse every tool call of ``trajectory`` and return its verdict."""
        steps = trajectory.steps
        if len(steps) == 1 and self.memo is not None and len(steps[0].tool_calls) == 1:
            fast = self._single(trajectory, steps[0], steps[0].tool_calls[0])
            if fast is not None:
                return fast
        ctx = TrajectoryContext(episode_id=trajectory.id, run_id=self.run_id)
        best: dict[tuple[int | None, str, str], Finding] = {}
        calls = 0
        memo = self.memo
        for step in trajectory.steps:
            for call in step.tool_calls:
                calls += 1
                text = call.text
                if memo is not None and call.kind is ToolKind.SHELL and text and is_pure(text, ctx):
                    key = context_key(ctx, text)
                    known = memo.get(key)
                    if known is None:
                        cwd, env, files = ctx.cwd, dict(ctx.env), dict(ctx.files)
                        hits = self._hits(call, ctx.for_step(step, call))
                        effects = Effects.between(cwd, env, files, ctx)
                        size = len(text) + effects.chars + sum(len(h.evidence) for h in hits)
                        memo.put(key, _Entry(hits, effects or NO_EFFECTS), size)
                    else:
                        hits, effects = known.hits, known.effects
                        if effects:
                            effects.apply(ctx.for_step(step, call))
                else:
                    hits = self._hits(call, ctx.for_step(step, call))
                for hit in hits:
                    rule = hit.rule
                    key3 = (step.index, call.id, rule.id)
                    old = best.get(key3)
                    if old is not None and (rule.level, hit.confidence) <= (old.severity, old.confidence):
                        continue
                    best[key3] = _new_finding(
                        step=step.index,
                        tool_call_id=call.id,
                        rule_id=rule.id,
                        title=rule.title,
                        severity=rule.level,
                        attack=rule.attack,
                        confidence=hit.confidence,
                        evidence=hit.evidence,
                        span=hit.span,
                        behaviour=hit.behaviour,
                        field=hit.field,
                    )
        if not best:
            return _new_verdict(
                trajectory_id=trajectory.id,
                source=trajectory.source,
                risk=0.0,
                max_severity=None,
                tool_calls=calls,
                format=trajectory.format,
                metadata=trajectory.metadata,
            )
        findings = tuple(
            sorted(best.values(), key=lambda f: (f.step if f.step is not None else -1, -f.severity))
        )
        max_sev: Severity | None = max((f.severity for f in findings), default=None)
        return _new_verdict(
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
