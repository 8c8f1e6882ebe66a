"""Compile a Sigma ``detection`` block into a :class:`Detection` for one category.

Problems are collected, not raised one by one: :func:`compile_detection` returns every problem
it finds in the block (unknown modifiers, unavailable fields, a bad condition...).

Unavailable fields: a field the category cannot provide is a problem when it can make the rule
match (it sits in a selection used positively). When every use is under a ``not`` it reads as
absent, the safe direction: a filter that cannot be evaluated filters nothing, so the rule may
fire more often but never less. One exception is refused too: when reading the field as absent
would let the rule match an event that matches none of its selections (``sel or not filter``),
as the rule would then fire on nearly everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchkeeper.normalize import CATEGORY_FIELDS, resolve_field
from watchkeeper.rules._condition import parse_condition, polarity
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
from watchkeeper.rules._problem import RuleProblem
from watchkeeper.rules._values import check_modifiers, value_variants

MAX_VALUES = 10_000
"""A rule may hold at most this many values in all (a bound against alias bombs)."""

_RESERVED = frozenset({"condition", "timeframe"})


def _line(node: Any, key: Any, default: int) -> int:
    line_of = getattr(node, "line_of", None)
    return int(line_of(key)) if line_of is not None else default


class _Compiler:
    def __init__(self, category: str, line: int) -> None:
        self.category = category
        self.line = line
        self.problems: list[RuleProblem] = []
        self.count = 0

    def problem(self, exc: RuleProblem, line: int) -> None:
        if exc.line is None:
            exc.line = line
        self.problems.append(exc)

    def values(self, raw: Any, mods: tuple[str, ...], line: int) -> tuple[tuple[ValueMatch, ...], ...]:
        items = list(raw) if isinstance(raw, list) else [raw]
        if not items:
            raise RuleProblem("empty list of values", line, kind="value")
        out = []
        for index, item in enumerate(items):
            item_line = _line(raw, index, line) if isinstance(raw, list) else line
            try:
                variants = value_variants(item, mods)
            except RuleProblem as exc:
                exc.line = exc.line or item_line
                raise
            self.count += len(variants)
            if self.count > MAX_VALUES:
                raise RuleProblem(f"more than {MAX_VALUES} values", item_line, kind="value")
            out.append(variants)
        return tuple(out)

    def field_item(self, key: Any, raw: Any, line: int) -> FieldItem:
        if not isinstance(key, str):
            raise RuleProblem(f"field name {key!r} is not text", line, kind="detection")
        name, *mod_list = key.split("|")
        mods = tuple(mod_list)
        try:
            check_modifiers(mods)
        except RuleProblem as exc:
            exc.line = line
            raise
        if isinstance(raw, dict):
            raise RuleProblem(f"field {key!r} maps to a mapping, not values", line, kind="value")
        if not name:
            # ``'|re': ...`` : a keyword with modifiers
            values = self.values(raw, mods if any(m for m in mods) else ("contains",), line)
            return FieldItem(field=None, modifiers=mods, values=values, all="all" in mods, line=line)
        values = self.values(raw, mods, line)
        spec = resolve_field(self.category, name)
        return FieldItem(
            field=spec.name if spec else name,
            modifiers=mods,
            values=values,
            all="all" in mods,
            available=spec is not None,
            line=line,
        )

    def keywords(self, raw: list[Any], line: int) -> FieldItem:
        for index, item in enumerate(raw):
            if isinstance(item, dict | list):
                raise RuleProblem("keyword list mixes values and maps", _line(raw, index, line))
        return FieldItem(field=None, values=self.values(raw, ("contains",), line), line=line)

    def mapping(self, node: Mapping[Any, Any], line: int) -> tuple[FieldItem, ...]:
        if not node:
            raise RuleProblem("empty selection", line)
        items = []
        for key, raw in node.items():
            try:
                items.append(self.field_item(key, raw, _line(node, key, line)))
            except RuleProblem as exc:
                self.problem(exc, _line(node, key, line))
        return tuple(items)

    def selection(self, name: str, node: Any, line: int) -> Selection:
        if isinstance(node, dict):
            return Selection(name=name, alternatives=(self.mapping(node, line),), line=line)
        if isinstance(node, list):
            if not node:
                raise RuleProblem(f"selection {name!r} is empty", line)
            if all(not isinstance(x, dict | list) for x in node):
                return Selection(name=name, alternatives=((self.keywords(node, line),),), line=line)
            alternatives = []
            for index, item in enumerate(node):
                item_line = _line(node, index, line)
                if isinstance(item, dict):
                    alternatives.append(self.mapping(item, item_line))
                elif isinstance(item, list):
                    raise RuleProblem(f"selection {name!r} nests a list in a list", item_line)
                else:
                    alternatives.append((self.keywords([item], item_line),))
            return Selection(name=name, alternatives=tuple(alternatives), line=line)
        if isinstance(node, str | int | float) and not isinstance(node, bool):
            return Selection(name=name, alternatives=((self.keywords([node], line),),), line=line)
        raise RuleProblem(f"selection {name!r} is neither a map nor a list", line)

    def condition(self, raw: Any, names: list[str], line: int) -> Cond:
        texts = raw if isinstance(raw, list) else [raw]
        if not texts or not all(isinstance(t, str) for t in texts):
            raise RuleProblem("condition must be text", line, kind="condition")
        conds = []
        for text in texts:
            try:
                conds.append(parse_condition(text, names))
            except RuleProblem as exc:
                exc.line = line
                raise
        return conds[0] if len(conds) == 1 else Or(tuple(conds))

    def check_fields(self, selections: list[Selection], cond: Cond) -> list[Selection]:
        """Report unavailable fields that can make the rule match; resolve fieldrefs."""
        signs = polarity(cond)
        out = []
        first_missing: tuple[str, int] | None = None
        always: set[str] = set()  # selections that hold on every event (absent fields)
        for sel in selections:
            positive = True in signs.get(sel.name, set())
            alternatives = []
            for alt in sel.alternatives:
                items = []
                for item in alt:
                    refs = [v for group in item.values for v in group if v.kind == "fieldref"]
                    missing = [] if item.available else [str(item.field)]
                    missing += [r.text for r in refs if resolve_field(self.category, r.text) is None]
                    if missing and positive:
                        self.problems.append(
                            RuleProblem(
                                f"field {missing[0]} not available for category {self.category}",
                                item.line,
                                kind="field",
                            )
                        )
                    elif missing and first_missing is None:
                        first_missing = (missing[0], item.line)
                    if refs:
                        item = _resolve_refs(item, self.category)
                    items.append(item)
                alternatives.append(tuple(items))
                if all(not i.available and _absent_value(i) for i in alt):
                    always.add(sel.name)
            out.append(Selection(name=sel.name, alternatives=tuple(alternatives), line=sel.line))
        if first_missing is not None and _holds(cond, always):
            name, line = first_missing
            self.problems.append(
                RuleProblem(
                    f"field {name} not available for category {self.category}"
                    " (the rule would match on its absence alone)",
                    line,
                    kind="field",
                )
            )
        return out


def _absent_value(item: FieldItem) -> bool:
    """What an item on an absent field evaluates to."""
    if item.all:
        return all(any(v.matches_absent for v in g) for g in item.values)
    return any(v.matches_absent for g in item.values for v in g)


def _holds(cond: Cond, true: set[str]) -> bool:
    """The condition's value when exactly the selections in ``true`` hold."""
    if isinstance(cond, Ref):
        return cond.name in true
    if isinstance(cond, Not):
        return not _holds(cond.child, true)
    if isinstance(cond, And):
        return all(_holds(c, true) for c in cond.children)
    return any(_holds(c, true) for c in cond.children)


