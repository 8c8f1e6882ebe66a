"""Per-sandbox bookkeeping: exec calls over time and alert folding."""

from __future__ import annotations

from typing import Any

from watchkeeper.runtime.watch import Watch


def _watch() -> Watch:
    none: Any = None
    return Watch("s", "r", "", none, none, none, none, none)


def test_steps_at_a_time() -> None:
    watch = _watch()
    first = watch.call_started(1, "a", 100.0)
    first.ended = 101.0
    watch.call_started(2, "b", 105.0)
    assert watch.steps_at(100.5) == {(1, "a")}
    assert watch.steps_at(101.5) == {(1, "a")}  # slack after the end: events stamped late
    assert watch.steps_at(103.0) == set()
    assert watch.steps_at(500.0) == {(2, "b")}  # still running


def test_first_is_true_once_per_key() -> None:
    watch = _watch()
    assert watch.first(("k",)) and not watch.first(("k",))
    assert watch.first(None) and watch.first(None)
