"""Rule regular expressions that run in bounded time on hostile text.

Python's ``re`` backtracks: ``(a|aa)*c`` is exponential and even ``a.*b`` is quadratic, which on
a 64 KiB command line means seconds per event. So each rule regex is checked when it is loaded:

- a *simple* pattern runs on Python's engine: no unbounded repeat (``*``, ``+``, ``{n,}``), no
  repeat inside a repeat, no repeated alternation, and the bounds of all repeats multiplied
  together at most 100; its cost is at most about 100 steps per character;
- any other pattern runs on RE2 (package ``google-re2``), whose run time is linear in the text;
- a pattern that is neither simple nor accepted by RE2 (lookaround or backreference next to
  unbounded repeats), or any non-simple pattern when RE2 is not installed, is refused.

Python's parser is the reference for the syntax (a pattern it rejects is invalid). Either way a
regex only sees the first 64 KiB of a field.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from watchkeeper.rules._literals import clauses
from watchkeeper.rules._problem import RuleProblem

REGEX_TEXT_LIMIT = 64 * 1024
"""Regular expressions only ever see the first 64 KiB of a field."""

MAX_PATTERN_CHARS = 4096
MAX_SIMPLE_COST = 100

_parser: Any = importlib.import_module("re._parser")
_MAXREPEAT: Any = _parser.MAXREPEAT
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})

try:
    _re2: Any = importlib.import_module("re2")
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None


class RuleRegex:
    """A compiled rule regex: a fast yes/no test and the span of the first match.

    Both look at the first 64 KiB of the text only. ``engine`` is "re" or "re2".
    """

    __slots__ = ("source", "flags", "engine", "test", "_span")

    def __init__(
        self,
        source: str,
        flags: int,
        engine: str,
        test: Callable[[str], bool],
        span: Callable[[str], tuple[int, int] | None],
    ) -> None:
        self.source = source
        self.flags = flags
        self.engine = engine
        self.test = test
        self._span = span

    def span(self, text: str) -> tuple[int, int] | None:
        """(start, end) of the first match in ``text`` (its first 64 KiB), or None."""
        return self._span(text[:REGEX_TEXT_LIMIT])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RuleRegex) and (self.source, self.flags) == (other.source, other.flags)

    def __hash__(self) -> int:
        return hash((self.source, self.flags))

    def __repr__(self) -> str:
        return f"RuleRegex({self.source!r}, {self.engine})"


def _python(pattern: re.Pattern[str], source: str, flags: int) -> RuleRegex:
    search = pattern.search
    limit = REGEX_TEXT_LIMIT

    def test(text: str) -> bool:
        return search(text if len(text) <= limit else text[:limit]) is not None

    def span(text: str) -> tuple[int, int] | None:
        m = search(text)
        return None if m is None else m.span()

    return RuleRegex(source, flags, "re", test, span)


def _no_surrogates(text: str) -> str:
    """Lone surrogates (from undecodable input) cannot be UTF-8 encoded: one "?" each."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _linear(compiled: Any, source: str, flags: int) -> RuleRegex:
    limit = REGEX_TEXT_LIMIT
    raw = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(_re2, "_Anchor", None), "UNANCHORED", None)
    search = compiled.search

    def public_test(text: str) -> bool:
        text = text if len(text) <= limit else text[:limit]
        try:
            return search(text) is not None
        except UnicodeEncodeError:
            return search(_no_surrogates(text)) is not None

    test = public_test
    if raw is not None and anchor is not None and hasattr(raw, "Match"):
        match = raw.Match
        # the wrapper's public search decodes every span back to str offsets; a yes/no test
        # only needs RE2's own answer
        def raw_test(text: str) -> bool:
            try:
                data = (text if len(text) <= limit else text[:limit]).encode()
            except UnicodeEncodeError:
                data = _no_surrogates(text[:limit]).encode()
            return bool(match(anchor, data, 0, len(data))[0][0] >= 0)

        try:
            if raw_test("probe") == public_test("probe"):
                test = raw_test
        except Exception:  # a wrapper release with another private API: keep the public one
            test = public_test

    def span(text: str) -> tuple[int, int] | None:
        try:
            m = search(text)
        except UnicodeEncodeError:
            m = search(_no_surrogates(text))
        return None if m is None else (int(m.start()), int(m.end()))

    return RuleRegex(source, flags, "re2", test, span)


def re2_available() -> bool:
    """True when the RE2 engine (``google-re2``) is installed."""
    return _re2 is not None


