"""Lower a compiled :class:`Detection` onto a category's slots: one predicate per rule.

See ``_eval`` for the predicates of single items; this module assembles them per selection and
condition, orders ANDs cheapest first and joins ORs of RE2 regex selections into one pattern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watchkeeper.rules._eval import Check, Pred, all_of, any_of, item_pred, value_check
from watchkeeper.rules._ir import And, Cond, Detection, FieldItem, Not, Ref, Selection, ValueMatch
from watchkeeper.rules._regex import RuleRegex, combine


@dataclass(frozen=True, slots=True)
class LoweredItem:
    """An item, its predicate, and one check per value (None for fieldref) for explanations."""

    item: FieldItem
    pred: Pred
    checks: tuple[tuple[ValueMatch, Check | None], ...]


@dataclass(frozen=True, slots=True)
class LoweredSelection:
    """A selection's predicate plus its lowered alternatives, for explanations."""

    pred: Pred
    alternatives: tuple[tuple[LoweredItem, ...], ...]


@dataclass(frozen=True, slots=True)
class Lowered:
    """A detection lowered onto slots: the rule predicate and what explains a match."""

    pred: Pred
    selections: Mapping[str, LoweredSelection]
    condition: Cond


_VALUE_COST = {"glob": 3, "cidr": 6, "lt": 3, "lte": 3, "gt": 3, "gte": 3, "fieldref": 2}


def _value_cost(vm: ValueMatch) -> int:
    if vm.kind == "re":
        return 12 if vm.regex is not None and vm.regex.engine == "re2" else 4
    return _VALUE_COST.get(vm.kind, 0)


def item_cost(item: FieldItem, keyword_slots: int) -> int:
    """A rough cost of evaluating an item: literal groups are cheap, regexes dear."""
    cost = 1 + sum(_value_cost(v) for group in item.values for v in group)
    return cost * (keyword_slots if item.field is None else 1)


def _pure_regex(sel: Selection, slots: Mapping[str, int]) -> tuple[int, list[RuleRegex]] | None:
    """(slot, regexes) when a selection is one field matched by any of some RE2 regexes."""
    if len(sel.alternatives) != 1 or len(sel.alternatives[0]) != 1:
        return None
    (item,) = sel.alternatives[0]
    if item.field is None or not item.available or (item.all and len(item.values) > 1):
        return None
    values = [v for group in item.values for v in group]
    if not all(v.kind == "re" and v.regex is not None and v.regex.engine == "re2" for v in values):
        return None
    slot = slots.get(item.field)
    if slot is None:
        return None
    return slot, [v.regex for v in values if v.regex is not None]


def lower(det: Detection, slots: Mapping[str, int], keyword_slots: Sequence[int]) -> Lowered:
    """Lower ``det`` onto the slot numbering ``slots`` (Sigma field -> slot index).

    ANDs evaluate their cheaper parts first; an OR of selections that each test one field
    with RE2 regexes tests that field once with the regexes combined.
    """
    lowered: dict[str, LoweredSelection] = {}
    costs: dict[str, int] = {}
    nkw = len(keyword_slots)
    for sel in det.selections:
        alts = tuple(
            tuple(
                LoweredItem(
                    item,
                    item_pred(item, slots, keyword_slots),
                    tuple(
                        (v, None if v.kind == "fieldref" else value_check(v))
                        for group in item.values
                        for v in group
                    ),
                )
                for item in alt
            )
            for alt in sel.alternatives
        )
        ordered = [sorted(alt, key=lambda x: item_cost(x.item, nkw)) for alt in alts]
        pred = any_of([all_of([x.pred for x in alt]) for alt in ordered])
        lowered[sel.name] = LoweredSelection(pred, alts)
        costs[sel.name] = sum(item_cost(i, nkw) for alt in sel.alternatives for i in alt)
    by_name = {sel.name: sel for sel in det.selections}

    def cost(node: Cond) -> int:
        if isinstance(node, Ref):
            return costs[node.name]
        if isinstance(node, Not):
            return cost(node.child)
        return sum(cost(c) for c in node.children)

    def build(node: Cond) -> Pred:
        if isinstance(node, Ref):
            return lowered[node.name].pred
        if isinstance(node, Not):
            inner = build(node.child)
            return lambda o, lo: not inner(o, lo)
        children = sorted(node.children, key=cost)
        if isinstance(node, And):
            return all_of([build(c) for c in children])
        preds: list[Pred] = []
        regexes: dict[int, list[RuleRegex]] = {}
        for child in children:
            pure = _pure_regex(by_name[child.name], slots) if isinstance(child, Ref) else None
            if pure is None:
                preds.append(build(child))
            else:
                regexes.setdefault(pure[0], []).extend(pure[1])
        for slot, group in regexes.items():
            preds.append(_regex_pred(slot, group))
        return any_of(preds)

    return Lowered(build(det.condition), lowered, det.condition)


def _regex_pred(slot: int, regexes: list[RuleRegex]) -> Pred:
    joined = combine(regexes)
    tests = [joined.test] if joined is not None else [r.test for r in regexes]
    if len(tests) == 1:
        test = tests[0]
        return lambda o, lo: bool(o[slot]) and test(o[slot])
    return lambda o, lo: bool(o[slot]) and any(t(o[slot]) for t in tests)
