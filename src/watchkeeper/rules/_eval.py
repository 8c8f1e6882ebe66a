"""Lower a compiled :class:`Detection` to fast predicates over a category's field slots.

An event is read once into two lists indexed by slot: ``o`` (the original text) and ``lo`` (its
casefold). ``""`` means absent. A predicate is ``pred(o, lo) -> bool``. Literal groups become one
C-level call where possible (``str.endswith(tuple)``, set membership); regular expressions see at
most the first 64 KiB of a field; wildcard patterns are matched segment by segment, in linear
time, without regular-expression backtracking.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from watchkeeper.rules._ir import (
    And,
    Cond,
    Detection,
    FieldItem,
    Not,
    Part,
    Ref,
    Selection,
    ValueMatch,
    Wild,
)
from watchkeeper.rules._regex import RuleRegex, combine

Check = Callable[[str, str], bool]
"""``check(original, folded)`` for a present (non-empty) value."""

Pred = Callable[[Sequence[str], Sequence[str]], bool]
"""``pred(o, lo)`` over the slot lists of one event."""


def _const(value: bool) -> Pred:
    return (lambda o, lo: True) if value else (lambda o, lo: False)


# ----------------------------------------------------------------------------- value checks


def _glob_check(parts: tuple[Part, ...], cased: bool) -> Check:
    """Match a ``*``/``?`` pattern against the whole value, segment by segment."""
    segments: list[list[Part]] = [[]]
    for p in parts:
        if p is Wild.STAR:
            segments.append([])
        else:
            segments[-1].append(p)
    start_anchored = parts[0] is not Wild.STAR
    end_anchored = parts[-1] is not Wild.STAR

    def compile_segment(seg: list[Part]) -> tuple[int, str | re.Pattern[str]]:
        if all(isinstance(p, str) for p in seg):
            text = "".join(p for p in seg if isinstance(p, str))
            return len(text), text
        pattern = "".join("." if p is Wild.QMARK else re.escape(p) for p in seg if p is not Wild.STAR)
        length = sum(1 if p is Wild.QMARK else len(p) for p in seg if p is not Wild.STAR)
        return length, re.compile(pattern, re.DOTALL)

    segs = [compile_segment(s) for s in segments]
    min_len = sum(n for n, _ in segs)

    def at(s: str, seg: str | re.Pattern[str], pos: int) -> bool:
        if isinstance(seg, str):
            return s.startswith(seg, pos)
        return seg.match(s, pos) is not None

    def find(s: str, seg: str | re.Pattern[str], pos: int) -> int:
        if isinstance(seg, str):
            return s.find(seg, pos)
        m = seg.search(s, pos)
        return -1 if m is None else m.start()

    if len(segs) == 1:  # no star: ? wildcards only
        length, seg = segs[0]

        def exact(o: str, f: str) -> bool:
            s = o if cased else f
            return len(s) == length and at(s, seg, 0)

        return exact

    first_len, first = segs[0]
    last_len, last = segs[-1]
    middle = segs[1:-1]

    def check(o: str, f: str) -> bool:
        s = o if cased else f
        if len(s) < min_len:
            return False
        pos = 0
        if start_anchored:
            if not at(s, first, 0):
                return False
            pos = first_len
        for length, seg in middle:
            if length == 0:
                continue
            found = find(s, seg, pos)
            if found < 0:
                return False
            pos = found + length
        if end_anchored:
            end = len(s) - last_len
            return end >= pos and at(s, last, end)
        return True

    return check


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _number_check(kind: str, bound: float) -> Check:
    def check(o: str, f: str) -> bool:
        try:
            x = float(o)
        except ValueError:
            return False
        if kind == "lt":
            return x < bound
        if kind == "lte":
            return x <= bound
        if kind == "gt":
            return x > bound
        return x >= bound

    return check


def value_check(vm: ValueMatch) -> Check:
    """A check for one value on a present field (fieldref excluded: it reads two slots)."""
    kind, text = vm.kind, vm.text
    if kind in ("eq", "contains", "startswith", "endswith"):
        if vm.cased:
            return {
                "eq": lambda o, f: o == text,
                "contains": lambda o, f: text in o,
                "startswith": lambda o, f: o.startswith(text),
                "endswith": lambda o, f: o.endswith(text),
            }[kind]
        return {
            "eq": lambda o, f: f == text,
            "contains": lambda o, f: text in f,
            "startswith": lambda o, f: f.startswith(text),
            "endswith": lambda o, f: f.endswith(text),
        }[kind]
    if kind == "glob":
        return _glob_check(vm.parts, vm.cased)
    if kind == "any":
        return lambda o, f: True
    if kind == "re":
        assert vm.regex is not None
        test = vm.regex.test
        return lambda o, f: test(o)
    if kind == "cidr":
        net = vm.network
        assert net is not None

        def in_net(o: str, f: str) -> bool:
            ip = _parse_ip(o)
            return ip is not None and ip.version == net.version and ip in net

        return in_net
    if kind in ("lt", "lte", "gt", "gte"):
        return _number_check(kind, vm.number)
    if kind == "exists":
        return _const_check(vm.flag)
    if kind == "null":
        return _const_check(False)
    raise ValueError(f"no check for {kind!r}")  # pragma: no cover - compiler never emits it


def _const_check(value: bool) -> Check:
    return (lambda o, f: True) if value else (lambda o, f: False)


def _any_check(values: Sequence[ValueMatch]) -> Check:
    """One check for "any of these values" on a present field, grouping literal kinds."""
    eq: dict[bool, set[str]] = {False: set(), True: set()}
    prefix: dict[bool, list[str]] = {False: [], True: []}
    suffix: dict[bool, list[str]] = {False: [], True: []}
    infix: dict[bool, list[str]] = {False: [], True: []}
    checks: list[Check] = []
    linear: list[RuleRegex] = []
    for vm in values:
        if vm.kind == "eq":
            eq[vm.cased].add(vm.text)
        elif vm.kind == "startswith":
            prefix[vm.cased].append(vm.text)
        elif vm.kind == "endswith":
            suffix[vm.cased].append(vm.text)
        elif vm.kind == "contains":
            infix[vm.cased].append(vm.text)
        elif vm.kind in ("any", "exists") and (vm.kind == "any" or vm.flag):
            return _const_check(True)
        elif vm.kind in ("null", "exists"):
            continue
        elif vm.kind == "re" and vm.regex is not None and vm.regex.engine == "re2":
            linear.append(vm.regex)
        else:
            checks.append(value_check(vm))
    joined = combine(linear)
    if joined is not None:
        test = joined.test
        checks.append(lambda o, f: test(o))
    else:
        checks.extend(value_check(ValueMatch(kind="re", regex=r)) for r in linear)
    for cased in (False, True):
        checks[:0] = _literal_checks(
            frozenset(eq[cased]),
            tuple(prefix[cased]),
            tuple(suffix[cased]),
            tuple(dict.fromkeys(infix[cased])),
            cased,
        )
    if not checks:
        return _const_check(False)
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda o, f: a(o, f) or b(o, f)
    group = tuple(checks)
    return lambda o, f: any(c(o, f) for c in group)


def _literal_checks(
    eq: frozenset[str], pre: tuple[str, ...], suf: tuple[str, ...], inf: tuple[str, ...], cased: bool
) -> list[Check]:
    out: list[Check] = []
    if cased:
        if eq:
            out.append(lambda o, f: o in eq)
        if pre:
            out.append(lambda o, f: o.startswith(pre))
        if suf:
            out.append(lambda o, f: o.endswith(suf))
        if len(inf) == 1:
            one = inf[0]
            out.append(lambda o, f: one in o)
        elif inf:
            out.append(lambda o, f: any(map(o.__contains__, inf)))
        return out
    if eq:
        out.append(lambda o, f: f in eq)
    if pre:
        out.append(lambda o, f: f.startswith(pre))
    if suf:
        out.append(lambda o, f: f.endswith(suf))
    if len(inf) == 1:
        one = inf[0]
        out.append(lambda o, f: one in f)
    elif inf:
        out.append(lambda o, f: any(map(f.__contains__, inf)))
    return out


# ----------------------------------------------------------------------------- items


def _fast_item(values: Sequence[ValueMatch], i: int) -> Pred | None:
    """A direct predicate when every value is one folded literal kind (the common case)."""
    kinds = {v.kind for v in values}
    if len(kinds) != 1 or any(v.cased for v in values):
        return None
    kind = kinds.pop()
    texts = tuple(dict.fromkeys(v.text for v in values))
    if kind == "endswith":
        return lambda o, lo: lo[i].endswith(texts)
    if kind == "startswith":
        return lambda o, lo: lo[i].startswith(texts)
    if kind == "eq" and "" not in texts:
        if len(texts) == 1:
            one = texts[0]
            return lambda o, lo: lo[i] == one
        members = frozenset(texts)
        return lambda o, lo: lo[i] in members
    if kind == "contains":
        if len(texts) == 1:
            one = texts[0]
            return lambda o, lo: one in lo[i]
        return lambda o, lo: any(map(lo[i].__contains__, texts))
    return None


def _fieldref_pred(vm: ValueMatch, i: int, slots: Mapping[str, int]) -> Pred:
    j = slots.get(vm.text)
    if j is None:
        return _const(False)
    mode, cased = vm.ref_mode, vm.cased

    def pred(o: Sequence[str], lo: Sequence[str]) -> bool:
        a, b = (o[i], o[j]) if cased else (lo[i], lo[j])
        if not a or not b:
            return False
        if mode == "contains":
            return b in a
        if mode == "startswith":
            return a.startswith(b)
        if mode == "endswith":
            return a.endswith(b)
        return a == b

    return pred


def _slot_any(values: Sequence[ValueMatch], i: int, slots: Mapping[str, int]) -> Pred:
    """Any of ``values`` matches slot ``i``."""
    refs = [_fieldref_pred(v, i, slots) for v in values if v.kind == "fieldref"]
    plain = [v for v in values if v.kind != "fieldref"]
    absent = any(v.matches_absent for v in plain)
    fast = None if absent or refs else _fast_item(plain, i)
    if fast is not None:
        return fast
    check = _any_check(plain) if plain else _const_check(False)

    def pred(o: Sequence[str], lo: Sequence[str]) -> bool:
        f = lo[i]
        if not f:
            return absent
        return check(o[i], f)

    if not refs:
        return pred
    return _or([pred, *refs])


def item_pred(item: FieldItem, slots: Mapping[str, int], keyword_slots: Sequence[int]) -> Pred:
    """The predicate of one field item (or keyword item) over the slot lists."""
    if item.field is None:
        per_slot = [_item_on_slot(item, i, slots) for i in keyword_slots]
        return _or(per_slot)
    i = slots.get(item.field) if item.available else None
    if i is None:  # unavailable field: reads as absent (only allowed under a negation)
        if item.all:
            return _const(all(any(v.matches_absent for v in g) for g in item.values))
        return _const(any(v.matches_absent for g in item.values for v in g))
    return _item_on_slot(item, i, slots)


def _item_on_slot(item: FieldItem, i: int, slots: Mapping[str, int]) -> Pred:
    if not item.all or len(item.values) == 1:
        return _slot_any([v for g in item.values for v in g], i, slots)
    groups = item.values
    if all(len(g) == 1 and g[0].kind == "contains" and not g[0].cased for g in groups):
        texts = tuple(g[0].text for g in groups)
        return lambda o, lo: all(map(lo[i].__contains__, texts))
    return _and([_slot_any(g, i, slots) for g in groups])


def _and(preds: Sequence[Pred]) -> Pred:
    if not preds:
        return _const(True)
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda o, lo: a(o, lo) and b(o, lo)
    group = tuple(preds)
    return lambda o, lo: all(p(o, lo) for p in group)


def _or(preds: Sequence[Pred]) -> Pred:
    if not preds:
        return _const(False)
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda o, lo: a(o, lo) or b(o, lo)
    group = tuple(preds)
    return lambda o, lo: any(p(o, lo) for p in group)


# ----------------------------------------------------------------------------- rules


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
        pred = _or([_and([x.pred for x in alt]) for alt in ordered])
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
            return _and([build(c) for c in children])
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
        return _or(preds)

    return Lowered(build(det.condition), lowered, det.condition)


def _regex_pred(slot: int, regexes: list[RuleRegex]) -> Pred:
    joined = combine(regexes)
    tests = [joined.test] if joined is not None else [r.test for r in regexes]
    if len(tests) == 1:
        test = tests[0]
        return lambda o, lo: bool(o[slot]) and test(o[slot])
    return lambda o, lo: bool(o[slot]) and any(t(o[slot]) for t in tests)
