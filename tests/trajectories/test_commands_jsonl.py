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
