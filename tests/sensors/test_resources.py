from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import SensorError
from watchkeeper.sensors.resources import ResourceSample, ResourcesSensor

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")

BUSY = "import sys\nsys.stdin.readline()\nwhile True: pass\n"
IDLE = "import sys\nsys.stdin.readline()\nimport time\ntime.sleep(30)\n"


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup

    group = Cgroup.create(f"test-res-{os.getpid()}")
    try:
        yield group
    finally:
        group.remove()


def _spawn(code: str, group: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    group.add_pid(proc.pid)  # type: ignore[attr-defined]
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    return proc


@pytest.mark.root
@root
def test_busy_child_in_a_real_cgroup(cgroup: object) -> None:
    lineage = Lineage()
    sensor = ResourcesSensor(lineage)
    sensor.watch("sbx", cgroup)  # type: ignore[arg-type]
    busy = _spawn(BUSY, cgroup)
    idle = _spawn(IDLE, cgroup)
    lineage.register_root(busy.pid, "sbx", 4, "call-4")
    try:
        sensor.sample()  # baseline for the cgroup counter
        time.sleep(1.0)
        samples = sensor.sample()
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    by_pid = {s.pid: s for s in samples}
    total = by_pid[None]
    assert total.sandbox_id == "sbx" and total.num_threads == 2
    assert 0.1 < total.cpu_share < 2.1  # one busy loop on a shared (possibly loaded) host
    assert total.rss_bytes > 1_000_000
    hot = by_pid[busy.pid]
    assert (hot.step, hot.tool_call_id) == (4, "call-4")
    assert 0.1 < hot.cpu_share < 1.2
    assert hot.rss_bytes > 1_000_000 and hot.num_threads >= 1
    assert "while True" in hot.command_line or "python" in hot.image
    cold = by_pid[idle.pid]
    assert cold.cpu_share < min(0.05, hot.cpu_share / 2) and cold.step is None  # not in lineage
    assert abs(total.cpu_share - hot.cpu_share - cold.cpu_share) < 0.35


def test_thread_samples_lineage_processes_without_a_cgroup() -> None:
    lineage = Lineage()
    got: list[ResourceSample] = []
    beats: list[float] = []
    sensor = ResourcesSensor(lineage, got.append, interval=0.05, heartbeat=lambda: beats.append(1))
    lineage.register_root(os.getpid(), "self", 0, "c0")
    sensor.watch("self")
    sensor.start(lambda e: None)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.3:
            pass  # keep this process busy for the samples
    finally:
        sensor.stop()
    assert not sensor.alive
    mine = [s for s in got if s.pid == os.getpid()]
    assert len(mine) >= 3 and all(s.sandbox_id == "self" and s.step == 0 for s in mine)
    assert max(s.cpu_share for s in mine) > 0.3
    assert not [s for s in got if s.pid is None]  # no cgroup: no sandbox total
    assert sensor.stats().received == len(got) and beats


def test_vanished_processes_are_skipped_and_bad_interval_rejected() -> None:
    lineage = Lineage()
    lineage.register_root(2**22 + 12345, "gone", 0)  # above pid_max: never exists
    sensor = ResourcesSensor(lineage)
    sensor.watch("gone")
    assert sensor.sample() == []
    with pytest.raises(SensorError):
        ResourcesSensor(interval=0)
