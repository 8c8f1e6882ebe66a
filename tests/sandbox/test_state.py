"""State files and cleanup of crashed runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.sandbox import SandboxHost, cleanup_all
from watchkeeper.sandbox._state import StateRecord, owner_alive, process_start, write_state


def test_record_round_trip(tmp_path: Path) -> None:
    record = StateRecord(id="a-1", owner_pid=5, owner_start=9, netns="wk-a-1", host_if="wkh0",
                         table="wk_a_1", cgroup_name="a-1", cgroup_v1={"memory": "/x"})
    path = write_state(record, tmp_path)
    assert path == tmp_path / "a-1.json"
    assert StateRecord.from_json(path.read_text()) == record
    with pytest.raises(ValueError):
        StateRecord.from_json('{"version": 99}')


def test_owner_alive_detects_pid_reuse() -> None:
    me = os.getpid()
    assert owner_alive(StateRecord(id="x", owner_pid=me, owner_start=process_start(me)))
    assert not owner_alive(StateRecord(id="x", owner_pid=me, owner_start=process_start(me) + 1))
    assert not owner_alive(StateRecord(id="x", owner_pid=0, owner_start=0))


CRASH = """
import os, signal, subprocess, sys
sys.path[:0] = {path!r}
from watchkeeper.sandbox import SandboxHost, SandboxSpec
box = SandboxHost(SandboxSpec(id={ident!r}, workdir={workdir!r}, allow=("host",)))
box.setup()
box.popen(["sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL)
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.root
def test_cleanup_all_removes_a_crashed_sandbox_and_keeps_live_ones(
    make_box: Callable[..., SandboxHost],
    workdir: Path,
    new_id: Callable[[str], str],
    leftover_parts: Callable[[str], list[str]],
) -> None:
    alive = make_box("alive", nflog_group=None)
    crashed = new_id("crash")
    code = CRASH.format(path=sys.path, ident=crashed, workdir=str(workdir))
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        assert proc.returncode == -9 and proc.stdout == b"ready\n", proc.stderr
        left = leftover_parts(crashed)
        assert any(p.startswith("netns") for p in left) and "state file" in left
        assert any(p.startswith("cgroup") for p in left) and any(p.startswith("table") for p in left)
        report = cleanup_all()
        assert crashed in report.removed
        assert alive.spec.id in report.live
        assert leftover_parts(crashed) == []
        assert alive.run(["true"]).returncode == 0  # the live sandbox was not touched
    finally:
        cleanup_all()


@pytest.mark.root
def test_cleanup_reports_unreadable_state(live: None, tmp_path: Path) -> None:
    (tmp_path / "tbad-1.json").write_text("{not json")
    (tmp_path / "ignored.txt").write_text("x")
    report = cleanup_all(state_dir=tmp_path)
    assert report.removed == () and len(report.problems) == 1
    assert "unreadable" in report.problems[0]
    assert (tmp_path / "tbad-1.json").exists()
