"""Rule regexes: which engine runs them, and that hostile text cannot stall them."""

from __future__ import annotations

import re
import time

import pytest

from watchkeeper.rules._problem import RuleProblem
from watchkeeper.rules._regex import (
    REGEX_TEXT_LIMIT,
    combine,
    compile_regex,
    engine_of,
    re2_available,
)


@pytest.mark.parametrize(
    "pattern",
    [
        r"-D",
        r"\s-O\s",
        r"(?:\s-[^-\s]{0,20}i|\s--inode\s)",
        r"x(?!y)",
        r"(a)\1",
        r"^[0-9a-f]{32}$",
    ],
)
def test_simple_patterns_use_python_engine(pattern: str) -> None:
    assert engine_of(compile_regex(pattern, 0)) == "re"


@pytest.mark.parametrize(
    "pattern",
    [
        r"(.){200,}",
        r"a.*b",
        r"(a+)+b",
        r"(a|aa)*c",
        r"([0-9a-fA-F]{2}\s?){2,20}",  # a repeat inside a repeat
        r"a{0,20}b{0,20}c{0,20}",  # bounds multiply past the budget
        r"(ab|cd){2}",  # repeated alternation
    ],
)
def test_other_patterns_need_re2(pattern: str) -> None:
    if re2_available():
        assert engine_of(compile_regex(pattern, 0)) == "re2"
    else:
        with pytest.raises(RuleProblem, match="bounded time"):
            compile_regex(pattern, 0)


@pytest.mark.parametrize("pattern", [r"(?<=x)a+", r"(a)\1+", r"(?=a+)a"])
def test_unbounded_python_only_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(RuleProblem, match="bounded time"):
        compile_regex(pattern, 0)


@pytest.mark.parametrize("pattern", ["(unclosed", "a{2,1}", "x" * 5000])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(RuleProblem):
        compile_regex(pattern, 0)


@pytest.mark.parametrize(
    "pattern", [r"(?:\s-[^-\s]{0,20}i|\s--inode\s)", r"a{0,9}b{0,9}c", r"(.){200,}", r"a.*b", r"(a|aa)*c"]
)
def test_hostile_text_is_fast(pattern: str) -> None:
    if engine_of_or_none(pattern) is None:
        pytest.skip("needs google-re2")
    searcher = compile_regex(pattern, 0)
    for text in ("a" * REGEX_TEXT_LIMIT, " -" * (REGEX_TEXT_LIMIT // 2), "ab" * (REGEX_TEXT_LIMIT // 2)):
        start = time.perf_counter()
        searcher.test(text)
        searcher.span(text)
        assert time.perf_counter() - start < 0.5, (pattern, text[:10])


def engine_of_or_none(pattern: str) -> str | None:
    try:
        return engine_of(compile_regex(pattern, 0))
    except RuleProblem:
        return None


def test_flags_reach_both_engines() -> None:
    simple = compile_regex("abc", re.IGNORECASE)
    assert simple.test("xABCx") and simple.span("xABCx") == (1, 4)
    if re2_available():
        linear = compile_regex("a.*c", re.IGNORECASE | re.DOTALL)
        assert engine_of(linear) == "re2"
        assert linear.test("xA\nCx") and linear.span("xA\nCx") == (1, 4)


@pytest.mark.parametrize("pattern", [r"\s-O\s", r"a.*b"])
def test_lone_surrogates_do_not_crash(pattern: str) -> None:
    if engine_of_or_none(pattern) is None:
        pytest.skip("needs google-re2")
    regex = compile_regex(pattern, 0)
    text = "\udcff wget -O x a\udcffb"
    assert regex.test(text)
    assert regex.span(text) is not None


def test_only_the_first_64_kib_is_searched() -> None:
    regex = compile_regex("needle", 0)
    assert regex.test("x" * (REGEX_TEXT_LIMIT - 6) + "needle")
    assert not regex.test("x" * REGEX_TEXT_LIMIT + "needle")


def test_combine_matches_where_any_part_matches() -> None:
    if not re2_available():
        pytest.skip("needs google-re2")
    parts = [compile_regex("a.*b", 0), compile_regex("X+Y", re.IGNORECASE), compile_regex("^z+$", re.MULTILINE)]
    joined = combine(parts)
    assert joined is not None and joined.engine == "re2"
    for text in ["a--b", "xxy", "q\nzz\nq", "nothing", "", "b a"]:
        assert joined.test(text) == any(p.test(text) for p in parts), text
    assert combine(parts[:1]) is None
    assert combine([compile_regex("-D", 0), parts[0]]) is None  # not all on RE2
