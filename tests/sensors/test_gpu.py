"""GPU sensor on the fake NVML (and on the real pynvml where it loads)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import PrerequisiteError
from watchkeeper.sensors import Sensor
from watchkeeper.sensors._gpu_nvml import NVML_ERROR_LIBRARY_NOT_FOUND, NvmlCallError
from watchkeeper.sensors.gpu import (
    READ_FUNCTIONS,
    CgroupAttributor,
    GpuAttribution,
    GpuEvent,
    GpuSensor,
    ProcReader,
    ReadOnlyNvml,
    StaticAttributor,
    sandbox_of_cgroup_file,
)
from watchkeeper.testing.fake_nvml import (
    NVML_ERROR_GPU_IS_LOST,
    FakeDevice,
    FakeNvml,
    FakeProcess,
    ManualClock,
    Pcie,
    Phased,
    Steady,
    load_trace,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "watchkeeper"
BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"
NO_PROC = "/nonexistent-proc"


def _rig(*devices: FakeDevice, **kw: object) -> tuple[ManualClock, FakeNvml, GpuSensor]:
    clock = ManualClock()
    nvml = FakeNvml(list(devices), clock=clock)
    sensor = GpuSensor(nvml, clock=clock, proc_root=NO_PROC, **kw)  # type: ignore[arg-type]
    return clock, nvml, sensor


def _procs(events: list[GpuEvent]) -> dict[int, GpuEvent]:
    return {e.pid: e for e in events if e.activity == "process" and e.pid is not None}


def test_samples_memory_and_device_fields() -> None:
    clock, _, sensor = _rig(
        FakeDevice(
            0,
            [
                FakeProcess(4242, Steady(97.0, noise=0.0), used_memory=2 << 30),
                FakeProcess(4343, Steady(40.0, noise=0.0, mem_ratio=0.5)),
            ],
            pcie=Pcie(tx_kbps=1000, rx_kbps=3000),
        )
    )
    sensor.open()
    clock.advance(3.0)
    events = sensor.poll_once()
    procs = _procs(events)
    assert set(procs) == {4242, 4343}
    rogue = procs[4242]
    # samples at t = 0, 1, 2, 3 s since the fake's epoch
    assert rogue.samples == 4 and rogue.sm_util == 97.0 and rogue.mem_util == 68.0
    assert rogue.used_memory == 2 << 30 and rogue.device_uuid.startswith("GPU-")
    assert procs[4343].sm_util == 40.0 and procs[4343].mem_util == 20.0
    device = [e for e in events if e.activity == "device"]
    assert len(device) == 1
    dev = device[0]
    assert dev.sm_util == 100.0  # 97 + 40, capped
    assert dev.pcie_tx_kbps is not None and 800 <= dev.pcie_tx_kbps <= 1200
    assert dev.power_mw is not None and dev.power_mw > 600_000
    assert dev.sm_clock_mhz == 1980 and dev.mem_clock_mhz == 2619
    assert dev.used_memory == (2 << 30) + (1 << 30)
    assert sensor.driver_version == "580.159.04"
    assert sensor.stats().received >= 6 and sensor.stats().errors == 0


def test_not_found_means_no_samples_not_an_error() -> None:
    idle = Phased(90.0, period_s=1000.0, dip_s=1000.0, dip_level=0.0)  # context, no kernels
    clock, nvml, sensor = _rig(FakeDevice(0, [FakeProcess(7, idle, used_memory=123)]))
    sensor.open()
    clock.advance(2.0)
    first = _procs(sensor.poll_once())
    assert first[7].samples == 0 and first[7].sm_util is None and first[7].used_memory == 123
    assert nvml.calls["nvmlDeviceGetProcessesUtilizationInfo"] == 1
    assert sensor.stats().errors == 0
    # Nothing new since the last poll: the same call answers NOT_FOUND again.
    assert _procs(sensor.poll_once())[7].samples == 0
    assert sensor.stats().errors == 0


def test_samples_are_counted_once_since_last_seen() -> None:
    clock, _, sensor = _rig(FakeDevice(0, [FakeProcess(9, Steady(80.0, noise=0.0))]))
    sensor.open()
    clock.advance(1.0)
    assert _procs(sensor.poll_once())[9].samples == 2  # t = 0 and 1
    assert _procs(sensor.poll_once())[9].samples == 0  # same instant: nothing new
    clock.advance(3.0)
    assert _procs(sensor.poll_once())[9].samples == 3


def test_older_driver_falls_back_to_process_utilization() -> None:
    clock, nvml, sensor = _rig(
        FakeDevice(0, [FakeProcess(11, Steady(60.0, noise=0.0))], utilization_info=False)
    )
    clock.advance(2.0)
    assert _procs(sensor.poll_once())[11].sm_util == 60.0
    clock.advance(1.0)
    sensor.poll_once()
    assert nvml.calls["nvmlDeviceGetProcessesUtilizationInfo"] == 1  # asked once only
    assert nvml.calls["nvmlDeviceGetProcessUtilization"] == 2
    assert sensor.stats().errors == 0


def test_unsupported_pcie_is_asked_once_and_not_an_error() -> None:
    clock, nvml, sensor = _rig(FakeDevice(0, [], pcie=None))
    for _ in range(5):
        clock.advance(1.0)
        (dev,) = sensor.poll_once()
        assert dev.pcie_tx_kbps is None and dev.pcie_rx_kbps is None
    assert nvml.calls["nvmlDeviceGetPcieThroughput"] == 2  # TX and RX, once each
    assert sensor.stats().errors == 0


def test_accounting_read_only_where_already_enabled() -> None:
    clock, nvml, sensor = _rig(
        FakeDevice(0, [FakeProcess(5, Steady(50.0, noise=0.0))], accounting=True),
        FakeDevice(1, [FakeProcess(6, Steady(50.0, noise=0.0))], accounting=False),
    )
    clock.advance(2.0)
    procs = _procs(sensor.poll_once())
    acct = dict(procs[5].accounting)
    assert acct["gpu_util"] == 50 and acct["time_ms"] == 2000 and acct["max_memory"] == 1 << 30
    assert procs[6].accounting == ()
    assert nvml.calls["nvmlDeviceGetAccountingStats"] == 1  # never asked on device 1


def test_failed_reads_are_counted_and_lost_gpu_degrades() -> None:
    clock, nvml, sensor = _rig(FakeDevice(0, [FakeProcess(5, Steady(50.0))]))
    sensor.open()
    nvml.fail["nvmlDeviceGetPowerUsage"] = 999
    clock.advance(1.0)
    (_, dev) = sensor.poll_once()
    assert dev.power_mw is None and sensor.stats().errors == 1
    nvml.fail["nvmlDeviceGetComputeRunningProcesses"] = 999  # optional read: skipped, counted
    nvml.fail["nvmlDeviceGetProcessesUtilizationInfo"] = NVML_ERROR_GPU_IS_LOST
    clock.advance(1.0)
    assert sensor.poll_once() == []
    assert sensor.state == "degraded" and "lost" in sensor.reason


def test_missing_nvml_is_a_prerequisite_error() -> None:
    sensor = GpuSensor(FakeNvml([FakeDevice(0)], available=False))
    with pytest.raises(PrerequisiteError, match="NVML is unavailable"):
        sensor.open()
    assert sensor.state == "unavailable" and "fix:" in sensor.reason
    with pytest.raises(PrerequisiteError):
        sensor.start(lambda e: None)
    with pytest.raises(PrerequisiteError, match="no GPU"):
        GpuSensor(FakeNvml([])).open()


def test_real_pynvml_default_path() -> None:
    """The default path imports the real pynvml and calls nvmlInit."""
    sensor = GpuSensor()
    try:
        devices = sensor.open()
    except PrerequisiteError as exc:
        assert sensor.state == "unavailable"
        assert "NVML" in str(exc) or "pynvml" in str(exc)
        return
    try:  # a host with a GPU
        assert devices and all(d.uuid for d in devices)
        events = sensor.poll_once()
        assert any(e.activity == "device" for e in events)
    finally:
        sensor.stop()


def test_read_only_gate_refuses_writes_and_reports_codes() -> None:
    nvml = ReadOnlyNvml(FakeNvml([FakeDevice(0)], available=False))
    with pytest.raises(PermissionError):
        nvml.call("nvmlDeviceSetPersistenceMode", None, 1)
    with pytest.raises(NvmlCallError) as info:
        nvml.call("nvmlInit")
    assert info.value.code == NVML_ERROR_LIBRARY_NOT_FOUND
    assert not nvml.has("nvmlDeviceSetAccountingMode")


_WRITE_CALL = re.compile(r"nvml\w*?(?:Set|Clear|Reset)\w*")


def _gpu_sources() -> list[Path]:
    files = [SRC / "sensors" / "gpu.py", *sorted((SRC / "sensors").glob("_gpu_*.py"))]
    files += [SRC / "detect" / "detectors" / "gpu.py", SRC / "sandbox" / "gpu.py"]
    files += [SRC / "testing" / "fake_nvml.py", BENCH]
    return files


def test_scanner_finds_write_calls() -> None:
    """The scan below is able to fail."""
    snippet = (
        "pynvml.nvmlDeviceSetPersistenceMode(h, 1)\ngetattr(m, 'nvmlDeviceClearAccountingPids')"
    )
    assert _WRITE_CALL.findall(snippet) == [
        "nvmlDeviceSetPersistenceMode",
        "nvmlDeviceClearAccountingPids",
    ]


def test_gpu_sources_call_no_nvml_setter() -> None:
    for path in _gpu_sources():
        assert path.exists(), path
        found = _WRITE_CALL.findall(path.read_text(encoding="utf-8"))
        assert found == [], f"{path}: {found}"
    for name in READ_FUNCTIONS:
        assert re.fullmatch(r"nvml(Init|Shutdown|SystemGet\w+|DeviceGet\w+)", name), name


def test_a_whole_session_calls_only_whitelisted_functions() -> None:
    clock, nvml, sensor = _rig(
        FakeDevice(0, [FakeProcess(5, Steady(50.0))], accounting=True, utilization_info=False),
        FakeDevice(1, [FakeProcess(6, Steady(50.0))], pcie=None),
    )
    for _ in range(3):
        clock.advance(1.0)
        sensor.poll_once()
    sensor.stop()
    assert set(nvml.calls) <= READ_FUNCTIONS
    assert nvml.initialized == 0


def test_start_stop_in_a_thread() -> None:
    nvml = FakeNvml([FakeDevice(0, [FakeProcess(os.getpid(), Steady(70.0))])], sample_period_s=0.02)
    sensor = GpuSensor(nvml, poll_interval_s=0.02)
    assert isinstance(sensor, Sensor)
    got: list[GpuEvent] = []
    sensor.start(got.append)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not any(e.samples for e in got):
        time.sleep(0.01)
    sensor.stop()
    sensor.stop()
    assert sensor.state == "stopped" and nvml.initialized == 0
    mine = [e for e in got if e.pid == os.getpid()]
    assert mine and any(e.samples for e in mine)
    # attribution fields from the real /proc of this process
    assert mine[0].image == os.readlink("/proc/self/exe")
    assert "pytest" in mine[0].command_line or "python" in mine[0].command_line
    assert mine[0].ppid == os.getppid() and mine[0].ancestors[0] == os.getppid()
    assert sensor.stats().received > 0


def test_failing_receiver_is_counted_and_survived() -> None:
    nvml = FakeNvml([FakeDevice(0)])
    sensor = GpuSensor(nvml, poll_interval_s=0.01, proc_root=NO_PROC)
    calls: list[int] = []

    def bad(event: GpuEvent) -> None:
        calls.append(1)
        raise RuntimeError("receiver bug")

    sensor.start(bad)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and len(calls) < 3:
        time.sleep(0.01)
    sensor.stop()
    assert len(calls) >= 3 and sensor.stats().errors >= 3


# --- attribution --------------------------------------------------------------------------


def _fake_proc(root: Path, pid: int, ppid: int, comm: str, argv: list[str], cgroup: str) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    fields = ["S", str(ppid)] + ["0"] * 17 + ["4242"]
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (d / "cgroup").write_text(cgroup)


def test_cgroup_fallback_on_a_fake_proc_tree(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 1, 0, "init", ["/sbin/init"], "0::/\n")
    _fake_proc(tmp_path, 100, 1, "bash", ["bash"], "0::/wk-sb1\n")
    _fake_proc(
        tmp_path,
        200,
        100,
        "x (mi)ner",
        ["./xmrig", "-o", "pool"],
        "12:memory:/wk-sb1/step-3\n0::/wk-sb1/step-3\n",
    )
    clock = ManualClock()
    nvml = FakeNvml([FakeDevice(0, [FakeProcess(200, Steady(99.0))])], clock=clock)
    sensor = GpuSensor(nvml, clock=clock, proc_root=str(tmp_path), run_id="r1")
    clock.advance(1.0)
    event = _procs(sensor.poll_once())[200]
    assert event.sandbox_id == "sb1" and event.step is None and event.run_id == "r1"
    assert event.image == "x (mi)ner"  # no exe link in the fake tree: the comm name
    assert event.command_line == "./xmrig -o pool"
    assert event.ppid == 100 and event.ancestors == (100, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0::/wk-abc\n", "abc"),
        ("0::/user.slice/wk-a_b.1.scope/inner\n", "a_b.1"),
        ("4:memory:/wk-outer/wk-inner\n", "outer"),
        ("0::/process_api/wkfoo\n", None),
        ("0::/wk-\n", None),
        ("garbage", None),
        ("1:cpu:/x\n0::/wk-v2\n", "v2"),
    ],
)
def test_sandbox_of_cgroup_file(text: str, expected: str | None) -> None:
    assert sandbox_of_cgroup_file(text) == expected


def test_cgroup_attribution_of_this_process() -> None:
    text = Path(f"/proc/{os.getpid()}/cgroup").read_text()
    found = re.search(r"/wk-([A-Za-z0-9][A-Za-z0-9_.:-]*)", text)
    result = CgroupAttributor().attribution_of(os.getpid())
    if found is None:
        assert result is None
    else:
        assert result is not None and result.sandbox_id == found.group(1).removesuffix(".scope")
    assert CgroupAttributor().attribution_of(2**22 + 12345) is None  # no such pid


def test_attributor_then_cgroup_fallback(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 300, 1, "python", ["python", "train.py"], "0::/wk-cg\n")
    _fake_proc(tmp_path, 301, 1, "python", ["python", "x.py"], "0::/wk-cg\n")
    lineage = Lineage()
    lineage.register_root(300, "sb-lineage", step=4, tool_call_id="call_7")
    lineage.on_fork(300, 310)
    clock = ManualClock()
    nvml = FakeNvml(
        [FakeDevice(0, [FakeProcess(p, Steady(50.0)) for p in (300, 301, 310)])], clock=clock
    )
    sensor = GpuSensor(nvml, clock=clock, proc_root=str(tmp_path), attributor=lineage)
    clock.advance(1.0)
    procs = _procs(sensor.poll_once())
    assert (procs[300].sandbox_id, procs[300].step, procs[300].tool_call_id) == (
        "sb-lineage",
        4,
        "call_7",
    )
    assert procs[310].step == 4 and procs[310].ancestors == (300,)  # from fork-time lineage
    assert (procs[301].sandbox_id, procs[301].step) == ("cg", None)  # cgroup fallback


def test_static_attributor_and_broken_attributor() -> None:
    assert StaticAttributor({5: "s"}).attribution_of(5) == GpuAttribution("s")
    assert StaticAttributor({5: "s"}).attribution_of(6) is None

    class Broken:
        def attribution_of(self, pid: int) -> GpuAttribution | None:
            raise RuntimeError("bug")

    clock, _, sensor = _rig(FakeDevice(0, [FakeProcess(5, Steady(50.0))]), attributor=Broken())
    clock.advance(1.0)
    assert _procs(sensor.poll_once())[5].sandbox_id == ""
    assert sensor.stats().errors == 1


def test_proc_reader_survives_pid_reuse_and_cycles(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 50, 51, "a", ["a"], "")
    _fake_proc(tmp_path, 51, 50, "b", ["b"], "")  # a cycle must not loop
    reader = ProcReader(str(tmp_path))
    assert reader.ancestors(50) == (51,)
    first = reader.info(50)
    assert first is not None and first.command_line == "a"
    (tmp_path / "50" / "cmdline").write_bytes(b"changed\0")
    stat = (tmp_path / "50" / "stat").read_text().replace(" 4242", " 9999")
    (tmp_path / "50" / "stat").write_text(stat)  # a new process with the same pid
    again = reader.info(50)
    assert again is not None and again.command_line == "changed"
    assert reader.info(999) is None


def _cgroup2_root() -> Path | None:
    for candidate in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if (
            Path(candidate, "cgroup.procs").exists()
            and Path(candidate, "cgroup.controllers").exists()
        ):
            return Path(candidate)
    return None


@pytest.mark.root
def test_cgroup_attribution_of_a_real_sandbox_cgroup() -> None:
    root = _cgroup2_root()
    if os.geteuid() != 0 or root is None:
        pytest.skip("needs root and a cgroup2 hierarchy")
    group = root / f"wk-gputest{os.getpid()}"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(sleeper.pid))
        found = CgroupAttributor().attribution_of(sleeper.pid)
        assert found == GpuAttribution(f"gputest{os.getpid()}")
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
        for _ in range(50):
            try:
                if group.exists():
                    group.rmdir()
                break
            except OSError:
                time.sleep(0.05)
    assert not group.exists()


# --- traces and the real device ------------------------------------------------------------


def test_probe_shaped_trace_replays() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "gpu" / "h200_probe_shaped.jsonl"
    devices = load_trace(path.read_text().splitlines())
    clock = ManualClock()
    nvml = FakeNvml(devices, clock=clock)
    sensor = GpuSensor(nvml, clock=clock, proc_root=NO_PROC)
    seen: dict[int, list[float]] = {}
    for _ in range(30):
        clock.advance(1.0)
        for e in sensor.poll_once():
            if e.activity == "process" and e.sm_util is not None and e.pid is not None:
                seen.setdefault(e.pid, []).append(e.sm_util)
    assert set(seen) == {1001, 1002}
    assert 35 < sum(seen[1001]) / len(seen[1001]) < 50
    assert 45 < sum(seen[1002]) / len(seen[1002]) < 60


def test_trace_loader_rejects_bad_lines() -> None:
    with pytest.raises(ValueError, match="line 2"):
        load_trace(['{"type": "device", "index": 0}', '{"type": "process"}'])
    with pytest.raises(ValueError, match="unknown type"):
        load_trace(['{"type": "nope"}'])


@pytest.mark.gpu
def test_real_gpu_poll() -> None:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no NVIDIA GPU here")
    sensor = GpuSensor()
    try:
        sensor.open()
        events = sensor.poll_once()
    finally:
        sensor.stop()
    assert [e for e in events if e.activity == "device"]


# --- bench/gpu_check.py ----------------------------------------------------------------------

_BLOCKER = """
import runpy, sys
HEAVY = {"duckdb", "click", "ahocorasick", "yaml", "rich", "psutil", "torch", "cupy", "pynvml"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"blocked by the test: {name}", name=name)
        return None
