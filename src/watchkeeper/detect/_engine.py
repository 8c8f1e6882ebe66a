"""The in-process Sigma engine: compiled rules, routed by category, behind a shared prefilter.

Per category the engine keeps the Sigma fields its rules read (the *slots*), one reader that
fetches them from an event in one call, the rules lowered to predicates over the slots, and, per
field, one Aho-Corasick automaton over the casefolded literals the rules need in that field (see
``watchkeeper.rules._prefilter``), shared by all rules. Per event: read the slots, casefold each
once, one automaton pass over each field yields a bit mask of candidate rules; only candidates
and the rules that cannot be prefiltered ("always run") are evaluated. Rules never run on another
category's events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick

from watchkeeper.alerts import Alert, Evidence
from watchkeeper.events import Event
from watchkeeper.normalize import CATEGORY_FIELDS, field_reader
from watchkeeper.rules import RuleSet, SigmaRule, load_rules
from watchkeeper.rules._eval import Pred
from watchkeeper.rules._explain import explain
from watchkeeper.rules._lower import Lowered, lower
from watchkeeper.rules._prefilter import required_clauses


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched an event, with the evidence for it.

    Attributes:
        rule: The rule.
        field: The Sigma field of the first positive match ("" when the rule matched through
            negations only).
        text: The matched text: the substring for contains/startswith/endswith/re, else the value.
        value: The whole value of ``field``.
        offsets: (start, end) of ``text`` in ``value`` when known.
    """

    rule: SigmaRule
    field: str = ""
    text: str = ""
    value: str = ""
    offsets: tuple[int, int] | None = None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value)


_MEMO_SIZE = 8192
"""Field texts whose prefilter bits a route remembers (then it starts afresh)..."""
_MEMO_CHARS = 4 << 20
"""... or this many characters of them."""
_MEMO_TEXT = 16_384
"""Longer field texts are not remembered."""


class _Route:
    """Everything the engine keeps for one category."""

    def __init__(self, category: str, rules: Sequence[SigmaRule]) -> None:
        table = CATEGORY_FIELDS[category]
        used: set[str] = set()
        for rule in rules:
            used |= rule.detection.fields
        if any(r.detection.keywords for r in rules):
            used |= set(table)
        self.names: tuple[str, ...] = tuple(n for n in table if n in used)
        self.slots = {n: i for i, n in enumerate(self.names)}
        self.keyword_slots = tuple(range(len(self.names)))
        self.read: Callable[[Event], list[str]] = field_reader(category, self.names)
        self.rules = tuple(rules)
        self.lowered: tuple[Lowered, ...] = tuple(
            lower(r.detection, self.slots, self.keyword_slots) for r in rules
        )
        self.preds: tuple[Pred, ...] = tuple(x.pred for x in self.lowered)
        self.every = (1 << len(rules)) - 1
        weak = frozenset(f.name for f in table.values() if f.enum)
        nslots = len(self.names)
        # per slot: literal -> [bits of rules whose first clause it is in, bits of other clauses]
        keys: list[dict[str, list[int]]] = [{} for _ in range(nslots)]
        self.always = 0
        self.needs: list[int] = []  # per rule: the bits of its other clauses
        clause_bit = 0
        for index, rule in enumerate(rules):
            clauses = required_clauses(rule.detection, weak)
            if not clauses:
                self.always |= 1 << index
                self.needs.append(0)
                continue
            need = 0
            for position, clause in enumerate(clauses):
                if position == 0:
                    which, bit = 0, 1 << index
                else:
                    which, bit = 1, 1 << clause_bit
                    need |= bit
                    clause_bit += 1
                for field, lit in clause:
                    targets = range(nslots) if field is None else (self.slots[field],)
                    for slot in targets:
                        keys[slot].setdefault(lit, [0, 0])[which] |= bit
            self.needs.append(need)
        self.literals = len({lit for per_slot in keys for lit in per_slot})
        # one automaton per field: a literal only counts in the field a rule reads it from;
        # a hit's value packs the rule bits (low ``width`` bits) and the clause bits (above)
        self.width = len(rules)
        self.automata: tuple[tuple[int, Any], ...] = tuple(
            (slot, _automaton(per_slot, self.width)) for slot, per_slot in enumerate(keys) if per_slot
        )
        self._memo: dict[tuple[int, str], int] = {}
        self._memo_chars = 0

    def values(self, event: Event) -> tuple[list[str], list[str]]:
        o = self.read(event)
        try:
            return o, [v.casefold() for v in o]
        except AttributeError:  # a field holding a non-text value (foreign input)
            o = [_as_text(v) for v in o]
            return o, [v.casefold() for v in o]

    def candidates(self, lo: list[str]) -> int:
        """Rule bits worth evaluating: always-run rules plus those whose clauses all hold.

        A hit of a literal in a field marks the rules whose first clause it is in and the other
        clauses it satisfies; a rule is kept when all its clauses hold.
        """
        bits = 0
        memo = self._memo
        for slot, automaton in self.automata:
            text = lo[slot]
            if text:
                # field values repeat across events (images, the parent's command line of every
                # command of a script): each text is scanned once per slot
                key = (slot, text)
                found = memo.get(key)
                if found is None:
                    found = 0
                    for _, b in automaton.iter(text):
                        found |= b
                    if len(text) <= _MEMO_TEXT:
                        if len(memo) >= _MEMO_SIZE or self._memo_chars > _MEMO_CHARS:
                            memo.clear()
                            self._memo_chars = 0
                        memo[key] = found
                        self._memo_chars += len(text)
                bits |= found
        rules = bits & self.every
        held = bits >> self.width
        mask = self.always
        needs = self.needs
        while rules:
            low = rules & -rules
            rules ^= low
            need = needs[low.bit_length() - 1]
            if need & held == need:
                mask |= low
        return int(mask)


