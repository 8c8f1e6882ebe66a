"""Prefilter keys: literals a rule needs to see before it can match.

For a detection, :func:`required_clauses` returns clauses of (field, casefolded literal) keys:
the rule can only match an event where, for *every* clause, at least one of the clause's
literals occurs in the casefolded text of its field. An empty result means there is no such
clause and the rule must always be evaluated. The analysis is conservative:

- a value needs its literal (every literal run of a wildcard pattern; for a regex, the literal
  runs every match contains, some as a few alternatives such as ``-(W|R)``); a value that can
  match without one (``*``, null, ``''``, exists, numbers, cidr, fieldref, a regex with no such
  run) needs nothing;
- an AND (the items of a map, ``|all``, ``and`` in the condition) needs every clause of its
  parts;
- an OR (several values, alternatives, ``or``, ``1 of``) of parts needs, for each way of picking
  one clause from every part, the union of the picked clauses (distribution; past 64 such
  clauses only the union of each part's best clause is kept), and nothing when any part needs
  nothing;
- ``not x`` is pushed down with De Morgan; a negated selection needs nothing.

"Best" prefers clauses whose shortest literal is longest (literals on fields with few distinct
values, such as ``Initiated: 'true'``, count as length 1), then smaller clauses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from watchkeeper.rules._ir import (
    And,
    Cond,
    Detection,
    FieldItem,
    Not,
    Ref,
    Selection,
    ValueMatch,
)

Key = tuple[str | None, str]
"""(field, literal): the literal must occur in that field (None: in any field)."""

Clause = dict[Key, int]
"""key -> score: an event must contain one of the keys."""

Cnf = list[Clause]
"""Every clause must hold; an empty list requires nothing."""

_CAP = 16
MAX_CLAUSES = 8
"""At most this many clauses are kept per rule (the best ones)."""
MIN_EXTRA_LITERAL = 2
"""Clauses after the best one are kept only when all their literals are this long."""
MAX_DISTRIBUTED = 64
"""An OR is distributed over its parts' clauses up to this many resulting clauses."""


def score(clause: Clause) -> tuple[int, int]:
    """How selective a clause is: its shortest literal's score, then fewer literals."""
    return (min(clause.values()), -len(clause))


def _best(clauses: Cnf) -> Clause | None:
    return max(clauses, key=score) if clauses else None


def _any_of(parts: Iterable[Cnf]) -> Cnf:
    """An OR of parts: the union of each part's best clause."""
    out: Clause = {}
    for part in parts:
        best = _best(part)
        if best is None:
            return []
        for key, value in best.items():
            out[key] = min(value, out.get(key, value))
    return [out] if out else []


def _or(parts: Sequence[Cnf]) -> Cnf:
    """An OR of parts: one clause per way of picking a clause from each part (their union).

    When that would make too many clauses, only the union of the best clauses is kept.
    """
    if len(parts) == 1:
        return parts[0]
    if any(not p for p in parts):
        return []
    count = 1
    for part in parts:
        count *= len(part)
    if count > MAX_DISTRIBUTED:
        return _any_of(parts)
    out: Cnf = [{}]
    for part in parts:
        out = [_merge(a, b) for a in out for b in part]
    return out


def _merge(a: Clause, b: Clause) -> Clause:
    out = dict(a)
    for key, value in b.items():
        out[key] = min(value, out.get(key, value))
    return out


def _value(vm: ValueMatch, field: str | None, weak: bool) -> Cnf:
    if vm.matches_absent:
        return []
    out = []
    for alternatives in vm.required:
        if not alternatives or "" in alternatives:
            continue
        out.append({(field, lit): 1 if weak else min(len(lit), _CAP) for lit in alternatives})
    return out


def _item(item: FieldItem, weak: frozenset[str]) -> Cnf:
    if not item.available:
        return []
    is_weak = item.field in weak
    groups = [_or([_value(v, item.field, is_weak) for v in group]) for group in item.values]
    if item.all:
        return [c for g in groups for c in g]
    return _or(groups)


def _selection(sel: Selection, weak: frozenset[str]) -> Cnf:
    return _or([[c for item in alt for c in _item(item, weak)] for alt in sel.alternatives])


def required_clauses(det: Detection, weak: frozenset[str] = frozenset()) -> list[frozenset[Key]]:
    """Clauses of (field, literal) keys, best first, each of which must hold for a match.

    A key means: the casefolded literal occurs in the casefolded value of that field (for a
    keyword search, field None: of any field). Empty when the rule cannot be prefiltered.

    Args:
        det: The compiled detection.
        weak: Fields with few distinct values: literals on them are poor keys.
    """
    sels = {s.name: _selection(s, weak) for s in det.selections}

    def need(node: Cond, positive: bool, depth: int = 0) -> Cnf:
        if depth > 200:
            return []
        if isinstance(node, Ref):
            return sels[node.name] if positive else []
        if isinstance(node, Not):
            return need(node.child, not positive, depth + 1)
        parts = [need(c, positive, depth + 1) for c in node.children]
        if isinstance(node, And) == positive:  # a conjunction
            return [c for p in parts for c in p]
        return _or(parts)

    clauses = sorted(need(det.condition, True), key=score, reverse=True)
    out: list[frozenset[Key]] = []
    for clause in clauses:
        keys = frozenset(clause)
        if out and min(len(lit) for _, lit in keys) < MIN_EXTRA_LITERAL:
            continue  # one-character keys hit nearly every event: as an extra clause not worth it
        if keys not in out:
            out.append(keys)
    return out[:MAX_CLAUSES]


def required_literals(det: Detection, weak: frozenset[str] = frozenset()) -> frozenset[Key] | None:
    """The best clause of :func:`required_clauses`, or None when the rule has none."""
    clauses = required_clauses(det, weak)
    return clauses[0] if clauses else None
