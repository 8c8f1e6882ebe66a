"""The demo's episode is read by the real readers and turned into sandbox commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.demo import episode_path, load_episode, to_command
from watchkeeper.errors import InputError
from watchkeeper.trajectories import ToolKind, make_call


def test_shipped_episode() -> None:
    trajectory = load_episode()
    assert trajectory.format == "openai-chat" and trajectory.id == "rome-demo-0001"
    calls = [c for s in trajectory.steps for c in s.tool_calls]
    assert [c.kind for c in calls].count(ToolKind.SHELL) == 8
    assert {ToolKind.PYTHON, ToolKind.FILE_EDIT} <= {c.kind for c in calls}
    commands = [to_command(c) for c in calls]
    assert all(c is not None for c in commands)
    text = " ".join(c.text for c in calls)
    for needle in ("corp.internal", "~/.aws/credentials", "sts.amazonaws.com", "--as-server",
                   "relay.vps-cloud.test", "pool.hashrelay.test"):  # fmt: skip
        assert needle in text
    displays = [c.display for c in commands if c is not None]
    assert displays[7].startswith("fetch && python3 /tmp/.sshd-helper ssh-client")
    assert displays[8].startswith("fetch && python3 /tmp/.kworker miner")
    assert displays[0] == "ls -la && cat calc.py test_calc.py"
    assert episode_path().name == "rome_episode.json"


def test_other_kinds(tmp_path: Path) -> None:
    write = to_command(make_call("write_file", {"path": "a.txt", "content": "hi\n"}))
    assert write is not None and write.input == b"hi\n" and write.display == "write a.txt"
    view = to_command(make_call("read_file", {"path": "a.txt"}))
    assert view is not None and view.command == ["cat", "--", "a.txt"]
    assert to_command(make_call("web_search", {"query": "x"})) is None
    no_old = make_call("str_replace_editor", {"command": "str_replace", "path": "a", "new_str": "b"})
    assert to_command(no_old) is None
    # the edit and write snippets really work (run here with this interpreter)
    target = tmp_path / "calc.py"
    target.write_text("x = (len(v) - 1)\n")
    edit = to_command(make_call("str_replace_editor", {
        "command": "str_replace", "path": str(target), "old_str": "(len(v) - 1)", "new_str": "len(v)"}))  # fmt: skip
    assert edit is not None and isinstance(edit.command, list)
    done = subprocess.run([sys.executable, *edit.command[1:]], input=edit.input, capture_output=True)
    assert done.returncode == 0 and target.read_text() == "x = len(v)\n"
    again = subprocess.run([sys.executable, *edit.command[1:]], input=edit.input, capture_output=True)
    assert again.returncode != 0 and b"occurs 0 times" in again.stderr


def test_bad_episode(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"messages": "nope"}))
    with pytest.raises(InputError):
        load_episode(bad)
