"""The monitor's GPU sensor in the live runtime: real sandboxes, the fake NVML injected.

The fake NVML reports a real process of a real sandbox (a ``sleep`` in the sandbox cgroup) as a
GPU user; everything after that is the product: the sensor's attribution through the lineage,
the dispatcher, the GPU detector, the policy, the kill, the store.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from watchkeeper.detect.detectors.gpu import GpuDetectorConfig
from watchkeeper.runtime import GpuGrant, Monitor, Sandbox
from watchkeeper.sandbox.cgroup import find_groups
from watchkeeper.sandbox.netns import names_for
from watchkeeper.store import DuckReader
from watchkeeper.testing.fake_nvml import FakeDevice, FakeNvml, FakeProcess, Steady

pytestmark = pytest.mark.root

_MISSING = [t for t in ("bwrap", "nft", "ip", "setpriv") if shutil.which(t) is None]
LIVE_REASON = "needs root" if os.geteuid() != 0 else (f"needs {', '.join(_MISSING)}" if _MISSING else "")
POLL_S = 0.2


@pytest.fixture
def live() -> None:
    if LIVE_REASON:
        pytest.skip(LIVE_REASON)


@contextmanager
def installed(nvml: FakeNvml) -> Iterator[Monitor]:
    """A shared monitor whose GPU sensor reads ``nvml``; stopped at the end."""
    monitor = Monitor.install(Monitor(gpu_nvml=nvml, gpu_poll_s=POLL_S))
    try:
        yield monitor
    finally:
        monitor.release()


def _new_id(tag: str) -> str:
    return f"wkg{tag}-{os.getpid():x}{os.urandom(2).hex()}"


def _leftovers(sandbox_id: str) -> list[str]:
    names = names_for(sandbox_id)
    found = [p for p in (names.path, f"/sys/class/net/{names.host_if}",
                         f"/run/watchkeeper/{sandbox_id}.json") if Path(p).exists()]  # fmt: skip
    return found + [str(p) for p in find_groups(sandbox_id).paths]


@contextmanager
def sandbox(tmp_path: Path, tag: str, **kwargs: object) -> Iterator[Sandbox]:
    work = tmp_path / f"work-{tag}"
    work.mkdir()
    sandbox_id = _new_id(tag)
    try:
        with Sandbox(workdir=work, sandbox_id=sandbox_id, **kwargs) as sb:  # type: ignore[arg-type]
            yield sb
    finally:
        assert not _leftovers(sandbox_id), _leftovers(sandbox_id)


def _pid_of(sb: Sandbox, command_line: str, timeout: float = 5.0) -> int:
    """Host pid of the sandbox process with this command line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in sb.box.pids():
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if raw.replace(b"\0", b" ").strip().decode() == command_line:
                return pid
        time.sleep(0.02)
    raise AssertionError(f"no process {command_line!r} in {sb.sandbox_id}")


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    """A fake device-node tree (regular files bound like nodes)."""
    root = tmp_path / "dev"
    root.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl"):
        (root / name).touch()
    return root


