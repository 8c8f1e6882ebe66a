"""Prefilter keys: literals a rule needs to see before it can match.

For a detection, :func:`required_literals` returns a set of (field, casefolded literal) keys
such that the rule can only match an event where at least one of those literals occurs in the
casefolded text of its field, or None when no such set exists (the rule must always be
evaluated). The analysis is conservative:

- a value needs its literal (the longest literal run of a wildcard pattern; for a regex, a
  literal run every match contains, or one of a few alternatives such as ``-(W|R)``); a value
  that can match without one (``*``, null, ``''``, exists, numbers, cidr, fieldref, a regex
  with no such run) needs nothing;
- an item (any of its values) needs the union of its values' literals; with ``|all`` it needs
  the literals of any one of its values (the best is kept);
- an AND (items of a map, ``and`` in the condition) needs what any one of its parts needs (the
  best is kept); an OR (alternatives, ``or``, ``1 of``) needs the union of its parts' needs, and
  nothing when any part needs nothing;
- ``not x`` is pushed down with De Morgan; a negated selection needs nothing.

"Best" prefers sets whose shortest literal is longest (literals on fields with few distinct
values, such as ``Initiated: 'true'``, count as length 1), then smaller sets.
"""

from __future__ import annotations

from collections.abc import Iterable

from watchkeeper.rules._ir import (
    And,
    Cond,
    Detection,
    FieldItem,
    Not,
    Or,
    Ref,
    Selection,
    ValueMatch,
)

Key = tuple[str | None, str]
"""(field, literal): the literal must occur in that field (None: in any field)."""

Need = dict[Key, int]
"""key -> score; an event must contain one of the keys."""

_CAP = 16


def _value(vm: ValueMatch, field: str | None) -> Need | None:
    if not vm.required or vm.matches_absent or "" in vm.required:
        return None
    return {(field, lit): min(len(lit), _CAP) for lit in vm.required}


def _union(needs: Iterable[Need | None]) -> Need | None:
    out: Need = {}
    for need in needs:
        if need is None:
            return None
        for lit, score in need.items():
            out[lit] = min(score, out.get(lit, score))
    return out or None


def _score(need: Need) -> tuple[int, int]:
    return (min(need.values()), -len(need))


def _best(needs: Iterable[Need | None]) -> Need | None:
    found = [n for n in needs if n]
    return max(found, key=_score) if found else None


def _item(item: FieldItem, weak: frozenset[str]) -> Need | None:
    if not item.available:
        return None
    groups = [_union(_value(v, item.field) for v in group) for group in item.values]
    need = _best(groups) if item.all else _union(groups)
    if need is not None and item.field in weak:
        need = {key: 1 for key in need}
    return need


def _selection(sel: Selection, weak: frozenset[str]) -> Need | None:
    return _union(_best(_item(i, weak) for i in alt) for alt in sel.alternatives)


def required_literals(det: Detection, weak: frozenset[str] = frozenset()) -> frozenset[Key] | None:
    """(field, literal) keys one of which must occur for ``det`` to match; None if none.

    A key means: the casefolded literal occurs in the casefolded value of that field (for a
    keyword search, field None: of any field).

    Args:
        det: The compiled detection.
        weak: Fields with few distinct values: literals on them are poor keys.
    """
    sels = {s.name: _selection(s, weak) for s in det.selections}

    def need(node: Cond, positive: bool, depth: int = 0) -> Need | None:
        if depth > 200:
            return None
        if isinstance(node, Ref):
            return sels[node.name] if positive else None
        if isinstance(node, Not):
            return need(node.child, not positive, depth + 1)
        parts = [need(c, positive, depth + 1) for c in node.children]
        conjunctive = isinstance(node, And) == positive
        if conjunctive:
            return _best(parts)
        assert isinstance(node, And | Or)
        return _union(parts)

    result = need(det.condition, True)
    return frozenset(result) if result else None
