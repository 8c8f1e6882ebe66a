"""The compiled form of a Sigma detection: field-name based, evaluator-neutral.

The compiler (``_compile``) produces it from YAML; the evaluator (``_eval``) lowers it to fast
predicates over a category's field slots; the prefilter (``_prefilter``) reads the literals it
requires. Nothing here touches events.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from watchkeeper.rules._regex import RuleRegex


class Wild(Enum):
    """A Sigma wildcard inside a string value."""

    STAR = "*"
    QMARK = "?"


Part: TypeAlias = str | Wild
"""A piece of a Sigma string: literal text or a wildcard."""

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueMatch:
    """One value of a field item, after its modifiers.

    Attributes:
        kind: "eq", "contains", "startswith", "endswith", "glob", "any" (``*``: any non-empty
            value), "re", "cidr", "lt", "lte", "gt", "gte", "null", "exists", "fieldref".
        text: The literal (casefolded unless ``cased``) for eq/contains/startswith/endswith;
            the regex source for "re"; the referenced field for "fieldref".
        parts: The wildcard pattern for "glob" (casefolded unless ``cased``).
        cased: Compare against the original text instead of the casefolded text.
        regex: The compiled pattern for "re" (Python's engine or RE2, see ``_regex``).
        network: The network for "cidr".
        number: The bound for lt/lte/gt/gte.
        flag: The expected presence for "exists".
        ref_mode: For "fieldref": how the referenced value is compared ("eq", "contains",
            "startswith", "endswith").
        required: Prefilter keys: clauses of casefolded literals; whenever this value matches,
            the casefolded field text contains, for every clause, one of its literals. Empty
            when there are none.
        raw: The value as written in the rule, for messages.
    """

    kind: str
    text: str = ""
    parts: tuple[Part, ...] = ()
    cased: bool = False
    regex: RuleRegex | None = None
    network: Network | None = None
    number: float = 0.0
    flag: bool = True
    ref_mode: str = "eq"
    required: tuple[tuple[str, ...], ...] = ()
    raw: str = ""

    @property
    def matches_absent(self) -> bool:
        """True when an absent (empty) field satisfies this value."""
        if self.kind == "null":
            return True
        if self.kind == "eq":
            return self.text == ""
        if self.kind == "exists":
            return not self.flag
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldItem:
    """``Field|modifiers: values`` (or keywords when ``field`` is None).

    Attributes:
        field: The canonical Sigma field; None for a keyword item, which searches every field.
        modifiers: The modifiers as written.
        values: One group per value written in the rule; a group holds the variants that value
            stands for (windash and base64offset give several). Any group may match, or every
            group must, with ``all``; within a group any variant may match.
        all: Every value must match (``|all``) instead of any.
        available: False when the category cannot provide the field (then it reads as absent;
            only allowed where the item sits under a negation).
        line: 1-based line of the item in its file.
    """

    field: str | None
    modifiers: tuple[str, ...] = ()
    values: tuple[tuple[ValueMatch, ...], ...] = ()
    all: bool = False
    available: bool = True
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """A named detection: an OR of alternatives, each an AND of field items."""

    name: str
    alternatives: tuple[tuple[FieldItem, ...], ...]
    line: int = 0


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a named selection in a condition."""

    name: str


@dataclass(frozen=True, slots=True)
class And:
    """All children must hold."""

    children: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must hold."""

    children: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child must not hold."""

    child: Cond


Cond: TypeAlias = Ref | And | Or | Not
"""A parsed condition."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """A compiled detection: the selections, the condition and the category it reads.

    Attributes:
        category: Our canonical category ("process_creation", "dns"...).
        selections: The named selections, in file order.
        condition: The condition tree.
        fields: Every field the detection reads (keywords read all fields of the category).
        keywords: True when some selection is a keyword search.
    """

    category: str
    selections: tuple[Selection, ...]
    condition: Cond
    fields: frozenset[str] = field(default_factory=frozenset)
    keywords: bool = False

    def selection(self, name: str) -> Selection:
        """The selection called ``name`` (KeyError if none)."""
        for sel in self.selections:
            if sel.name == name:
                return sel
        raise KeyError(name)
