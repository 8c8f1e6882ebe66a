"""The entry point: paths, folders, formats, strictness, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchkeeper.errors import InputError, UnknownFormatError
from watchkeeper.trajectories import ReadIssue, Trajectory, read_trajectories


def test_folder_walk_reads_all_samples_in_order(data, read_all):
    stream = read_trajectories([data])
    items = list(stream)
    trajectories = [i for i in items if isinstance(i, Trajectory)]
    issues = [i for i in items if isinstance(i, ReadIssue)]
    assert stream.stats.files == 17
    assert stream.stats.skipped_files == 0
    assert stream.stats.trajectories == len(trajectories) == 25
    assert stream.stats.issues == len(issues) == 2  # one bad chat line, one bad command line
    sources = [t.source.split(str(data) + "/", 1)[1] for t in trajectories]
    folders = [s.split("/", 1)[0] for s in sources]
    assert folders == sorted(folders)  # sorted walk, deterministic


def test_folder_skips_and_counts_other_files(tmp_path: Path, read_all):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.json").write_text("{}")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_text("{}")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.jsonl").write_text('{"id": "a", "command": "ls"}\n')
    (sub / "config.json").write_text('{"timeout": 30}')  # not a trajectory
    stream = read_trajectories([tmp_path])
    items = list(stream)
    assert [i.id for i in items if isinstance(i, Trajectory)] == ["a"]
    (issue,) = [i for i in items if isinstance(i, ReadIssue)]
    assert issue.location.path.endswith("config.json")
    assert "cannot tell the trajectory format" in issue.message
    assert stream.stats.skipped_files == 2
    assert stream.stats.files == 2


def test_undetectable_named_file_raises(tmp_path: Path):
    path = tmp_path / "config.json"
    path.write_text('{"timeout": 30}')
    with pytest.raises(UnknownFormatError) as caught:
        list(read_trajectories([path]))
    assert "openai-chat" in str(caught.value)
    assert caught.value.location.path == str(path)


def test_unknown_format_name_raises_at_call():
    with pytest.raises(UnknownFormatError, match="supported: "):
        read_trajectories([], fmt="nope")


def test_missing_path_raises(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        read_trajectories([tmp_path / "absent.jsonl"])


def test_strict_raises_at_first_malformed_line(data):
    path = data / "openai_chat" / "dataset.jsonl"
    stream = read_trajectories([path], strict=True)
    assert next(stream).id == "conv-000"
    assert next(stream).id == "conv-001"
    with pytest.raises(InputError) as caught:
        next(stream)
    assert (caught.value.location.path, caught.value.location.line) == (str(path), 3)


def test_json_file_holding_jsonl_is_read_as_jsonl(tmp_path: Path, read_all):
    path = tmp_path / "cmds.json"
    path.write_text('{"id": "a", "command": "ls"}\n{"id": "b", "command": "pwd"}\n')
    trajectories, issues = read_all(path)
    assert [t.source for t in trajectories] == [f"{path}:1", f"{path}:2"]


def test_limits(tmp_path: Path, read_all):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]}))
    trajectories, issues = read_all(big, max_json_bytes=1000)
    assert trajectories == []
    assert "limit" in issues[0].message
    lines = tmp_path / "l.jsonl"
    lines.write_text(json.dumps({"id": "a", "command": "y" * 5000}) + "\n"
                     + json.dumps({"id": "b", "command": "ls"}) + "\n")
    trajectories, issues = read_all(lines, max_line_bytes=1000)
    assert [t.id for t in trajectories] == ["b"]
    assert issues[0].location.line == 1


def test_forced_format_reads_records_of_a_stream(tmp_path: Path, read_all):
    path = tmp_path / "one_event.json"  # a single OpenHands V1 event file
    path.write_text(json.dumps({"kind": "ActionEvent", "tool_name": "terminal",
                                "tool_call_id": "t", "action": {"command": "ls"}}))
    trajectories, issues = read_all(path)
    assert [t.format for t in trajectories] == ["openhands"]
    assert trajectories[0].steps[0].tool_calls[0].command == "ls"


def test_forced_format_on_a_mismatched_file_gives_issues(data, read_all):
    trajectories, issues = read_all(data / "atif" / "trajectory.json", fmt="swe-agent")
    assert trajectories == []
    assert issues[0].location.field == "trajectory"
    trajectories, issues = read_all(data / "commands_jsonl" / "commands.jsonl", fmt="atif")
    assert trajectories == []
    assert {i.location.line for i in issues} == {1, 2, 3, 4, 5, 7, 8, 9}


def test_empty_files(tmp_path: Path, read_all):
    (tmp_path / "e.jsonl").write_text("\n\n")
    (tmp_path / "e.json").write_text("")
    trajectories, issues = read_all(tmp_path / "e.jsonl")
    assert (trajectories, issues) == ([], [])
    trajectories, issues = read_all(tmp_path / "e.json")
    assert trajectories == []
    assert "invalid JSON" in issues[0].message


def test_paths_accepts_strings_and_generators(data, read_all):
    paths = (str(p) for p in [data / "atif" / "trajectory.json"])
    trajectories, _ = read_all(*paths)
    assert len(trajectories) == 1


def test_parse_record():
    from watchkeeper.trajectories import parse_record

    messages = [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "id"}'}}]}]
    traj = parse_record(messages)
    assert (traj.format, traj.source, traj.id) == ("openai-chat", "<record>", "<record>")
    assert traj.steps[0].tool_calls[0].command == "id"
    assert parse_record({"id": "c1", "command": "ls"}, source="row 5").id == "c1"
    assert parse_record({"messages": messages}, fmt="anthropic").steps[0].tool_calls == ()
    with pytest.raises(UnknownFormatError):
        parse_record({"x": 1})
    with pytest.raises(InputError, match="holds 2"):
        parse_record([{"messages": messages}, {"messages": messages}])
    with pytest.raises(InputError, match="without a trajectory list"):
        parse_record({"steps": 1}, fmt="swe-agent")


def test_folder_skips_devices_and_dangling_links(tmp_path: Path, read_all):
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")  # would never end
    (tmp_path / "gone.json").symlink_to(tmp_path / "missing.json")
    stream = read_trajectories([tmp_path])
    assert list(stream) == []
    assert stream.stats.skipped_files == 2
