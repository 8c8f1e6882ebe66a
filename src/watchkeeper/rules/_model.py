"""The rule model: a loaded Sigma rule, a problem with a rule, and what a load returns."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from watchkeeper.alerts import Severity
from watchkeeper.rules._ir import Detection

_ATTACK_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)

CONFIDENCE_BY_STATUS = {
    "stable": 1.0,
    "test": 1.0,
    "experimental": 0.8,
    "deprecated": 0.5,
    "unsupported": 0.5,
}
"""Alert confidence by rule status; a rule without a (known) status counts as experimental."""


def attack_ids(tags: tuple[str, ...]) -> tuple[str, ...]:
    """ATT&CK technique ids from Sigma tags: ``attack.t1496.001`` -> ``T1496.001``.

    Tactic tags (``attack.impact``), groups and software tags are ignored.
    """
    out: list[str] = []
    for tag in tags:
        m = _ATTACK_TECHNIQUE.match(tag.strip())
        if m:
            technique = m.group(1).upper()
            if technique not in out:
                out.append(technique)
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSource:
    """A rule's ``logsource``: what it was written for."""

    category: str = ""
    product: str = ""
    service: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SigmaRule:
    """One loaded and compiled Sigma rule.

    Attributes:
        id: The rule id (the file stem when the rule has none).
        level: Sigma ``level`` as a Severity (medium when absent).
        attack: ATT&CK technique ids derived from ``tags``.
        logsource: As written; ``detection.category`` is the category it runs on.
        path: The file the rule came from (a package path for builtin rules).
        line: 1-based line where the rule starts in that file.
        source: "builtin" (shipped in the package) or "user".
        detection: The compiled detection.
    """

    id: str
    title: str
    detection: Detection
    status: str = ""
    description: str = ""
    references: tuple[str, ...] = ()
    author: str = ""
    date: str = ""
    modified: str = ""
    level: Severity = Severity.MEDIUM
    tags: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    logsource: LogSource = LogSource()
    path: str = ""
    line: int = 1
    source: str = "user"

    @property
    def category(self) -> str:
        """The event category the rule runs on."""
        return self.detection.category

    @property
    def confidence(self) -> float:
        """How much an alert from this rule is worth (see CONFIDENCE_BY_STATUS)."""
        return CONFIDENCE_BY_STATUS.get(self.status.lower(), 0.8)


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """A rule (or file) that could not be loaded, and why.

    Attributes:
        path: The file.
        line: 1-based line of the offending field when known, else of the rule.
        rule_id: The rule id if it could be read, else "".
        title: The rule title if it could be read, else "".
        reason: One line saying what is not supported.
        kind: A short class of the reason, for summaries: "yaml", "meta", "logsource",
            "field", "modifier", "value", "condition", "aggregation", "correlation",
            "detection", "duplicate".
    """

    path: str
    line: int | None
    rule_id: str
    title: str
    reason: str
    kind: str = "detection"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        who = " ".join(p for p in (self.rule_id, self.title) if p)
        return f"{where}: {who}: {self.reason}" if who else f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What a load returns: the rules that compiled and an issue for every one that did not."""

    rules: tuple[SigmaRule, ...] = ()
    issues: tuple[RuleIssue, ...] = ()

    def __iter__(self) -> Iterator[SigmaRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def unsupported(self) -> int:
        """How many rules (or unreadable files) have at least one issue."""
        return len({(i.path, i.rule_id or i.title or i.line) for i in self.issues})

    def by_kind(self) -> Counter[str]:
        """Unsupported rules counted by the kind of their first issue."""
        seen: dict[tuple[str, object], str] = {}
        for issue in self.issues:
            seen.setdefault((issue.path, issue.rule_id or issue.title or issue.line), issue.kind)
        return Counter(seen.values())

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules, self.issues + other.issues)


LoadResult = RuleSet
"""Another name for :class:`RuleSet`."""
