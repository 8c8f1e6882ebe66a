from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.respond import (
    Action,
    Enforcer,
    KillResponder,
    Policy,
    ResponseError,
    Targets,
)
from watchkeeper.sensors.proc import ProcSensor

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup, Limits

    group = Cgroup.create(f"test-kill-{os.getpid()}", Limits(pids_max=200))
    try:
        yield group
    finally:
        group.remove()


def _start_in(group: object, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start argv inside the group (it blocks on stdin until released)."""
    proc = subprocess.Popen(["sh", "-c", 'read x; exec "$@"', "sh", *argv], stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    group.add_pid(proc.pid)  # type: ignore[attr-defined]
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.close()
    return proc


def _alert(sandbox: str = "sbx", step: int | None = None) -> Alert:
    return Alert(
        rule_id="detector:test",
        title="t",
        severity=Severity.CRITICAL,
        sandbox_id=sandbox,
        step=step,
    )


@pytest.mark.root
@root
def test_cgroup_kill_of_a_fork_loop_kills_children_forked_mid_kill(cgroup: object) -> None:
    targets = Targets()
    targets.register("sbx", cgroup=cgroup)
    loop = _start_in(cgroup, ["sh", "-c", "while :; do sleep 30 & done"])
    deadline = time.monotonic() + 5
    while len(cgroup.pids()) < 50 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert len(cgroup.pids()) >= 50  # type: ignore[attr-defined]
    enforcer = Enforcer(Policy.loads("version: 1\nfail_mode: kill\n"), [KillResponder(targets)])
    done = enforcer.handle(_alert())
    assert done.action == "kill"
    assert cgroup.pids() == [] and not cgroup.populated()  # type: ignore[attr-defined]
    assert loop.wait(5) == -9
    _, response = enforcer.responses[-1]
    assert response.action is Action.KILL and response.detail == "cgroup.kill"
    assert 0 < response.latency_s < 2.0


@pytest.mark.root
@root
def test_step_kill_takes_the_steps_tree_and_its_daemon_only(cgroup: object, tmp_path: Path) -> None:
    sensor = ProcSensor()
    sensor.start(lambda e: None)
    try:
        pidfile = tmp_path / "daemon.pid"
        one = subprocess.Popen(["sh", "-c", f"read x; (setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' &); sleep 30"],
                               stdin=subprocess.PIPE)  # fmt: skip
        two = subprocess.Popen(["sh", "-c", "read x; sleep 30"], stdin=subprocess.PIPE)
        for proc, step in ((one, 1), (two, 2)):
            cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
            sensor.lineage.register_root(proc.pid, "sbx", step, f"c{step}")
            assert proc.stdin is not None
            proc.stdin.write(b"\n")
            proc.stdin.close()
        deadline = time.monotonic() + 5
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        daemon = int(pidfile.read_text())
        time.sleep(0.1)
        assert sensor.lineage.attribution_of(daemon) is not None
        targets = Targets()
        targets.register("sbx", cgroup=cgroup)
        response = KillResponder(targets, sensor.lineage, scope="step").respond(_alert(step=1))
        assert one.wait(5) == -9
        assert not os.path.exists(f"/proc/{daemon}/stat") or _zombie(daemon)
        assert two.poll() is None and not cgroup.is_frozen()  # type: ignore[attr-defined]
        assert "step 1" in response.detail
    finally:
        sensor.stop()
        for proc in (one, two):
            proc.kill()
            proc.wait()


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_tree_kill_without_a_cgroup_uses_the_lineage_and_proc() -> None:
    lineage = Lineage()
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        lineage.register_root(proc.pid, "nocg", 0)
        deadline = time.monotonic() + 5
        import psutil

        while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        kids = [c.pid for c in psutil.Process(proc.pid).children()]
        response = KillResponder(Targets(), lineage).respond(_alert("nocg"))
        assert proc.wait(5) == -9
        assert "no cgroup" in response.detail
        for kid in kids:
            assert (
                not psutil.pid_exists(kid) or psutil.Process(kid).status() == psutil.STATUS_ZOMBIE
            )
    finally:
        proc.kill()
        proc.wait()


def test_nothing_to_kill_is_an_error() -> None:
    with pytest.raises(ResponseError, match="no cgroup and no process lineage"):
        KillResponder(Targets()).respond(_alert())
    with pytest.raises(ResponseError, match="names no sandbox"):
        KillResponder(Targets()).respond(_alert(sandbox=""))