sys.meta_path.insert(0, Block())
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _load_bench() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("wk_gpu_check", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_replace_section() -> None:
    bench = _load_bench()
    replace = bench.replace_section  # type: ignore[attr-defined]
    new = "## GPU check\n\nnew\n"
    assert replace("", new) == new
    assert replace("# B\n\n## Other\n\nx\n", new) == "# B\n\n## Other\n\nx\n\n" + new
    old = "# B\n\n## GPU check\n\nold\n\n## Later\n\ny\n"
    assert replace(old, new) == "# B\n\n## GPU check\n\nnew\n\n## Later\n\ny\n"
    assert replace(replace(old, new), new) == replace(old, new)


def test_bench_dry_run_end_to_end(tmp_path: Path) -> None:
    """The whole check against the fake NVML, with duckdb/yaml/ahocorasick/torch/pynvml blocked."""
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## GPU check\n\nstale\n\n## Proc sensor\n\nkeep me\n")
    out = tmp_path / "gpu.json"
    trace = tmp_path / "trace.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _BLOCKER,
            str(BENCH),
            "--dry-run",
            "--docs",
            str(docs),
            "--json",
            str(out),
            "--record",
            str(trace),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()
    assert last[-1].startswith("| profile features (rogue)")  # the table comes last
    result = json.loads(out.read_text())
    assert result["dry_run"] and result["rogue_alerted"] and result["declared_quiet"]
    assert result["rogue_alert_sandbox"] == "rogue"
    assert result["rogue_latency_from_first_kernel_s"] <= 5.0
    assert result["rate_off"] > 0 and result["rate_on"] > 0
    assert result["sensor_stats"]["errors"] == 0
    text = docs.read_text()
    assert text.count("## GPU check") == 1 and "stale" not in text and "keep me" in text
    assert "dry run against the fake NVML" in text
    devices = load_trace(trace.read_text().splitlines())
    assert {p.pid for p in devices[0].processes} == {result["declared_pid"], result["rogue_pid"]}


def test_bench_without_gpu_exits_3() -> None:
    if shutil.which("nvidia-smi") is not None:
        pytest.skip("this host has an NVIDIA GPU")
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    done = subprocess.run(
        [sys.executable, str(BENCH)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no GPU to check on" in done.stdout and "--dry-run" in done.stdout
