"""Sigma rules: the rule model, the loader (collects every problem) and the compiler.

``load_rules(paths, builtin=True)`` returns a :class:`RuleSet` of compiled :class:`SigmaRule`
and a :class:`RuleIssue` (file:line, reason) for each rule it cannot support. The builtin pack
lives in ``watchkeeper/rules/builtin/``. See docs/rules.md.
"""

from watchkeeper.rules._loader import BUILTIN_PREFIX, load_rules, parse_rules
from watchkeeper.rules._model import (
    CONFIDENCE_BY_STATUS,
    LoadResult,
    LogSource,
    RuleIssue,
    RuleSet,
    SigmaRule,
    attack_ids,
)

__all__ = [
    "BUILTIN_PREFIX",
    "CONFIDENCE_BY_STATUS",
    "LoadResult",
    "LogSource",
    "RuleIssue",
    "RuleSet",
    "SigmaRule",
    "attack_ids",
    "load_rules",
    "parse_rules",
]
