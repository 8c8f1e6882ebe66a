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

from watchkeeper.rules._ir import (
    FieldItem,
    Part,
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
    return any_of([pred, *refs])


def item_pred(item: FieldItem, slots: Mapping[str, int], keyword_slots: Sequence[int]) -> Pred:
    """The predicate of one field item (or keyword item) over the slot lists."""
    if item.field is None:
        per_slot = [_item_on_slot(item, i, slots) for i in keyword_slots]
        return any_of(per_slot)
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
    return all_of([_slot_any(g, i, slots) for g in groups])


def all_of(preds: Sequence[Pred]) -> Pred:
    """A predicate true when every one of ``preds`` is (evaluated in order, short-circuit)."""
    if not preds:
        return _const(True)
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda o, lo: a(o, lo) and b(o, lo)
    group = tuple(preds)
    return lambda o, lo: all(p(o, lo) for p in group)


def any_of(preds: Sequence[Pred]) -> Pred:
    """A predicate true when one of ``preds`` is (evaluated in order, short-circuit)."""
    if not preds:
        return _const(False)
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda o, lo: a(o, lo) or b(o, lo)
    group = tuple(preds)
    return lambda o, lo: any(p(o, lo) for p in group)
