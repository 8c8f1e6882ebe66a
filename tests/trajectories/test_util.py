"""Defensive helpers: timestamps, text, JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from watchkeeper.trajectories._util import (
    dumps,
    loads,
    parse_ts,
    pick_id,
    small_metadata,
    text_of,
)

T0 = datetime(2025, 10, 11, 10, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-10-11T10:30:00Z", T0),
        ("2025-10-11T10:30:00.000000+00:00", T0),
        ("2025-10-11T12:30:00+02:00", T0),
        ("2025-10-11T10:30:00", T0),  # no offset: UTC
        ("2025-10-11 10:30:00", T0),
        (T0, T0),
        (int(T0), T0),
        (T0 * 1000, T0),  # milliseconds
        (T0 * 1_000_000, T0),  # microseconds
        (T0 * 1_000_000_000, T0),  # nanoseconds
        (str(int(T0)), T0),
        ("1760178600.5", T0 + 0.5),
        (True, None),
        (None, None),
        (math.nan, None),
        (math.inf, None),
        (-5, None),
        ("yesterday", None),
        ("9" * 80, None),
        ({"t": 1}, None),
        ("", None),
    ],
)
def test_parse_ts(value, expected):
    if expected is None:
        assert parse_ts(value) is None
    else:
        assert parse_ts(value) == pytest.approx(expected)


def test_text_of():
    assert text_of(None) is None
    assert text_of("x") == "x"
    assert text_of([{"type": "text", "text": "a"}, "b", {"type": "image", "source": {}}, 3]) == "a\nb"
    assert text_of({"stdout": "out", "stderr": ""}) == "out"
    assert text_of({"x": 1}) == '{"x": 1}'
    assert text_of(7) == "7"


@pytest.mark.parametrize("text", ['{"a": [1, 2.5, null]}', "  [1]", "[1] ", "1\n", '"s"'])
def test_loads_matches_json(text):
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", "[1] 2", "nul", '{"a": 1}}', "\x00"])
def test_loads_raises_like_json(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads(text)


def test_dumps_never_raises():
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    assert "nested" in dumps(deep)
    assert dumps("s") == "s"


def test_pick_id_and_metadata():
    assert pick_id({"id": 12}, "d") == "12"
    assert pick_id({"id": True, "session_id": "s"}, "d") == "s"
    assert pick_id({"id": ""}, "d") == "d"
    assert small_metadata({"a": "x" * 600, "b": {"c": 1}, "n": 1.5, "f": math.nan},
                          ("a", "b", "n", "f")) == {"a": "x" * 512, "n": 1.5}
