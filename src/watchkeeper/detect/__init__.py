"""Detection: the in-process Sigma engine (``Engine``) and its matches (``RuleMatch``)."""

from watchkeeper.detect._engine import Engine, RuleMatch

__all__ = ["Engine", "RuleMatch"]
