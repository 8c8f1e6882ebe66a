"""Explain a match: the first positive field match of a rule, with the matched text.

Runs only after a rule matched, so it favours clarity over speed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watchkeeper.rules._eval import Check
from watchkeeper.rules._ir import And, Cond, Not, Ref, ValueMatch
from watchkeeper.rules._lower import Lowered, LoweredItem


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a rule matched.

    Attributes:
        field: The Sigma field ("" when the rule matched on negations only).
        text: The matched text (the substring for contains/startswith/endswith/re).
        value: The whole field value.
        offsets: (start, end) of ``text`` in ``value``, when known.
    """

    field: str = ""
    text: str = ""
    value: str = ""
    offsets: tuple[int, int] | None = None


def _span(vm: ValueMatch, o: str, f: str) -> tuple[int, int] | None:
    """Offsets of the matched part in the compared text (original if cased, else folded)."""
    s = o if vm.cased else f
    if vm.kind == "contains":
        at = s.find(vm.text)
        return None if at < 0 else (at, at + len(vm.text))
    if vm.kind == "startswith":
        return (0, len(vm.text))
    if vm.kind == "endswith":
        return (len(s) - len(vm.text), len(s))
    if vm.kind == "re" and vm.regex is not None:
        return vm.regex.span(o)
    return (0, len(s))


def _on_value(
    vm: ValueMatch, check: Check | None, o: str, f: str, other: str
) -> tuple[str, tuple[int, int] | None] | None:
    if not f:
        return ("", None) if vm.matches_absent else None
    if check is None:  # fieldref
        a, b = (o, other) if vm.cased else (f, other.casefold())
        if not b:
            return None
        ok = {
            "contains": b in a,
            "startswith": a.startswith(b),
            "endswith": a.endswith(b),
        }.get(vm.ref_mode, a == b)
        return (o, (0, len(o))) if ok else None
    if vm.kind == "re" and vm.regex is not None:
        span = vm.regex.span(o)  # one search: its span, or None when it does not match
        return None if span is None else (o[span[0] : span[1]], span)
    if not check(o, f):
        return None
    span = _span(vm, o, f)
    if span is None:
        return (o, None)
    start, end = span
    if not (vm.kind == "re" or vm.cased or len(o) == len(f)):
        start, end = _unfold(o, start, end)
    return (o[start:end], (start, end))


def _unfold(o: str, start: int, end: int) -> tuple[int, int]:
    """Map offsets in ``o.casefold()`` back to ``o`` (casefolding may lengthen a character)."""
    folded_starts = []
    pos = 0
    for ch in o:
        folded_starts.append(pos)
        pos += len(ch.casefold())
    return bisect_right(folded_starts, start) - 1, bisect_left(folded_starts, end)


def _item(
    lowered: LoweredItem,
    o: Sequence[str],
    lo: Sequence[str],
    slots: Mapping[str, int],
    names: Sequence[str],
    keyword_slots: Sequence[int],
) -> Explanation | None:
    item = lowered.item
    if item.field is None:
        targets = list(keyword_slots)
    else:
        i = slots.get(item.field) if item.available else None
        if i is None:
            return None
        targets = [i]
    for i in targets:
        for vm, check in lowered.checks:
            other = ""
            if check is None:
                j = slots.get(vm.text)
                other = o[j] if j is not None else ""
            hit = _on_value(vm, check, o[i], lo[i], other)
            if hit is not None:
                text, offsets = hit
                return Explanation(names[i], text, o[i], offsets)
    return None


def explain(
    lowered: Lowered,
    o: Sequence[str],
    lo: Sequence[str],
    slots: Mapping[str, int],
    names: Sequence[str],
    keyword_slots: Sequence[int],
) -> Explanation:
    """The first positive match of a rule that matched ``o``/``lo`` (empty if none is positive).

    ``slots`` maps Sigma fields to slot indexes and ``names`` is its inverse.
    """
    def holds(node: Cond) -> bool:
        if isinstance(node, Ref):
            return lowered.selections[node.name].pred(o, lo)
        if isinstance(node, Not):
            return not holds(node.child)
        if isinstance(node, And):
            return all(holds(c) for c in node.children)
        return any(holds(c) for c in node.children)

    def walk(node: Cond) -> Explanation | None:
        """Explain ``node``, which holds."""
        if isinstance(node, Not):
            return None
        if isinstance(node, Ref):
            sel = lowered.selections[node.name]
            for alt in sel.alternatives:
                if all(x.pred(o, lo) for x in alt):
                    for x in alt:
                        found = _item(x, o, lo, slots, names, keyword_slots)
                        if found is not None:
                            return found
            return None
        conjunction = isinstance(node, And)  # then every child holds
        for child in node.children:
            if conjunction or holds(child):
                found = walk(child)
                if found is not None:
                    return found
        return None

    return walk(lowered.condition) or Explanation()
