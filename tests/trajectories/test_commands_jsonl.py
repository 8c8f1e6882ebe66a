"""Commands JSONL reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from watchkeeper.trajectories import ToolKind


def test_commands_file(data, read_all, calls):
    path = data / "commands_jsonl" / "commands.jsonl"
    trajectories, issues = read_all(path)
    assert [t.id for t in trajectories] == ["cmd-0001", "cmd-0002", "episode-7", "episode-8",
                                            "episode-7"]
    assert [t.source for t in trajectories] == [f"{path}:{n}" for n in (1, 2, 3, 8, 9)]
    assert [(i.location.line, i.location.field) for i in issues] == [(7, "command")]
    first, second, episode, other, resumed = trajectories
    (call,) = calls(first)
    assert (call.kind, call.id, call.name) == (ToolKind.SHELL, "cmd-0001", "shell")
    assert call.ts == datetime(2025, 10, 1, 12, tzinfo=UTC).timestamp()
    assert call.output == "Reading package lists... Done"
    (argv_call,) = calls(second)
    assert argv_call.argv == ("bash", "-lc", "make -j4 && ./bin/server --port 8080 &")
    assert argv_call.command == "make -j4 && ./bin/server --port 8080 &"
    # consecutive lines of one episode; lines with the same step share a Step
    assert [[c.id for c in s.tool_calls] for s in episode.steps] == [["tc-a", "tc-b"], ["tc-c"]]
    assert [s.index for s in episode.steps] == [0, 1]
    assert episode.steps[0].ts == 1759320010.5
    assert calls(other)[0].argv == ("python3", "train.py", "--epochs", "3")
    assert calls(other)[0].command is None
    assert calls(other)[0].text == "python3 train.py --epochs 3"
    assert calls(resumed)[0].command == "rm -rf repo"


def test_json_list_of_records(tmp_path, read_all):
    path = tmp_path / "commands.json"
    path.write_text(json.dumps([{"id": "a", "command": "ls"}, {"id": "b", "command": 5},
                                {"id": "c", "command": "pwd"}]))
    trajectories, issues = read_all(path, fmt="commands-jsonl")
    assert [t.id for t in trajectories] == ["a", "c"]
    assert trajectories[1].source == f"{path}[2]"
    assert issues[0].location.field == "[1] command"


def test_lines_without_id_and_non_objects(tmp_path, read_all):
    path = tmp_path / "c.jsonl"
    path.write_text('{"command": "ls"}\n[1, 2]\n"text"\n{"command": ["echo", 1, null]}\n')
    trajectories, issues = read_all(path)
    assert [t.id for t in trajectories] == [f"{path}:1", f"{path}:4"]
    assert trajectories[1].steps[0].tool_calls[0].argv == ("echo", "1", "null")
    assert [i.location.line for i in issues] == [2, 3]


def test_plain_id_command_lines_read_as_the_general_path(tmp_path, read_all):
    # ``{"id", "command"}`` lines take a shortcut in the reader; a line with one more key (that
    # the reader ignores) takes the general path: both must give the same trajectory
    records = [
        {"id": "a", "command": "ls -la"},
        {"id": "b", "command": ""},
        {"id": "c", "command": "echo 'x' | base64 -d | sh"},
        {"id": "", "command": "pwd"},  # empty id: the general path names it file:line
        {"id": 7, "command": "whoami"},  # numeric id: general path
        {"episode": "e1", "id": "d", "command": "cd /tmp"},
        {"id": "e", "command": "true"},  # closes the episode above
    ]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in records))
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({**r, "note": "ignored"}) + "\n" for r in records))
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps(records))
    fast, fast_issues = read_all(plain)
    slow, slow_issues = read_all(extra)
    in_list, _ = read_all(listed, fmt="commands-jsonl")
    assert fast_issues == slow_issues == []
    assert [t.id for t in fast] == ["a", "b", "c", f"{plain}:4", "7", "e1", "e"]
    for one, other, item in zip(fast, slow, in_list, strict=True):
        assert one.source.replace(str(plain), "F") == other.source.replace(str(extra), "F")
        assert one.id.replace(str(plain), "F") == other.id.replace(str(extra), "F")
        assert (one.steps, one.format, one.metadata) == (other.steps, other.format, other.metadata)
        assert one.steps == item.steps
    assert in_list[0].source == f"{listed}[0]"