def _cost(pattern: Any, in_repeat: bool = False, depth: int = 0) -> int | None:
    """The product of repeat bounds of a simple pattern, or None when it is not simple."""
    if depth > 50:
        return None
    total = 1
    for op, arg in pattern:
        name = str(op)
        sub: list[Any] = []
        if name in _REPEATS:
            low, high, body = arg
            if high == _MAXREPEAT or in_repeat:
                return None
            inner = _cost(body, True, depth + 1)
            if inner is None:
                return None
            total *= (high + 1) * inner
        elif name == "BRANCH":
            if in_repeat:
                return None
            sub = list(arg[1])
        elif name == "SUBPATTERN":
            sub = [arg[-1]]
        elif name in ("ASSERT", "ASSERT_NOT"):
            sub = [arg[1]]
        elif name == "ATOMIC_GROUP":
            sub = [arg]
        elif name == "GROUPREF_EXISTS":
            sub = [p for p in arg[1:] if p is not None]
        for part in sub:
            inner = _cost(part, in_repeat, depth + 1)
            if inner is None:
                return None
            total *= inner
        if total > MAX_SIMPLE_COST:
            return None
    return total


_INLINE = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


def _re2_compile(source: str, flags: int) -> tuple[Any, str]:
    """The RE2 pattern (or None) and RE2's complaint."""
    if _re2 is None:
        return None, "RE2 (package google-re2) is not installed"
    letters = "".join(c for f, c in _INLINE if flags & f)
    options = _re2.Options()
    options.log_errors = False
    options.never_capture = True
    try:
        return _re2.compile(f"(?{letters}){source}" if letters else source, options=options), ""
    except Exception as exc:  # re2.error is not a public class in every release
        text = exc.args[0] if exc.args else exc
        return None, text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _parse(source: str, flags: int) -> Any:
    if len(source) > MAX_PATTERN_CHARS:
        raise RuleProblem(f"regular expression longer than {MAX_PATTERN_CHARS} characters", kind="value")
    try:
        return _parser.parse(source, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise RuleProblem(f"invalid regular expression {source!r}: {exc}", kind="value") from None


def compile_regex(source: str, flags: int) -> RuleRegex:
    """Compile a rule regex for a bounded-time engine; RuleProblem when that is not possible."""
    return _compile(source, flags, _parse(source, flags))


def analyse_regex(source: str, flags: int) -> tuple[RuleRegex, tuple[tuple[str, ...], ...]]:
    """The compiled regex and its prefilter clauses (see :func:`regex_literals`), parsing once."""
    tree = _parse(source, flags)
    regex = _compile(source, flags, tree)
    return regex, clauses(tree, linear=regex.engine == "re2")


def _compile(source: str, flags: int, tree: Any) -> RuleRegex:
    if _cost(tree) is not None:
        try:
            pattern = re.compile(source, flags)
        except (re.error, RecursionError, OverflowError) as exc:
            raise RuleProblem(f"invalid regular expression {source!r}: {exc}", kind="value") from None
        return _python(pattern, source, flags)
    compiled, why = _re2_compile(source, flags)
    if compiled is None:
        raise RuleProblem(
            f"regular expression {source!r} cannot run in bounded time: it has unbounded or "
            f"nested repeats and the linear-time engine refuses it ({why})",
            kind="value",
        )
    return _linear(compiled, source, flags)


def regex_literals(source: str, flags: int) -> tuple[tuple[str, ...], ...]:
    """Prefilter clauses of a regex: for each, every match contains one of its literals.

    Literals are casefolded; empty when the regex has no literal run (or does not parse).
    """
    try:
        return clauses(_parse(source, flags))
    except RuleProblem:
        return ()


def combine(regexes: list[RuleRegex]) -> RuleRegex | None:
    """One RE2 pattern matching where any of ``regexes`` (all RE2 ones) matches, or None.

    A search for ``(?:a)|(?:b)`` finds a match exactly when a search for ``a`` or for ``b``
    does, in one pass over the text instead of one per pattern.
    """
    if len(regexes) < 2 or any(r.engine != "re2" for r in regexes):
        return None
    parts = []
    for r in regexes:
        letters = "".join(c for f, c in _INLINE if r.flags & f)
        parts.append(f"(?{letters}:{r.source})" if letters else f"(?:{r.source})")
    source = "|".join(parts)
    compiled, _ = _re2_compile(source, 0)
    if compiled is None:
        return None
    return _linear(compiled, source, 0)


def engine_of(regex: RuleRegex) -> str:
    """"re" or "re2": which engine runs a compiled rule regex."""
    return regex.engine
