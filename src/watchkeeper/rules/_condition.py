"""The Sigma condition language: ``and``/``or``/``not``, parentheses, ``1 of x*``, ``all of them``.

Precedence, highest first: ``not``, ``and``, ``or``. Aggregations (``| count() > 5``) and
``near`` are refused. Nesting and length are bounded.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from watchkeeper.rules._ir import And, Cond, Not, Or, Ref
from watchkeeper.rules._problem import RuleProblem

MAX_CONDITION_CHARS = 4096
MAX_DEPTH = 64

_TOKEN = re.compile(r"\s*(\(|\)|\||[^\s()|]+)")
_KEYWORDS = frozenset({"and", "or", "not", "of", "them", "all", "near"})


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space run
            raise RuleProblem(f"cannot read condition at {text[pos:]!r}", kind="condition")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str], names: Sequence[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.names = names
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise RuleProblem("condition ends too early", kind="condition")
        self.pos += 1
        return tok

    def parse(self) -> Cond:
        cond = self.or_expr()
        tok = self.peek()
        if tok == "|":
            raise RuleProblem(
                "aggregation in condition (| count() ...) is not supported", kind="aggregation"
            )
        if tok is not None and tok.lower() == "near":
            raise RuleProblem("near (temporal) conditions are not supported", kind="aggregation")
        if tok is not None:
            raise RuleProblem(f"unexpected {tok!r} in condition", kind="condition")
        return cond

    def or_expr(self) -> Cond:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.lower() == "or":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Cond:
        items = [self.not_expr()]
        while (tok := self.peek()) is not None and tok.lower() == "and":
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Cond:
        tok = self.peek()
        if tok is not None and tok.lower() == "not":
            self.take()
            self.enter()
            child = self.not_expr()
            self.depth -= 1
            return Not(child)
        return self.atom()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleProblem(f"condition nests deeper than {MAX_DEPTH}", kind="condition")

    def atom(self) -> Cond:
        tok = self.take()
        low = tok.lower()
        if tok == "(":
            self.enter()
            inner = self.or_expr()
            self.depth -= 1
            if self.take() != ")":
                raise RuleProblem("unbalanced parentheses in condition", kind="condition")
            return inner
        if tok in (")", "|"):
            raise RuleProblem(f"unexpected {tok!r} in condition", kind="condition")
        nxt = self.peek()
        if nxt is not None and nxt.lower() == "of":
            self.take()
            return self.quantified(low, self.take())
        if low == "near":
            raise RuleProblem("near (temporal) conditions are not supported", kind="aggregation")
        if low in _KEYWORDS:
            raise RuleProblem(f"unexpected {tok!r} in condition", kind="condition")
        if tok not in self.names:
            raise RuleProblem(f"condition names undefined selection {tok!r}", kind="condition")
        return Ref(tok)

    def quantified(self, quantifier: str, target: str) -> Cond:
        if quantifier not in ("1", "all", "any"):
            raise RuleProblem(
                f"'{quantifier} of' is not supported (only '1 of' and 'all of')", kind="condition"
            )
        if target.lower() == "them":
            picked = [n for n in self.names if not n.startswith("_")]
        else:
            picked = [n for n in self.names if fnmatch.fnmatchcase(n, target)]
        if not picked:
            raise RuleProblem(f"'{quantifier} of {target}' matches no selection", kind="condition")
        refs = tuple(Ref(n) for n in picked)
        if len(refs) == 1:
            return refs[0]
        return And(refs) if quantifier == "all" else Or(refs)


def parse_condition(text: str, names: Sequence[str]) -> Cond:
    """Parse one condition over the selection ``names``; RuleProblem if it cannot be supported."""
    if len(text) > MAX_CONDITION_CHARS:
        raise RuleProblem(f"condition longer than {MAX_CONDITION_CHARS} characters", kind="condition")
    tokens = _tokens(text)
    if not tokens:
        raise RuleProblem("empty condition", kind="condition")
    return _Parser(tokens, names).parse()


def polarity(cond: Cond) -> dict[str, set[bool]]:
    """For each selection the condition names: the polarities (True: positive) it appears with."""
    out: dict[str, set[bool]] = {}
    stack: list[tuple[Cond, bool]] = [(cond, True)]
    while stack:
        node, positive = stack.pop()
        if isinstance(node, Ref):
            out.setdefault(node.name, set()).add(positive)
        elif isinstance(node, Not):
            stack.append((node.child, not positive))
        else:
            stack.extend((c, positive) for c in node.children)
    return out
