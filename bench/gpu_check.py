"""GPU check: the GPU sensor, detectors and grant policy against real GPU work, in one script.

Run on a host with an NVIDIA GPU (PyTorch or CuPy, nvidia-ml-py; no network, no bubblewrap)::

    PYTHONPATH=src python bench/gpu_check.py [--json OUT.json] [--record TRACE.jsonl]

It starts a declared workload (a bf16 matrix-multiply loop) in one child process and, later, a
rogue process (an integer hash loop) in a second child the policy did not grant, both as plain
processes with a synthetic sandbox assignment by pid. It shows that the rogue is alerted within
5 s with the right pid and sandbox, that the declared workload is not alerted, and what the
sensor's polling costs the declared workload (matmul iterations/s with the sensor polling vs not,
in alternating phases of the same run). It prints a table last and writes a "GPU check" section
into docs/benchmarks.md.

``--dry-run`` runs the same flow against the fake NVML (CPU-only child processes), anywhere.
Exit codes: 0 all checks passed, 1 a check failed, 3 no GPU (or no NVML / no PyTorch or CuPy),
4 the check itself broke (a worker did not start, timeout).

Only stdlib + pynvml + torch/cupy (in the workers) + watchkeeper's pure-Python modules are used;
watchkeeper's packages are loaded without their ``__init__`` side effects (see _light_imports).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_FAILED, EXIT_NO_GPU, EXIT_BROKEN = 0, 1, 3, 4
ALERT_DEADLINE_S = 5.0


# --- workers (children; they import only torch/cupy and stdlib) -----------------------------


def _progress_loop(
    step: Callable[[], None],
    sync: Callable[[], None],
    seconds: float,
    k: int,
    every_s: float = 0.25,
) -> None:
    parent = os.getppid()
    print(json.dumps({"ready": True, "pid": os.getpid(), "t": time.time()}), flush=True)
    iters, last = 0, 0.0
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(k):
            step()
        sync()
        iters += k
        now = time.time()
        if now - last >= every_s:
            print(json.dumps({"t": now, "iters": iters}), flush=True)
            last = now
            if os.getppid() != parent:  # the check died: do not linger on the GPU
                return


def _worker(kind: str, seconds: float, cuda_index: int, fake: bool, n: int) -> int:
    if fake:
        counter = [0]

        def spin() -> None:
            for _ in range(2000):
                counter[0] += 1
            time.sleep(0.001)

        _progress_loop(spin, lambda: None, seconds, 5, every_s=0.05)
        return 0
    if importlib.util.find_spec("torch") is not None:
        import torch

        device = torch.device(f"cuda:{cuda_index}")
        if kind == "matmul":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            c = torch.empty(n, n, device=device, dtype=dtype)
            torch.matmul(a, b, out=c)
            torch.cuda.synchronize(device)
            _progress_loop(
                lambda: torch.matmul(a, b, out=c),
                lambda: torch.cuda.synchronize(device),
                seconds,
                10,
            )
        else:
            x = torch.arange(1 << 26, device=device, dtype=torch.int64)

            def mix() -> None:
                x.mul_(6364136223846793005).add_(1442695040888963407)
                x.bitwise_xor_(x >> 33)

            mix()
            torch.cuda.synchronize(device)
            _progress_loop(mix, lambda: torch.cuda.synchronize(device), seconds, 10)
        return 0
    import cupy  # type: ignore[import-not-found]

    with cupy.cuda.Device(cuda_index):
        sync = cupy.cuda.Device(cuda_index).synchronize
        if kind == "matmul":
            a = cupy.random.random((n, n)).astype(cupy.float16)
            b = cupy.random.random((n, n)).astype(cupy.float16)
            _progress_loop(lambda: cupy.matmul(a, b), sync, seconds, 10)
        else:
            x = cupy.arange(1 << 26, dtype=cupy.uint64)

            def mix_cupy() -> None:
                x.__imul__(cupy.uint64(6364136223846793005))
                x.__iadd__(cupy.uint64(1442695040888963407))
                x.__ixor__(x >> cupy.uint64(33))

            _progress_loop(mix_cupy, sync, seconds, 10)
    return 0


class Worker:
    """A child process running a worker loop; its progress lines are read in a thread."""

    def __init__(
        self, kind: str, args: argparse.Namespace, env: dict[str, str], cuda_index: int
    ) -> None:
        self.kind = kind
        self.stderr = tempfile.TemporaryFile()
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            kind,
            "--seconds",
            str(args.worker_seconds),
            "--cuda-index",
            str(cuda_index),
            "--matmul-n",
            str(args.matmul_n),
        ]
        if args.dry_run:
            cmd.append("--fake")
        self.spawned = time.time()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.stderr, env=env, text=True
        )
        self.pid = self.proc.pid
        self.ready_at: float | None = None
        self.progress: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name=f"wk-read-{kind}", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if item.get("ready"):
                    self.ready_at = float(item["t"])
                elif "iters" in item:
                    self.progress.append((float(item["t"]), int(item["iters"])))

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_at is not None:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def rate(self, start: float, end: float) -> float | None:
        with self._lock:
            inside = [p for p in self.progress if start <= p[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def error_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.stderr.seek(0)
            return self.stderr.read()[-2000:].decode("utf-8", "replace")
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)


# --- imports of watchkeeper's pure-Python modules -----------------------------------------------


def _light_imports() -> dict[str, types.ModuleType]:
    """Import the GPU modules without running the package ``__init__`` files above them.

    ``watchkeeper.detect`` (for one) imports the Sigma engine, which needs pyahocorasick and
    PyYAML; the GPU modules need neither. Bare package objects stand in for the parents.
    """
    src = ROOT / "src" / "watchkeeper"
    if "watchkeeper" not in sys.modules:
        for name, path in (
            ("watchkeeper", src),
            ("watchkeeper.detect", src / "detect"),
            ("watchkeeper.detect.detectors", src / "detect" / "detectors"),
            ("watchkeeper.sandbox", src / "sandbox"),
            ("watchkeeper.sensors", src / "sensors"),
            ("watchkeeper.testing", src / "testing"),
        ):
            module = types.ModuleType(name)
            module.__path__ = [str(path)]
            module.__package__ = name
            sys.modules[name] = module
    names = {
        "sensor": "watchkeeper.sensors.gpu",
        "detector": "watchkeeper.detect.detectors.gpu",
        "grant": "watchkeeper.sandbox.gpu",
        "fake": "watchkeeper.testing.fake_nvml",
        "errors": "watchkeeper.errors",
    }
    return {key: importlib.import_module(name) for key, name in names.items()}


# --- the check -------------------------------------------------------------------------------


class Check:
    """Runs the phases and collects the numbers."""

    def __init__(self, args: argparse.Namespace, mods: dict[str, types.ModuleType]) -> None:
        self.args = args
        self.m = mods
        self.workers: list[Worker] = []
        self.alerts: list[tuple[float, Any]] = []
        self.events: list[Any] = []
        self.lock = threading.Lock()
        self.fake: Any = None
        self.notes: list[str] = []

    # setup

    def nvml_module(self) -> object | None:
        if not self.args.dry_run:
            return None  # the sensor imports the real pynvml
        fake = self.m["fake"]
        self.fake = fake.FakeNvml(
            [fake.FakeDevice(0, [], name="Fake GPU (dry run)", pcie=fake.Pcie(30, 30))],
            sample_period_s=self.args.poll_s,
            driver_version="fake",
        )
        return self.fake

    def add_fake_process(self, worker: Worker) -> None:
        if self.fake is None:
            return
        fake = self.m["fake"]
        profile = (
            fake.Steady(43.0, 1.5, seed=1)
            if worker.kind == "matmul"
            else fake.Steady(52.0, 1.0, seed=2)
        )
        self.fake.devices[0].processes.append(
            fake.FakeProcess(worker.pid, profile, used_memory=2 << 30, start_s=self.fake.now())
        )

    def worker_env(self, granted: bool, device: Any) -> tuple[dict[str, str], int]:
        grant_mod = self.m["grant"]
        grant = grant_mod.GpuGrant.of(device.index) if granted else grant_mod.GpuGrant.none()
        minors = {str(device.index): device.minor} if device.minor is not None else None
        try:
            argv, env = grant_mod.gpu_bwrap_args(grant, "/dev", minors=minors)
            self.notes.append(
                f"{'granted' if granted else 'ungranted'} bwrap args: {' '.join(argv)}"
            )
        except Exception as exc:  # no /dev/nvidiaN here (dry run, unusual VM): env only
            env = (
                {"CUDA_VISIBLE_DEVICES": str(device.index), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
                if granted
                else {}
            )
            self.notes.append(f"grant args unavailable ({exc}); environment only")
        out = grant_mod.sandbox_env(dict(os.environ), env)
        out.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
        return out, (0 if granted else device.index)

    # phases

    def run(self) -> dict[str, Any]:
        a = self.args
        s_mod, d_mod = self.m["sensor"], self.m["detector"]
        nvml = self.nvml_module()
        sandboxes: dict[int, str] = {}

        class ByPid:
            def attribution_of(self, pid: int) -> Any:
                name = sandboxes.get(pid)
                return s_mod.GpuAttribution(name) if name else None

        def new_sensor() -> Any:
            return s_mod.GpuSensor(nvml, attributor=ByPid(), poll_interval_s=a.poll_s)

        probe = new_sensor()
        try:
            devices = probe.open()
        except self.m["errors"].PrerequisiteError as exc:
            raise NoGpu(str(exc)) from exc
        device = next((d for d in devices if d.index == a.device), None)
        if device is None:
            probe.stop()
            raise NoGpu(f"no GPU with NVML index {a.device} (found {[d.index for d in devices]})")
        card, driver = device.name, probe.driver_version
        probe.stop()

        declared_env, declared_cuda = self.worker_env(True, device)
        declared = Worker("matmul", a, declared_env, declared_cuda)
        self.workers.append(declared)
        if not declared.wait_ready(a.start_timeout):
            raise Broken(f"declared workload did not start: {declared.error_tail()}")
        sandboxes[declared.pid] = "trainer"
        self.add_fake_process(declared)
        policy = d_mod.GpuPolicy(
            grants={"trainer": self.m["grant"].GpuGrant.of(device.index)},
            declared={"trainer": frozenset({declared.pid})},
        )
        config = d_mod.GpuDetectorConfig(
            window_s=a.window_s, min_samples=max(5, int(a.window_s / a.poll_s / 2))
        )
        detector = d_mod.GpuDetector(policy, config)

        def emit(event: Any) -> None:
            found = detector.observe(event)
            with self.lock:
                if a.record:
                    self.events.append(event)
                self.alerts += [(time.time(), x) for x in found]

        # Overhead: alternate sensor off / on phases on the declared workload alone.
        phases: list[tuple[str, float | None]] = []
        settle = min(1.0, a.phase_s / 4)
        for name in ("off", "on", "off", "on"):
            sensor = new_sensor() if name == "on" else None
            if sensor is not None:
                sensor.start(emit)
            start = time.time()
            time.sleep(a.phase_s)
            phases.append((name, declared.rate(start + settle, time.time())))
            if sensor is not None:
                sensor.stop()
        off = [r for n, r in phases if n == "off" and r]
        on = [r for n, r in phases if n == "on" and r]
        off_rate = sum(off) / len(off) if off else None
        on_rate = sum(on) / len(on) if on else None

        # Poll cost, measured directly.
        timer = new_sensor()
        timer.open()
        t0 = time.perf_counter()
        polls = 10
        for _ in range(polls):
            timer.poll_once()
        poll_ms = (time.perf_counter() - t0) / polls * 1000
        timer.stop()

        # The rogue: an ungranted process on the same GPU while the sensor polls.
        sensor = new_sensor()
        sensor.start(emit)
        rogue_env, rogue_cuda = self.worker_env(False, device)
        rogue = Worker("hash", a, rogue_env, rogue_cuda)
        self.workers.append(rogue)
        sandboxes[rogue.pid] = "rogue"
        self.add_fake_process(rogue)
        if not rogue.wait_ready(a.start_timeout):
            sensor.stop()
            raise Broken(f"rogue process did not start: {rogue.error_tail()}")
        time.sleep(a.rogue_s)
        sensor.stop()
        stats = sensor.stats()
        rogue_rate = rogue.rate(rogue.ready_at or 0.0, time.time())

        with self.lock:
            alerts = list(self.alerts)
        on_rogue = [(t, x) for t, x in alerts if f"pid:{rogue.pid}" in x.tags]
        on_declared = [(t, x) for t, x in alerts if f"pid:{declared.pid}" in x.tags]
        ungranted = next(((t, x) for t, x in on_rogue if x.rule_id == d_mod.RULE_UNGRANTED), None)
        latency = None if ungranted is None else ungranted[0] - (rogue.ready_at or rogue.spawned)
        rogue_ok = (
            ungranted is not None
            and ungranted[1].sandbox_id == "rogue"
            and latency is not None
            and latency <= ALERT_DEADLINE_S
        )
        feats = {
            name: detector.features(w.pid, device.index)
            for name, w in (("declared", declared), ("rogue", rogue))
        }
        return {
            "dry_run": a.dry_run,
            "card": card,
            "driver": driver,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),  # noqa: UP017 - 3.10
            "poll_s": a.poll_s,
            "declared_pid": declared.pid,
            "rogue_pid": rogue.pid,
            "rogue_alerted": rogue_ok,
            "rogue_alert_rule": ungranted[1].rule_id if ungranted else None,
            "rogue_alert_sandbox": ungranted[1].sandbox_id if ungranted else None,
            "rogue_latency_from_first_kernel_s": latency,
            "rogue_latency_from_spawn_s": None
            if ungranted is None
            else ungranted[0] - rogue.spawned,
            "rogue_rules": sorted({x.rule_id for _, x in on_rogue}),
            "declared_alerts": [x.rule_id for _, x in on_declared],
            "declared_quiet": not on_declared,
            "phases": phases,
            "rate_off": off_rate,
            "rate_on": on_rate,
            "overhead_pct": None if not (off_rate and on_rate) else (1 - on_rate / off_rate) * 100,
            "rogue_rate": rogue_rate,
            "poll_ms": poll_ms,
            "sensor_stats": {
                "received": stats.received,
                "dropped": stats.dropped,
                "errors": stats.errors,
            },
            "features": {
                k: (
                    None
                    if v is None
                    else {
                        "samples": v.samples,
                        "sm_mean": round(v.sm_mean, 1),
                        "sm_cv": round(v.sm_cv, 4),
                        "dip_fraction": round(v.dip_fraction, 3),
                        "mem_sm_ratio": round(v.mem_sm_ratio, 2),
                        "pcie_kbps": None if v.pcie_kbps is None else round(v.pcie_kbps),
                    }
                )
                for k, v in feats.items()
            },
            "notes": self.notes,
        }

    def cleanup(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.stop()


class NoGpu(Exception):
    """No GPU, NVML or GPU library: exit 3."""


class Broken(Exception):
    """The check itself could not run: exit 4."""


# --- output ------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def table(r: dict[str, Any]) -> str:
    """The result table (Markdown)."""
    rows = [
        (
            "rogue alerted <= 5 s (ungranted)",
            "PASS" if r["rogue_alerted"] else "FAIL",
            f"{_fmt(r['rogue_latency_from_first_kernel_s'], '.2f', ' s')} after its first kernel "
            f"({_fmt(r['rogue_latency_from_spawn_s'], '.1f', ' s')} after spawn); pid {r['rogue_pid']}, "
            f"sandbox {r['rogue_alert_sandbox']}; rules {', '.join(r['rogue_rules']) or 'none'}",
        ),
        (
            "declared workload not alerted",
            "PASS" if r["declared_quiet"] else "FAIL",
            f"pid {r['declared_pid']}: {', '.join(r['declared_alerts']) or 'no alert'}",
        ),
        (
            "sensor overhead on matmul it/s",
            "INFO",
            f"{_fmt(r['overhead_pct'], '.2f', ' %')} (off {_fmt(r['rate_off'])} it/s, "
            f"polling every {r['poll_s']} s {_fmt(r['rate_on'])} it/s)",
        ),
        ("one poll of the device", "INFO", f"{r['poll_ms']:.1f} ms"),
        ("sensor counters", "INFO", ", ".join(f"{k} {v}" for k, v in r["sensor_stats"].items())),
    ]
    for name in ("declared", "rogue"):
        f = r["features"].get(name)
        text = (
            "no samples"
            if f is None
            else (
                f"SM {f['sm_mean']}%, CV {f['sm_cv']}, dips {f['dip_fraction']}, "
                f"mem/SM {f['mem_sm_ratio']}, PCIe {f['pcie_kbps']} KB/s, {f['samples']} samples"
            )
        )
        rows.append((f"profile features ({name})", "INFO", text))
    lines = ["| check | result | value |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def docs_section(r: dict[str, Any]) -> str:
    kind = "dry run against the fake NVML (not hardware numbers)" if r["dry_run"] else "hardware"
    return (
        "## GPU check\n\n"
        f"`PYTHONPATH=src python bench/gpu_check.py` on {r['card']}, driver {r['driver']}, "
        f"{r['date']} ({kind}). Declared workload: bf16 matmul loop; rogue: integer hash loop "
        "in an ungranted synthetic sandbox; overhead from alternating sensor off/on phases "
        "in the same run.\n\n" + table(r) + "\n"
    )


def replace_section(text: str, section: str, heading: str = "## GPU check") -> str:
    """``text`` with its ``heading`` section replaced by ``section`` (appended if absent)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def record_trace(events: list[Any], path: str) -> None:
    """Write the run's GPU events as a trace that watchkeeper.testing.fake_nvml.load_trace reads."""
    if not events:
        return
    t0 = min(e.ts for e in events)
    procs: dict[tuple[int, int], list[list[float]]] = {}
    devices: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.activity == "device":
            dev = devices.setdefault(
                e.device_index,
                {
                    "type": "device",
                    "index": e.device_index,
                    "name": e.device_name,
                    "uuid": e.device_uuid,
                    "pcie": [],
                },
            )
            if e.pcie_tx_kbps is not None or e.pcie_rx_kbps is not None:
                dev["pcie"].append([round(e.ts - t0, 3), e.pcie_tx_kbps or 0, e.pcie_rx_kbps or 0])
        elif e.sm_util is not None and e.pid is not None:
            procs.setdefault((e.device_index, e.pid), []).append(
                [round(e.ts - t0, 3), e.sm_util, e.mem_util or 0.0]
            )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# recorded by bench/gpu_check.py\n")
        for dev in devices.values():
            fh.write(json.dumps(dev) + "\n")
        for (index, pid), samples in procs.items():
            fh.write(
                json.dumps(
                    {
                        "type": "process",
                        "device": index,
                        "pid": pid,
                        "start": samples[0][0],
                        "samples": samples,
                    }
                )
                + "\n"
            )


