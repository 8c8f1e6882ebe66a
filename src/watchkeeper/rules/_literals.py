"""Literal text every match of a parsed regex contains: the prefilter keys of ``re`` values.

Works on the tree of Python's regex parser (``re._parser``); see :func:`clauses`.
"""

from __future__ import annotations

import re
from typing import Any

_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})

MAX_ALTERNATIVES = 16
MAX_UNION = 256
_RE2_SPACE = (" ", "\t", "\n", "\r", "\f")


class _Literals:
    """Finds literal runs in a parsed pattern.

    Under IGNORECASE only ASCII characters count, and for Python's engine not i/I either: it
    lets ``i`` match the dotless ``ı``, whose casefold has no ``i`` (RE2 does not). Other
    characters have case variants of different lengths. Any other character ends a run. A
    whitespace class counts as its five characters only for RE2 (``linear``), whose class is
    exactly tab, newline, form feed, carriage return and space; Python's matches more.
    """

    def __init__(self, ignorecase: bool, linear: bool = False) -> None:
        self.ignorecase = ignorecase
        self.ascii_space = linear
        self.unsafe = "" if linear else "iI"
        self.memo: dict[tuple[str, int], Any] = {}

    def char(self, code: int) -> tuple[str, ...] | None:
        ch = chr(code)
        if self.ignorecase and (not ch.isascii() or ch in self.unsafe):
            return None
        return (ch,)

    def options(self, name: str, arg: Any, depth: int) -> tuple[str, ...] | None:
        """The exact texts one element matches, if it is a literal or a literal alternation."""
        if name == "LITERAL":
            return self.char(arg)
        if depth >= 20:
            return None
        key = ("options", id(arg))
        if key not in self.memo:
            self.memo[key] = self._options(name, arg, depth)
        result: tuple[str, ...] | None = self.memo[key]
        return result

    def _options(self, name: str, arg: Any, depth: int) -> tuple[str, ...] | None:
        if name == "SUBPATTERN":
            return self.whole(arg[-1], depth + 1)
        if name == "BRANCH":
            return self.branches(arg[1], depth + 1)
        if name == "IN":
            out: list[str] = []
            for op, code in arg:
                if str(op) == "LITERAL":
                    one = self.char(code)
                elif str(op) == "CATEGORY" and str(code) == "CATEGORY_SPACE" and self.ascii_space:
                    one = _RE2_SPACE
                else:
                    one = None
                if one is None:
                    return None
                out.extend(one)
            return tuple(dict.fromkeys(out)) if len(out) <= MAX_ALTERNATIVES else None
        return None

    def whole(self, pattern: Any, depth: int) -> tuple[str, ...] | None:
        out: tuple[str, ...] = ("",)
        for op, arg in pattern:
            options = self.options(str(op), arg, depth)
            if options is None:
                return None
            out = tuple(dict.fromkeys(a + b for a in out for b in options))
            if len(out) > MAX_ALTERNATIVES:
                return None
        return out

    def branches(self, branches: Any, depth: int) -> tuple[str, ...] | None:
        out: list[str] = []
        for branch in branches:
            texts = self.whole(branch, depth)
            if texts is None:
                return None
            out.extend(texts)
        return tuple(dict.fromkeys(out)) if len(out) <= MAX_ALTERNATIVES else None

    def runs(self, pattern: Any, depth: int = 0) -> list[tuple[str, ...]]:
        """Runs of text every match contains, each as a few alternatives."""
        key = ("runs", id(pattern))
        if key not in self.memo:
            self.memo[key] = self._runs(pattern, depth)
        result: list[tuple[str, ...]] = self.memo[key]
        return result

    def _runs(self, pattern: Any, depth: int) -> list[tuple[str, ...]]:
        runs: list[tuple[str, ...]] = []
        current: tuple[str, ...] = ("",)
        for op, arg in pattern:
            name = str(op)
            options = self.options(name, arg, depth)
            if options is None:
                # a group that starts with literal text extends the run, then ends it
                lead = self.prefixes(name, arg, depth) if any(current) else None
                if lead is not None:
                    longer = tuple(dict.fromkeys(a + b for a in current for b in lead))
                    if len(longer) <= MAX_ALTERNATIVES:
                        current = longer
                if any(current):
                    runs.append(current)
                current = ("",)
                if depth < 20 and name == "SUBPATTERN":
                    runs.extend(self.runs(arg[-1], depth + 1))
                elif depth < 20 and name in _REPEATS and arg[0] >= 1:
                    runs.extend(self.runs(arg[2], depth + 1))
                elif depth < 20 and name == "BRANCH":
                    union = self.union(arg[1], depth + 1)
                    if union is not None:
                        runs.append(union)
                continue
            combined = tuple(dict.fromkeys(a + b for a in current for b in options))
            if len(combined) > MAX_ALTERNATIVES:
                if any(current):
                    runs.append(current)
                combined = options
            current = combined
        if any(current):
            runs.append(current)
        return runs


    def prefixes(self, name: str, arg: Any, depth: int) -> tuple[str, ...] | None:
        """The literal texts a non-literal element always starts with (some may be empty)."""
        if depth >= 20:
            return None
        if name == "SUBPATTERN":
            return self.leading(arg[-1], depth + 1)
        if name in _REPEATS and arg[0] >= 1:
            return self.leading(arg[2], depth + 1)
        if name == "BRANCH":
            out: list[str] = []
            for branch in arg[1]:
                lead = self.leading(branch, depth + 1)
                if lead is None:
                    return None
                out.extend(lead)
            merged = tuple(dict.fromkeys(out))
            return merged if len(merged) <= MAX_ALTERNATIVES else None
        return None

    def leading(self, pattern: Any, depth: int) -> tuple[str, ...] | None:
        """The literal texts a sequence always starts with ("" when it may start otherwise)."""
        acc: tuple[str, ...] = ("",)
        for op, arg in pattern:
            name = str(op)
            options = self.options(name, arg, depth)
            if options is None:
                options = self.prefixes(name, arg, depth)
                if options is None:
                    return acc
                acc = tuple(dict.fromkeys(a + b for a in acc for b in options))
                return acc if len(acc) <= MAX_ALTERNATIVES else None
            acc = tuple(dict.fromkeys(a + b for a in acc for b in options))
            if len(acc) > MAX_ALTERNATIVES:
                return None
        return acc

    def union(self, branches: Any, depth: int) -> tuple[str, ...] | None:
        """One literal per branch (its best run): a match contains one of them."""
        out: list[str] = []
        for branch in branches:
            best = _best(self.runs(branch, depth))
            if best is None:
                return None
            out.extend(best)
        merged = tuple(dict.fromkeys(out))
        return merged if len(merged) <= MAX_UNION else None


