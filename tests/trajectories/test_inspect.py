"""Inspect AI log reader (.json logs and .eval archives)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchkeeper.trajectories import Source, ToolKind
from watchkeeper.trajectories.inspect import InspectReader


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def _write_eval(log: dict, path: Path, *, relog: bool = False) -> Path:
    """Pack a .json log the way Inspect's .eval recorder lays it out."""
    header = {k: v for k, v in log.items() if k != "samples"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_journal/start.json", json.dumps(
            {"version": 2, "eval": log["eval"], "plan": log["plan"]}))
        for sample in log["samples"]:
            name = f"samples/{sample['id']}_epoch_{sample['epoch']}.json"
            if relog:  # an earlier, superseded copy of the same member
                stale = dict(sample, messages=[])
                archive.writestr(name, json.dumps(stale))
            archive.writestr(name, json.dumps(sample))
        archive.writestr("summaries.json", "[]")
        archive.writestr("header.json", json.dumps(header))
    return path


def test_json_log(data, read_all, calls):
    path = data / "inspect" / "log.json"
    trajectories, issues = read_all(path)
    assert issues == []
    assert [t.id for t in trajectories] == ["easy-01_epoch_1", "7_epoch_1"]
    assert trajectories[0].source == f"{path}[0]"
    easy, scan = trajectories
    assert easy.format == "inspect"
    assert easy.metadata["task"] == "ctf_linux_privesc"
    assert easy.metadata["model"] == "openai/gpt-4o"
    assert [len(s.tool_calls) for s in easy.steps] == [1, 2, 1]
    sudo, find, python, submit = calls(easy)
    assert (sudo.kind, sudo.command) == (ToolKind.SHELL, "sudo -l")
    assert sudo.ts == _utc(2025, 7, 21, 10, 15, 42)  # from the tool event
    assert easy.steps[0].end_ts == _utc(2025, 7, 21, 10, 15, 42, 730000)
    assert find.output == "flag{f1nd_3x3c}"
    assert python.kind is ToolKind.PYTHON
    assert "socket.create_connection(('198.51.100.23', 4444))" in python.code  # attachment
    assert python.output == "Command timed out before completing."  # tool error
    assert submit.kind is ToolKind.OTHER
    (create,) = calls(scan)
    assert (create.kind, create.path) == (ToolKind.FILE_WRITE, "/tmp/scan.sh")
    assert create.content.startswith("#!/bin/sh")


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_eval_archive(data, tmp_path, read_all, calls):
    log = json.loads((data / "inspect" / "log.json").read_text())
    path = _write_eval(log, tmp_path / "run.eval", relog=True)
    trajectories, issues = read_all(path)
    assert issues == []
    assert sorted(t.id for t in trajectories) == ["7_epoch_1", "easy-01_epoch_1"]
    easy = next(t for t in trajectories if t.id == "easy-01_epoch_1")
    assert easy.source == f"{path}!samples/easy-01_epoch_1.json"
    assert easy.metadata["run_id"] == "mN6pZ9bQ4rT2wX8yC1dE5f"
    assert len(calls(easy)) == 4  # the last copy of a re-written member wins


def test_eval_archive_member_over_limit_and_bad_member(data, tmp_path, read_all):
    log = json.loads((data / "inspect" / "log.json").read_text())
    path = _write_eval(log, tmp_path / "run.eval")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("samples/broken_epoch_1.json", "{not json")
    trajectories, issues = read_all(path)
    assert len(trajectories) == 2
    assert len(issues) == 1
    assert issues[0].location.field == "samples/broken_epoch_1.json"
    trajectories, issues = read_all(path, max_json_bytes=3000)
    assert [t.id for t in trajectories] == ["7_epoch_1"]
    assert any("limit" in i.message for i in issues)


def test_not_a_zip(tmp_path, read_all):
    path = tmp_path / "bad.eval"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    trajectories, issues = read_all(path)
    assert trajectories == []
    assert "zip" in issues[0].message


def test_eval_with_other_forced_format(data, tmp_path, read_all):
    log = json.loads((data / "inspect" / "log.json").read_text())
    path = _write_eval(log, tmp_path / "run.eval")
    trajectories, issues = read_all(path, fmt="atif")
    assert trajectories == []
    assert "Inspect" in issues[0].message


def test_sample_without_messages_uses_tool_events():
    sample = {"id": 3, "epoch": 2, "messages": [], "events": [
        {"event": "tool", "id": "t1", "function": "bash", "arguments": {"cmd": "uname"},
         "result": "Linux", "timestamp": "2025-01-01T00:00:00+00:00",
         "completed": "2025-01-01T00:00:01+00:00"}]}
    trajectory = InspectReader().read_sample(sample, Source("s.json"), {})
    assert trajectory.id == "3_epoch_2"
    (step,) = trajectory.steps
    assert (step.ts, step.end_ts) == (_utc(2025, 1, 1), _utc(2025, 1, 1, 0, 0, 1))
    assert step.tool_calls[0].command == "uname"
    assert step.tool_calls[0].output == "Linux"


@pytest.mark.parametrize("doc", [{"eval": {}, "samples": "x"}, {"eval": {}, "samples": [1, {}]}])
def test_bad_samples_are_issues(doc):
    items = list(InspectReader().read(doc, Source("l.json")))
    assert all(not hasattr(i, "steps") for i in items)
