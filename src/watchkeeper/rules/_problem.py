"""The problem a rule compiler reports: why a rule cannot be supported, and where."""

from __future__ import annotations


class RuleProblem(Exception):
    """Why a rule cannot be supported; ``line`` is 1-based (None: the rule's own line)."""

    def __init__(self, reason: str, line: int | None = None, kind: str = "detection") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.kind = kind