def _best(runs: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The run whose shortest alternative is longest (then the one with fewer alternatives)."""
    runs = [r for r in runs if all(r)]
    if not runs:
        return None
    return max(runs, key=lambda r: (min(len(x) for x in r), -len(r)))


def _local_flags(pattern: Any, depth: int = 0) -> bool:
    """True when some group sets its own flags, as in ``(?i:...)``."""
    if depth > 50:
        return True
    for op, arg in pattern:
        name = str(op)
        if name == "SUBPATTERN":
            if arg[1] or arg[2] or _local_flags(arg[-1], depth + 1):
                return True
        elif name == "BRANCH":
            if any(_local_flags(b, depth + 1) for b in arg[1]):
                return True
        elif name in _REPEATS:
            if _local_flags(arg[2], depth + 1):
                return True
        elif name in ("ASSERT", "ASSERT_NOT") and _local_flags(arg[1], depth + 1):
            return True
    return False


def clauses(tree: Any, linear: bool = False) -> tuple[tuple[str, ...], ...]:
    """Clauses of casefolded literals: every match contains one literal of each clause.

    ``linear`` says the regex runs on RE2 (which changes what ``\\s`` and IGNORECASE match).
    """
    try:
        ignorecase = bool(tree.state.flags & re.IGNORECASE) or _local_flags(tree)
        runs = _Literals(ignorecase, linear).runs(tree)
    except RecursionError:
        return ()
    clauses = (tuple(dict.fromkeys(x.casefold() for x in run)) for run in runs if all(run))
    return tuple(dict.fromkeys(clauses))


