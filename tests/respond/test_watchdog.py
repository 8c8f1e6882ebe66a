from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from watchkeeper.respond import FailMode, Targets, Watchdog, fail_closed
from watchkeeper.sensors.proc import ProcSensor

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, proc connector)")


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup

    group = Cgroup.create(f"test-wd-{os.getpid()}")
    try:
        yield group
    finally:
        group.remove()


def test_silence_and_thread_death_fail_once_each() -> None:
    failures: list[tuple[str, str]] = []
    dog = Watchdog(0.2, lambda n, r: failures.append((n, r)))
    beat = dog.register("quiet")
    done = threading.Event()
    worker = threading.Thread(target=done.wait)
    worker.start()
    dog.register("worker", worker)
    t0 = time.monotonic()
    beat()
    assert dog.check(t0 + 0.1) == []
    done.set()
    worker.join()
    assert dog.check(t0 + 0.1) == [("worker", "sensor thread died")]
    new = dog.check(t0 + 0.5)
    assert [n for n, _ in new] == ["quiet"] and "no heartbeat" in new[0][1]
    assert dog.check(t0 + 5) == []  # latched: reported once
    assert len(failures) == 2 and len(dog.failures) == 2
    dog.unregister("quiet")


@pytest.mark.root
@root
def test_a_sensor_that_stops_beating_freezes_the_sandbox(cgroup: object) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
    targets = Targets()
    targets.register("sbx", cgroup=cgroup)
    dog = Watchdog(0.3, fail_closed(targets, FailMode.FREEZE))
    sensor = ProcSensor(heartbeat=dog.register("proc"))
    sensor.start(lambda e: None)
    dog.start()
    try:
        time.sleep(0.5)
        assert not dog.failures and not cgroup.is_frozen()  # type: ignore[attr-defined]
        sensor.stop()  # the sensor dies without telling the watchdog
        deadline = time.monotonic() + 3
        while not cgroup.is_frozen() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert cgroup.is_frozen()  # type: ignore[attr-defined]
        assert dog.failures[0][0] == "proc"
        assert proc.poll() is None  # frozen, not killed: kept for forensics
    finally:
        dog.stop()
        sensor.stop()
        proc.kill()
        proc.wait()


@pytest.mark.root
@root
def test_kill_mode_and_unfreezable_sandboxes_are_killed(cgroup: object) -> None:
    class KillOnly:
        def kill(self) -> None:
            cgroup.kill()  # type: ignore[attr-defined]

    for mode, handle in ((FailMode.KILL, cgroup), (FailMode.FREEZE, KillOnly())):
        proc = subprocess.Popen(["sleep", "30"])
        cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
        targets = Targets()
        targets.register("sbx", cgroup=handle)
        fail_closed(targets, mode)("proc", "test")
        assert proc.wait(5) == -9


def test_a_sandbox_that_cannot_be_stopped_is_reported() -> None:
    targets = Targets()
    targets.register("sbx", cgroup=object())
    with pytest.raises(RuntimeError, match=r"sandboxes \['sbx'\] could not be stopped"):
        fail_closed(targets, FailMode.FREEZE)("proc", "no heartbeat")