def _resolve_refs(item: FieldItem, category: str) -> FieldItem:
    from dataclasses import replace

    groups = []
    for group in item.values:
        new = []
        for v in group:
            if v.kind == "fieldref":
                spec = resolve_field(category, v.text)
                v = replace(v, text=spec.name if spec else v.text)
            new.append(v)
        groups.append(tuple(new))
    return replace(item, values=tuple(groups), available=item.available)


def compile_detection(node: Any, category: str, line: int) -> tuple[Detection | None, list[RuleProblem]]:
    """Compile ``detection`` for ``category`` (canonical); the problems found, all of them."""
    comp = _Compiler(category, line)
    if not isinstance(node, dict):
        return None, [RuleProblem("detection is not a mapping", line)]
    if "condition" not in node:
        return None, [RuleProblem("detection has no condition", line)]
    selections: list[Selection] = []
    for name, raw in node.items():
        if name in _RESERVED:
            continue
        sel_line = _line(node, name, line)
        if not isinstance(name, str):
            comp.problem(RuleProblem(f"selection name {name!r} is not text"), sel_line)
            continue
        try:
            selections.append(comp.selection(name, raw, sel_line))
        except RuleProblem as exc:
            comp.problem(exc, sel_line)
    names = [s.name for s in selections]
    cond_line = _line(node, "condition", line)
    try:
        cond = comp.condition(node["condition"], names, cond_line)
    except RuleProblem as exc:
        comp.problem(exc, cond_line)
        return None, comp.problems
    selections = comp.check_fields(selections, cond)
    if comp.problems:
        return None, comp.problems
    fields: set[str] = set()
    keywords = False
    for sel in selections:
        for alt in sel.alternatives:
            for item in alt:
                if item.field is None:
                    keywords = True
                elif item.available:
                    fields.add(item.field)
                for group in item.values:
                    fields.update(v.text for v in group if v.kind == "fieldref")
    if keywords:
        fields.update(CATEGORY_FIELDS[category])
    fields &= set(CATEGORY_FIELDS[category])
    detection = Detection(
        category=category,
        selections=tuple(selections),
        condition=cond,
        fields=frozenset(fields),
        keywords=keywords,
    )
    return detection, []