# --- main ---------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="use the fake NVML and CPU-only workers")
    p.add_argument("--device", type=int, default=0, help="NVML index of the GPU to use")
    p.add_argument(
        "--poll-s", type=float, default=None, help="sensor poll interval (1.0; dry run 0.2)"
    )
    p.add_argument(
        "--phase-s", type=float, default=None, help="length of each overhead phase (8; dry run 0.6)"
    )
    p.add_argument(
        "--rogue-s",
        type=float,
        default=None,
        help="how long the rogue runs after its first kernel (20; dry run 2)",
    )
    p.add_argument(
        "--window-s", type=float, default=15.0, help="mining-profile window for this short check"
    )
    p.add_argument(
        "--start-timeout", type=float, default=120.0, help="seconds a worker may take to start"
    )
    p.add_argument("--deadline", type=float, default=280.0, help="hard limit for the whole check")
    p.add_argument("--matmul-n", type=int, default=8192)
    p.add_argument(
        "--docs",
        default=None,
        help="Markdown file to write the section into "
        "(default docs/benchmarks.md on hardware; nothing in a dry run)",
    )
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--json", default=None, help="also write the numbers as JSON here")
    p.add_argument("--record", default=None, help="write the GPU events as a replayable trace here")
    p.add_argument("--worker", choices=("matmul", "hash"), help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--cuda-index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    dry = args.dry_run
    args.poll_s = args.poll_s or (0.2 if dry else 1.0)
    args.phase_s = args.phase_s or (0.6 if dry else 8.0)
    args.rogue_s = args.rogue_s or (2.0 if dry else 20.0)
    if dry:
        args.window_s = min(args.window_s, 2.0)
    args.worker_seconds = args.deadline + 30  # the parent stops them; this is the backstop
    return args


def gpu_present() -> str | None:
    """Why there is no usable GPU here (None when there is one)."""
    try:
        import pynvml  # type: ignore[import-untyped]
    except ImportError:
        return "pynvml (nvidia-ml-py) is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return f"NVML is unavailable ({exc}): no NVIDIA driver or GPU"
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return "NVML reports no GPU"
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    if importlib.util.find_spec("torch") is None and importlib.util.find_spec("cupy") is None:
        return "neither PyTorch nor CuPy is installed"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return _worker(args.worker, args.seconds, args.cuda_index, args.fake, args.matmul_n)
    if not args.dry_run:
        why = gpu_present()
        if why is not None:
            print(
                f"gpu_check: no GPU to check on: {why}. Use --dry-run to run against the fake NVML."
            )
            return EXIT_NO_GPU

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"the check took longer than {args.deadline:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.deadline))
    check: Check | None = None
    try:
        mods = _light_imports()
        check = Check(args, mods)
        result = check.run()
    except NoGpu as exc:
        print(f"gpu_check: no GPU to check on: {exc}")
        return EXIT_NO_GPU
    except (Broken, TimeoutError) as exc:
        print(f"gpu_check: the check could not run: {exc}")
        return EXIT_BROKEN
    finally:
        signal.alarm(0)
        if check is not None:
            check.cleanup()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    if args.record and check is not None:
        record_trace(check.events, args.record)
    docs = (
        None
        if args.no_docs
        else (args.docs or (None if args.dry_run else str(ROOT / "docs" / "benchmarks.md")))
    )
    if docs:
        path = Path(docs)
        old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
        path.write_text(replace_section(old, docs_section(result)), encoding="utf-8")
    for note in result["notes"]:
        print(f"note: {note}")
    title = f"GPU check: {result['card']}, driver {result['driver']}, {result['date']}"
    if result["dry_run"]:
        title += " (DRY RUN: fake NVML, CPU workers)"
    print(title)
    print(table(result))
    ok = result["rogue_alerted"] and result["declared_quiet"]
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