def _automaton(keys: dict[str, list[int]], width: int) -> Any:
    automaton = ahocorasick.Automaton()
    for lit, (rule_bits, clause_bits) in keys.items():
        automaton.add_word(lit, rule_bits | clause_bits << width)
    automaton.make_automaton()
    return automaton


class Engine:
    """Sigma rules compiled once, matched against one event at a time.

    Args:
        rules: The rules (a :class:`~watchkeeper.rules.RuleSet` or any iterable of rules).
        prefilter: Use the shared literal prefilter (True); False evaluates every rule of the
            event's category (same results, slower; kept for testing and comparison).
    """

    def __init__(self, rules: Iterable[SigmaRule], *, prefilter: bool = True) -> None:
        self.rules: tuple[SigmaRule, ...] = tuple(rules)
        self.prefilter = prefilter
        by_category: dict[str, list[SigmaRule]] = {}
        for rule in self.rules:
            by_category.setdefault(rule.category, []).append(rule)
        self._routes = {cat: _Route(cat, rs) for cat, rs in by_category.items()}

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path | str] = (), *, builtin: bool = True, prefilter: bool = True
    ) -> Engine:
        """Load rules from ``paths`` (plus the builtin pack) and compile them; issues are dropped.

        Use :func:`~watchkeeper.rules.load_rules` first to see what could not be loaded.
        """
        return cls(load_rules(paths, builtin=builtin), prefilter=prefilter)

    @classmethod
    def from_ruleset(cls, ruleset: RuleSet, *, prefilter: bool = True) -> Engine:
        """An engine over the rules of a load result."""
        return cls(ruleset.rules, prefilter=prefilter)

    def _hits(self, event: Event) -> tuple[_Route, list[str], list[str], list[int]] | None:
        route = self._routes.get(event.category)
        if route is None:
            return None
        o, lo = route.values(event)
        mask = route.candidates(lo) if self.prefilter else route.every
        preds = route.preds
        hits: list[int] = []
        while mask:
            low = mask & -mask
            index = low.bit_length() - 1
            mask ^= low
            if preds[index](o, lo):
                hits.append(index)
        return route, o, lo, hits

    def matches(self, event: Event) -> list[SigmaRule]:
        """The rules that match ``event``, without evidence (the fastest call)."""
        found = self._hits(event)
        if found is None:
            return []
        route, _, _, hits = found
        return [route.rules[i] for i in hits]

    def match(self, event: Event) -> list[RuleMatch]:
        """The rules that match ``event``, in load order, each with its evidence."""
        found = self._hits(event)
        if found is None:
            return []
        route, o, lo, hits = found
        out = []
        for index in hits:
            why = explain(route.lowered[index], o, lo, route.slots, route.names, route.keyword_slots)
            out.append(RuleMatch(route.rules[index], why.field, why.text, why.value, why.offsets))
        return out

    def alerts(self, event: Event) -> list[Alert]:
        """Alerts for ``event``: one per matching rule, carrying the event's attribution."""
        return [self.alert(m, event) for m in self.match(event)]

    @staticmethod
    def alert(match: RuleMatch, event: Event) -> Alert:
        """The Alert for one match (confidence from the rule status)."""
        rule = match.rule
        return Alert(
            rule_id=rule.id,
            title=rule.title,
            severity=rule.level,
            attack=rule.attack,
            confidence=rule.confidence,
            evidence=(Evidence(event=event, field=match.field, text=match.text, span=event.span),),
            description=rule.description,
            ts=event.ts,
            run_id=event.run_id,
            episode_id=event.episode_id,
            step=event.step,
            tool_call_id=event.tool_call_id,
            sandbox_id=event.sandbox_id,
            rule_source=rule.source,
            author=rule.author,
            references=rule.references,
            tags=rule.tags,
        )

    def always_run(self, category: str) -> tuple[SigmaRule, ...]:
        """The rules of ``category`` the prefilter cannot skip."""
        route = self._routes.get(category)
        if route is None:
            return ()
        return tuple(r for i, r in enumerate(route.rules) if route.always >> i & 1)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per category: rules, always-run rules, prefilter literals, fields read."""
        return {
            cat: {
                "rules": len(r.rules),
                "always_run": bin(r.always).count("1"),
                "literals": r.literals,
                "fields": len(r.names),
            }
            for cat, r in self._routes.items()
        }
