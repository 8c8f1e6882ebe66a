"""Sigma values and modifiers: ``Field|mod|mod: value`` to :class:`ValueMatch` alternatives."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from watchkeeper.rules._ir import Part, ValueMatch, Wild
from watchkeeper.rules._problem import RuleProblem
from watchkeeper.rules._regex import analyse_regex

POSITION = ("contains", "startswith", "endswith")
TRANSFORMS = ("windash", "base64", "base64offset")
TYPES = ("re", "cidr", "lt", "lte", "gt", "gte", "exists", "fieldref")
RE_FLAGS = {
    "i": re.IGNORECASE,
    "ignorecase": re.IGNORECASE,
    "m": re.MULTILINE,
    "multiline": re.MULTILINE,
    "s": re.DOTALL,
    "dotall": re.DOTALL,
}
UNSUPPORTED = {
    "utf16le": "events carry decoded text, not UTF-16 bytes",
    "utf16be": "events carry decoded text, not UTF-16 bytes",
    "utf16": "events carry decoded text, not UTF-16 bytes",
    "wide": "events carry decoded text, not UTF-16 bytes",
    "expand": "placeholder expansion needs a pipeline we do not have",
}
KNOWN = frozenset((*POSITION, *TRANSFORMS, *TYPES, *RE_FLAGS, "all", "cased"))

MAX_WINDASH = 4
"""At most this many dashes per value are expanded by ``windash`` (5**4 variants)."""

_WINDASH = re.compile(r"\B[-/]\b")
_DASHES = ("-", "/", "\u2013", "\u2014", "\u2015")


def parse_wildcards(text: str) -> tuple[Part, ...]:
    """Split a Sigma string into literal text and wildcards (``\\*``, ``\\?``, ``\\\\`` escape)."""
    parts: list[Part] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "*?\\":
            buf.append(text[i + 1])
            i += 2
            continue
        if c in "*?":
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Wild.STAR if c == "*" else Wild.QMARK)
        else:
            buf.append(c)
        i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


def _plain(parts: tuple[Part, ...], what: str) -> str:
    if any(isinstance(p, Wild) for p in parts):
        raise RuleProblem(f"modifier {what} on a value with wildcards", kind="value")
    return "".join(p for p in parts if isinstance(p, str))


def base64_offsets(text: str) -> tuple[str, ...]:
    """The three base64 forms of ``text`` at each byte alignment, trimmed to stable characters."""
    data = text.encode()
    start = (0, 2, 3)
    end = (None, -3, -2)
    out = []
    for i in range(3):
        enc = base64.b64encode(b" " * i + data).decode()
        out.append(enc[start[i] : end[(len(data) + i) % 3]])
    return tuple(dict.fromkeys(out))


def _windash(text: str) -> tuple[str, ...]:
    spots = [m.start() for m in _WINDASH.finditer(text)]
    if not spots:
        return (text,)
    if len(spots) > MAX_WINDASH:
        raise RuleProblem(f"windash on a value with more than {MAX_WINDASH} dashes", kind="value")
    variants = [text]
    for pos in spots:
        variants = [v[:pos] + d + v[pos + 1 :] for v in variants for d in _DASHES]
    return tuple(dict.fromkeys(variants))


def _normalise(parts: Iterable[Part]) -> tuple[Part, ...]:
    out: list[Part] = []
    for p in parts:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + p
                continue
        elif p is Wild.STAR and out and out[-1] is Wild.STAR:
            continue
        out.append(p)
    return tuple(out)


def string_match(parts: tuple[Part, ...], *, cased: bool, raw: str) -> ValueMatch:
    """The cheapest ValueMatch for a wildcard pattern (matched against the whole field)."""
    folded = _normalise(p if isinstance(p, Wild) or cased else p.casefold() for p in parts)
    lits = [p for p in folded if isinstance(p, str)]
    required = tuple(dict.fromkeys((lit.casefold(),) for lit in lits))
    star, n = Wild.STAR, len(folded)
    if not any(isinstance(p, Wild) for p in folded):
        text = lits[0] if lits else ""
        return ValueMatch(kind="eq", text=text, cased=cased, required=required, raw=raw)
    if folded == (star,):
        return ValueMatch(kind="any", raw=raw)
    if n == 3 and folded[0] is star and folded[2] is star and isinstance(folded[1], str):
        kind, text = "contains", folded[1]
    elif n == 2 and isinstance(folded[0], str) and folded[1] is star:
        kind, text = "startswith", folded[0]
    elif n == 2 and folded[0] is star and isinstance(folded[1], str):
        kind, text = "endswith", folded[1]
    else:
        return ValueMatch(kind="glob", parts=folded, cased=cased, required=required, raw=raw)
    return ValueMatch(kind=kind, text=text, cased=cased, required=required, raw=raw)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise RuleProblem(f"value of type {type(value).__name__} is not a scalar", kind="value")


def _number(value: Any, mod: str) -> float:
    if isinstance(value, bool):
        raise RuleProblem(f"modifier {mod} needs a number, got {value!r}", kind="value")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RuleProblem(f"modifier {mod} needs a number, got {value!r}", kind="value")


def check_modifiers(mods: tuple[str, ...]) -> None:
    """Refuse unknown, unsupported or conflicting modifier combinations."""
    for mod in mods:
        if mod in UNSUPPORTED:
            raise RuleProblem(f"modifier {mod} is not supported: {UNSUPPORTED[mod]}", kind="modifier")
        if mod not in KNOWN:
            raise RuleProblem(f"unknown modifier {mod!r}", kind="modifier")
    types = [m for m in mods if m in TYPES]
    positions = [m for m in mods if m in POSITION]
    if len(types) > 1:
        raise RuleProblem(f"conflicting modifiers {'|'.join(types)}", kind="modifier")
    if len(positions) > 1:
        raise RuleProblem(f"conflicting modifiers {'|'.join(positions)}", kind="modifier")
    flags = [m for m in mods if m in RE_FLAGS]
    if flags and types != ["re"]:
        raise RuleProblem(f"modifier {flags[0]} only applies to re", kind="modifier")
    kind = types[0] if types else None
    if kind in ("re", "cidr", "lt", "lte", "gt", "gte", "exists"):
        extra = [m for m in mods if m in POSITION or m in TRANSFORMS]
        if extra:
            raise RuleProblem(f"modifier {extra[0]} cannot be combined with {kind}", kind="modifier")
    if kind == "fieldref" and any(m in TRANSFORMS for m in mods):
        raise RuleProblem("fieldref cannot be combined with encodings", kind="modifier")


def value_variants(value: Any, mods: tuple[str, ...]) -> tuple[ValueMatch, ...]:
    """The alternatives one written value stands for under ``mods`` (already checked)."""
    cased = "cased" in mods
    types = [m for m in mods if m in TYPES]
    kind = types[0] if types else None
    position = next((m for m in mods if m in POSITION), None)
    if value is None:
        return (ValueMatch(kind="null", raw="null"),)
    if kind == "exists":
        if not isinstance(value, bool):
            raise RuleProblem(f"modifier exists needs true or false, got {value!r}", kind="value")
        return (ValueMatch(kind="exists", flag=value, raw=str(value).lower()),)
    if kind in ("lt", "lte", "gt", "gte"):
        return (ValueMatch(kind=kind, number=_number(value, kind), raw=str(value)),)
    raw = _scalar_text(value)
    if kind == "re":
        flags = 0
        for m in mods:
            flags |= RE_FLAGS.get(m, 0)
        regex, clauses = analyse_regex(raw, flags)
        return (ValueMatch(kind="re", text=raw, regex=regex, required=clauses, raw=raw),)
    if kind == "cidr":
        try:
            network = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError:
            raise RuleProblem(f"invalid CIDR network {raw!r}", kind="value") from None
        return (ValueMatch(kind="cidr", network=network, raw=raw),)
    if kind == "fieldref":
        return (ValueMatch(kind="fieldref", text=raw, cased=cased, ref_mode=position or "eq", raw=raw),)
    texts: tuple[str, ...] = (raw,)
    encoded = False
    for mod in mods:
        if mod == "windash":
            texts = tuple(v for t in texts for v in _windash(t))
        elif mod == "base64":
            texts = tuple(
                base64.b64encode(_plain(parse_wildcards(t), mod).encode()).decode() for t in texts
            )
            encoded = True
        elif mod == "base64offset":
            texts = tuple(v for t in texts for v in base64_offsets(_plain(parse_wildcards(t), mod)))
            encoded = True
    out = []
    for text in texts:
        parts: tuple[Part, ...] = (text,) if encoded else parse_wildcards(text)
        if position in ("contains", "endswith"):
            parts = (Wild.STAR, *parts)
        if position in ("contains", "startswith"):
            parts = (*parts, Wild.STAR)
        out.append(string_match(parts, cased=cased, raw=raw))
    return tuple(dict.fromkeys(out))
