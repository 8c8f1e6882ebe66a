"""Sources, read issues and the step builder."""

from __future__ import annotations

from watchkeeper.errors import Location
from watchkeeper.trajectories import ReadIssue, Source, ToolKind
from watchkeeper.trajectories._base import StepsBuilder


def test_source_text_location_and_stem():
    assert str(Source("a/b.jsonl", 3)) == "a/b.jsonl:3"
    assert str(Source("a/b.json").at(2)) == "a/b.json[2]"
    assert str(Source("x.eval", member="samples/1_epoch_1.json")) == "x.eval!samples/1_epoch_1.json"
    assert Source("a.json").at(2).location("steps") == Location("a.json", None, "[2] steps")
    assert Source("a.jsonl", 4).location() == Location("a.jsonl", 4, None)
    assert Source("runs/django__django-1.traj").stem == "django__django-1"
    assert Source("t/sympy-2.traj.json").stem == "sympy-2"
    assert Source(".json").stem == ".json"
    error = Source("a.jsonl", 9).error("bad", "messages")
    assert str(error) == "a.jsonl:9 (field 'messages'): bad"


def test_read_issue_text():
    assert str(ReadIssue(Location("f.jsonl", 2), "invalid JSON")) == "f.jsonl:2: invalid JSON"


def test_builder_joins_outputs_and_times():
    builder = StepsBuilder()
    builder.add("bash", {"command": "ls"}, call_id="a", ts=1.0)  # starts a step by itself
    builder.add("bash", {"command": "id"}, call_id="b", ts=2.0)
    builder.step(ts=10.0)
    builder.add("python", {"code": "1"})
    assert builder.set_output("a", "one", end_ts=3.0)
    assert builder.set_output("a", "more")
    assert not builder.set_output("zzz", "lost")
    assert builder.set_last_output("py-out", end_ts=11.0)
    first, second = builder.build()
    assert (first.index, first.ts, first.end_ts) == (0, 1.0, 3.0)
    assert first.tool_calls[0].output == "one\nmore"
    assert first.tool_calls[1].output is None
    assert (second.index, second.ts, second.end_ts) == (1, 10.0, 11.0)
    assert second.tool_calls[0].kind is ToolKind.PYTHON
    assert second.tool_calls[0].output == "py-out"