def test_ungranted_gpu_user_is_alerted_and_killed(live: None, tmp_path: Path) -> None:
    nvml = FakeNvml([FakeDevice(0), FakeDevice(1)], sample_period_s=POLL_S)
    out = tmp_path / "out"
    with installed(nvml) as monitor, sandbox(tmp_path, "u", out_dir=out, episode_id="ep-1") as sb:
        assert monitor.sensor_status()["gpu"] == "running"
        started = sb.exec("sleep 60 >/dev/null 2>&1 &", step_id=4, tool_call_id="call-g")
        assert started.ok, started.stderr
        pid = _pid_of(sb, "sleep 60")
        seen = time.monotonic()
        nvml.devices[1].processes.append(FakeProcess(pid, Steady(95.0), start_s=nvml.now()))
        assert _wait(lambda: sb.contained == "kill", 5.0), sb.alerts()
        latency = time.monotonic() - seen
        assert _wait(lambda: sb.box.pids() == [], 2.0), sb.box.pids()  # the cgroup is empty
        alert = next(a for a in sb.alerts() if a.rule_id == "detector:gpu-ungranted")
        assert alert.action == "kill" and f"pid:{pid}" in alert.tags and "device:1" in alert.tags
        assert (alert.sandbox_id, alert.run_id, alert.episode_id) == (sb.sandbox_id, sb.run_id, "ep-1")
        assert (alert.step, alert.tool_call_id) == (4, "call-g")
        assert "T1496" in alert.attack
        assert sb.exec("true").denied  # the policy's kill refuses later calls
        sandbox_id = sb.sandbox_id
    assert latency < 5.0
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT DISTINCT pid, sandbox_id, step, tool_call_id FROM events "
                         "WHERE category = 'gpu_usage'")  # fmt: skip
        assert (pid, sandbox_id, 4, "call-g") in rows
        _, rows = db.sql("SELECT rule_id, action, pid FROM alerts WHERE rule_id LIKE '%gpu%'")
        assert ("detector:gpu-ungranted", "kill", pid) in rows
        _, rows = db.sql("SELECT config FROM runs")
        config = json.loads(rows[0][0])
        assert config["gpu"] == "none" and config["sensors"]["gpu"] == "running"


def test_granted_declared_workload_is_quiet_and_a_stranger_is_reported(
    live: None, tmp_path: Path, dev: Path
) -> None:
    nvml = FakeNvml([FakeDevice(0), FakeDevice(1)], sample_period_s=POLL_S)
    config = GpuDetectorConfig(sustain_s=1.5)
    with installed(nvml), sandbox(tmp_path, "d", gpu=GpuGrant.of(0), gpu_dev_root=str(dev),
                                  gpu_detector=config) as sb:  # fmt: skip
        seen = sb.exec("ls /dev | grep nvidia; echo CVD=$CUDA_VISIBLE_DEVICES; "
                       "sleep 60 >/dev/null 2>&1 &", gpu_workload=True)  # fmt: skip
        assert seen.stdout.split() == ["nvidia0", "nvidiactl", "CVD=0"], seen.stderr
        sb.exec("sleep 61 >/dev/null 2>&1 &")
        trainer, stranger = _pid_of(sb, "sleep 60"), _pid_of(sb, "sleep 61")
        now = nvml.now()
        nvml.devices[0].processes += [
            FakeProcess(trainer, Steady(95.0), start_s=now),
            FakeProcess(stranger, Steady(90.0, seed=3), start_s=now),
        ]

        def reported() -> bool:
            return any(a.rule_id == "detector:gpu-undeclared" for a in sb.alerts())

        assert _wait(reported, 6.0), sb.alerts()
        sb.flush()
        gpu_alerts = [a for a in sb.alerts() if "gpu" in a.tags]
        assert [a.rule_id for a in gpu_alerts] == ["detector:gpu-undeclared"]
        assert f"pid:{stranger}" in gpu_alerts[0].tags and gpu_alerts[0].action == "alert"
        assert not any(f"pid:{trainer}" in a.tags for a in sb.alerts())
        assert sb.contained == "" and len(sb.box.pids()) >= 2


def test_without_nvml_the_runtime_runs_and_no_gpu_env_leaks(
    live: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "all")
    with installed(FakeNvml(available=False)) as monitor, sandbox(
        tmp_path, "n", env={"CUDA_VISIBLE_DEVICES": "1"}
    ) as sb:
        state = sb.sensor_status()["gpu"]
        assert state.startswith("unavailable: NVML is unavailable"), state
        assert monitor.gpu_state == state and monitor.gpu_minors() == {}
        result = sb.exec("env; ls /dev", env={"NVIDIA_VISIBLE_DEVICES": "0"})
        assert result.ok and "PATH=" in result.stdout, result.stderr
        assert "VISIBLE_DEVICES" not in result.stdout and "nvidia" not in result.stdout
        assert sb.sensor_status()["proc"] == "running"
