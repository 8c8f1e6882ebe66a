"""A fake NVML with pynvml's names, replaying scripted or recorded per-process GPU use.

Pass a :class:`FakeNvml` where the GPU sensor takes its ``nvml`` module::

    clock = ManualClock(1_700_000_000.0)
    nvml = FakeNvml([FakeDevice(0, processes=[FakeProcess(4242, Steady(97.0))])], clock=clock)
    sensor = GpuSensor(nvml, clock=clock)

Semantics copied from the real library (nvidia-ml-py 13, driver 580, measured on an H200):

- ``nvmlDeviceGetProcessUtilization(handle, last_seen_us)`` and the newer
  ``nvmlDeviceGetProcessesUtilizationInfo`` return the samples newer than ``last_seen_us``;
  with none, they raise NVMLError(NOT_FOUND). Samples carry CPU timestamps in microseconds.
- A process that ran no kernel during a sample period has no sample in it (the fake drops the
  sample when the scripted SM use is under 1 %).
- Before ``nvmlInit`` every call raises UNINITIALIZED; without a driver ``nvmlInit`` raises
  LIBRARY_NOT_FOUND.

Profiles are pure functions of time (seeded, hash-based noise), so any sample can be asked for
in any order. ``calls`` counts every function the code under test called.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
}
_MAX_TRACE_LINES = 100_000
_MAX_TRACE_SAMPLES = 1_000_000


class NVMLError(Exception):
    """Like ``pynvml.NVMLError``: ``value`` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"Unknown Error ({self.value})")


# --- time -------------------------------------------------------------------------------


class ManualClock:
    """A clock that moves only when told (share one between the fake and the sensor)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward and return the new time."""
        self.now += seconds
        return self.now


# --- profiles: t (seconds since the process started) -> (SM %, memory %) -------------------


def _noise(seed: int, k: int, sigma: float) -> float:
    if sigma <= 0:
        return 0.0
    return random.Random(seed * 1_000_003 + k).gauss(0.0, sigma)


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


@dataclass(frozen=True, slots=True)
class Steady:
    """Constant load with Gaussian noise: a mining-like (or a pure benchmark) profile.

    Attributes:
        level: Mean SM %.
        noise: Standard deviation of SM % per sample.
        mem_ratio: Memory % / SM % (0.7 was measured for both matmul and an integer hash).
        seed: Noise seed.
    """

    level: float
    noise: float = 1.0
    mem_ratio: float = 0.7
    seed: int = 0

    def __call__(self, t: float) -> tuple[float, float]:
        k = int(t * 1000)
        sm = _clamp(self.level + _noise(self.seed, k, self.noise))
        return sm, _clamp(sm * self.mem_ratio + _noise(self.seed + 7, k, self.noise / 2))


@dataclass(frozen=True, slots=True)
class Phased:
    """Training-like: busy steps with noise, and every ``period_s`` a dip (data loading,
    evaluation, checkpoint) of ``dip_s`` seconds at ``dip_level``.

    Attributes:
        level: Mean SM % while computing.
        noise: Standard deviation of SM % per sample.
        period_s: Seconds between the starts of two dips.
        dip_s: Length of a dip.
        dip_level: SM % during a dip (under 1 % means idle: no NVML sample at all).
        mem_ratio: Memory % / SM %.
        offset_s: Where in the period the process starts.
        seed: Noise seed.
    """

    level: float
    noise: float = 3.0
    period_s: float = 30.0
    dip_s: float = 3.0
    dip_level: float = 5.0
    mem_ratio: float = 0.7
    offset_s: float = 0.0
    seed: int = 0

    def in_dip(self, t: float) -> bool:
        """True when ``t`` falls in a dip."""
        return (t + self.offset_s) % self.period_s >= self.period_s - self.dip_s

    def __call__(self, t: float) -> tuple[float, float]:
        k = int(t * 1000)
        if self.in_dip(t):
            idle = self.dip_level < 1.0
            sm = 0.0 if idle else _clamp(self.dip_level + abs(_noise(self.seed, k, 1.0)))
        else:
            sm = _clamp(self.level + _noise(self.seed, k, self.noise))
        return sm, _clamp(sm * self.mem_ratio + _noise(self.seed + 7, k, self.noise / 2))


@dataclass(frozen=True, slots=True)
class Replay:
    """Recorded samples ``(t, sm, mem)`` held as a step function (t relative to the start)."""

    samples: tuple[tuple[float, float, float], ...]

    def __call__(self, t: float) -> tuple[float, float]:
        if not self.samples or t < self.samples[0][0]:
            return 0.0, 0.0
        lo, hi = 0, len(self.samples) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.samples[mid][0] <= t:
                lo = mid
            else:
                hi = mid - 1
        _, sm, mem = self.samples[lo]
        return _clamp(sm), _clamp(mem)


@dataclass(frozen=True, slots=True)
class Pcie:
    """Device PCIe throughput in KB/s: a base rate, plus bursts while ``burst_when(t)``."""

    tx_kbps: float = 10.0
    rx_kbps: float = 10.0
    burst_kbps: float = 0.0
    burst_when: Callable[[float], bool] | None = None
    seed: int = 0

    def __call__(self, t: float) -> tuple[int, int]:
        k = int(t * 1000)
        jitter = 1.0 + 0.1 * _noise(self.seed, k, 1.0)
        burst = self.burst_kbps if self.burst_when is not None and self.burst_when(t) else 0.0
        tx = max(0.0, self.tx_kbps * jitter)
        rx = max(0.0, (self.rx_kbps + burst) * jitter)
        return int(tx), int(rx)


Profile = Callable[[float], tuple[float, float]]


# --- devices and processes --------------------------------------------------------------


@dataclass(slots=True)
class FakeProcess:
    """A process with a GPU context on a fake device.

    Attributes:
        pid: Host pid NVML reports.
        profile: SM %/memory % over time since ``start_s``.
        used_memory: Bytes of GPU memory it holds.
        start_s: When (seconds after the fake's epoch) it created its context.
        end_s: When it exited (inf: never).
    """

    pid: int
    profile: Profile
    used_memory: int = 1 << 30
    start_s: float = 0.0
    end_s: float = math.inf

    def alive(self, t: float) -> bool:
        """True when the process holds its context at ``t``."""
        return self.start_s <= t < self.end_s


@dataclass(slots=True)
class FakeDevice:
    """One fake GPU.

    Attributes:
        index: NVML index.
        processes: Processes that use it.
        uuid / name / minor: Identity (minor: N of /dev/nvidiaN).
        pcie: PCIe throughput profile over fake time; None: the counter is not supported.
        accounting: Accounting mode, as already set by an administrator.
        utilization_info: Whether the newer nvmlDeviceGetProcessesUtilizationInfo exists.
        total_memory: Device memory in bytes.
    """

    index: int
    processes: list[FakeProcess] = field(default_factory=list)
    uuid: str = ""
    name: str = "NVIDIA H200"
    minor: int | None = None
    pcie: Callable[[float], tuple[int, int]] | None = field(default_factory=Pcie)
    accounting: bool = False
    utilization_info: bool = True
    total_memory: int = 143_771_336_704

    def __post_init__(self) -> None:
        if not self.uuid:
            self.uuid = f"GPU-00000000-0000-0000-0000-{self.index:012d}"
        if self.minor is None:
            self.minor = self.index


@dataclass(frozen=True, slots=True)
class _Handle:
    index: int


@dataclass(frozen=True, slots=True)
class ProcessUtilizationSample:
    """Like ``c_nvmlProcessUtilizationSample_t`` (and the v1 info struct's common fields)."""

    pid: int
    timeStamp: int
    smUtil: int
    memUtil: int
    encUtil: int = 0
    decUtil: int = 0


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Like pynvml's friendly process object."""

    pid: int
    usedGpuMemory: int | None
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Utilization:
    """Like ``c_nvmlUtilization_t``."""

    gpu: int
    memory: int


@dataclass(frozen=True, slots=True)
class Memory:
    """Like ``c_nvmlMemory_t``."""

    total: int
    free: int
    used: int


@dataclass(frozen=True, slots=True)
class AccountingStats:
    """Like ``c_nvmlAccountingStats_t``."""

    gpuUtilization: int
    memoryUtilization: int
    maxMemoryUsage: int
    time: int
    startTime: int
    isRunning: int


class FakeNvml:
    """pynvml's read API over scripted devices (see the module docstring).

    Args:
        devices: The fake GPUs.
        clock: Wall clock (seconds); share a :class:`ManualClock` with the sensor in tests.
        epoch: Wall time at which fake time 0 starts (default: the clock at construction).
        available: False makes ``nvmlInit`` fail like a host without the driver.
        sample_period_s: Period of the per-process utilisation samples.
        buffer_s: How far back the driver keeps samples.
        driver_version: What ``nvmlSystemGetDriverVersion`` answers.
    """

    NVMLError = NVMLError
    NVML_ERROR_NOT_FOUND = NVML_ERROR_NOT_FOUND
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_FEATURE_ENABLED = NVML_FEATURE_ENABLED
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_PCIE_UTIL_TX_BYTES = NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = NVML_PCIE_UTIL_RX_BYTES

    def __init__(
        self,
        devices: Sequence[FakeDevice] = (),
        *,
        clock: Callable[[], float] | None = None,
        epoch: float | None = None,
        available: bool = True,
        sample_period_s: float = 1.0,
        buffer_s: float = 30.0,
        driver_version: str = "580.159.04",
    ) -> None:
        import time

        self.devices = list(devices)
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self.epoch = self.clock() if epoch is None else epoch
        self.available = available
        self.sample_period_s = sample_period_s
        self.buffer_s = buffer_s
        self.driver_version = driver_version
        self.initialized = 0
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, int] = {}

    # --- helpers ------------------------------------------------------------------------

    def now(self) -> float:
        """Fake time: seconds since ``epoch``."""
        return self.clock() - self.epoch

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if name != "nvmlInit" and not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        code = self.fail.get(name)
        if code is not None:
            raise NVMLError(code)

    def _device(self, handle: object) -> FakeDevice:
        if isinstance(handle, _Handle):
            for device in self.devices:
                if device.index == handle.index:
                    return device
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)

    def _samples(self, device: FakeDevice, last_seen_us: int) -> list[ProcessUtilizationSample]:
        now = self.now()
        period = self.sample_period_s
        oldest = max(now - self.buffer_s, (last_seen_us / 1e6) - self.epoch)
        k = max(0, math.floor(oldest / period))
        out: list[ProcessUtilizationSample] = []
        while k * period <= now and len(out) < 100_000:
            t = k * period
            k += 1
            stamp = int(round((self.epoch + t) * 1e6))
            if stamp <= last_seen_us or t < 0:
                continue
            for proc in device.processes:
                if not proc.alive(t):
                    continue
                sm, mem = proc.profile(t - proc.start_s)
                if sm < 1.0:
                    continue  # idle during this period: NVML has no sample for the pid
                out.append(ProcessUtilizationSample(proc.pid, stamp, round(sm), round(mem)))
        return out

    # --- pynvml API ---------------------------------------------------------------------

    def nvmlInit(self) -> None:
        """Initialise (LIBRARY_NOT_FOUND when ``available`` is False)."""
        self._enter("nvmlInit")
        if not self.available:
            raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        """Release one initialisation."""
        self._enter("nvmlShutdown")
        self.initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        """The scripted driver version."""
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        """Number of devices."""
        self._enter("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object:
        """A handle for device ``index``."""
        self._enter("nvmlDeviceGetHandleByIndex")
        if not any(d.index == index for d in self.devices):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    def nvmlDeviceGetName(self, handle: object) -> str:
        """Product name."""
        self._enter("nvmlDeviceGetName")
        return self._device(handle).name

    def nvmlDeviceGetUUID(self, handle: object) -> str:
        """Device UUID."""
        self._enter("nvmlDeviceGetUUID")
        return self._device(handle).uuid

    def nvmlDeviceGetMinorNumber(self, handle: object) -> int:
        """N of /dev/nvidiaN."""
        self._enter("nvmlDeviceGetMinorNumber")
        minor = self._device(handle).minor
        return minor if minor is not None else 0

    def nvmlDeviceGetProcessUtilization(
        self, handle: object, timeStamp: int
    ) -> list[ProcessUtilizationSample]:
        """Samples newer than ``timeStamp`` (µs); NOT_FOUND when there are none."""
        self._enter("nvmlDeviceGetProcessUtilization")
        samples = self._samples(self._device(handle), int(timeStamp))
        if not samples:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlDeviceGetProcessesUtilizationInfo(
        self, handle: object, timeStamp: int
    ) -> list[ProcessUtilizationSample]:
        """The newer call (FUNCTION_NOT_FOUND on devices scripted without it)."""
        self._enter("nvmlDeviceGetProcessesUtilizationInfo")
        device = self._device(handle)
        if not device.utilization_info:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        samples = self._samples(device, int(timeStamp))
        if not samples:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[ProcessInfo]:
        """Processes holding a context now, with their memory."""
        self._enter("nvmlDeviceGetComputeRunningProcesses")
        now = self.now()
        device = self._device(handle)
        return [ProcessInfo(p.pid, p.used_memory) for p in device.processes if p.alive(now)]

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Utilization:
        """Device SM and memory utilisation (sum of the processes, capped at 100)."""
        self._enter("nvmlDeviceGetUtilizationRates")
        sm, mem = self._device_load(self._device(handle))
        return Utilization(round(sm), round(mem))

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> Memory:
        """Device memory: used is the sum of the processes' memory."""
        self._enter("nvmlDeviceGetMemoryInfo")
        device = self._device(handle)
        now = self.now()
        used = min(
            device.total_memory, sum(p.used_memory for p in device.processes if p.alive(now))
        )
        return Memory(device.total_memory, device.total_memory - used, used)

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        """Board power in mW, from 81 W idle to 700 W at full SM use."""
        self._enter("nvmlDeviceGetPowerUsage")
        sm, _ = self._device_load(self._device(handle))
        return int(81_000 + (700_000 - 81_000) * sm / 100.0)

    def nvmlDeviceGetClockInfo(self, handle: object, type: int) -> int:
        """SM clock (1980 MHz busy, 345 idle) or memory clock (2619 MHz)."""
        self._enter("nvmlDeviceGetClockInfo")
        sm, _ = self._device_load(self._device(handle))
        if type == NVML_CLOCK_MEM:
            return 2619
        return 1980 if sm > 0 else 345

    def nvmlDeviceGetPcieThroughput(self, device: object, counter: int) -> int:
        """PCIe TX or RX in KB/s (NOT_SUPPORTED when the device has no counter)."""
        self._enter("nvmlDeviceGetPcieThroughput")
        dev = self._device(device)
        if dev.pcie is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        tx, rx = dev.pcie(self.now())
        return tx if counter == NVML_PCIE_UTIL_TX_BYTES else rx

    def nvmlDeviceGetAccountingMode(self, handle: object) -> int:
        """Accounting mode as the administrator left it."""
        self._enter("nvmlDeviceGetAccountingMode")
        return NVML_FEATURE_ENABLED if self._device(handle).accounting else NVML_FEATURE_DISABLED

    def nvmlDeviceGetAccountingStats(self, handle: object, pid: int) -> AccountingStats:
        """Accounting statistics of ``pid`` (NOT_SUPPORTED when accounting is off)."""
        self._enter("nvmlDeviceGetAccountingStats")
        device = self._device(handle)
        if not device.accounting:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        now = self.now()
        for proc in device.processes:
            if proc.pid == pid and proc.start_s <= now:
                sm, mem = proc.profile(now - proc.start_s)
                run_ms = int((min(now, proc.end_s) - proc.start_s) * 1000)
                return AccountingStats(
                    round(sm),
                    round(mem),
                    proc.used_memory,
                    run_ms,
                    int((self.epoch + proc.start_s) * 1e6),
                    int(proc.alive(now)),
                )
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def _device_load(self, device: FakeDevice) -> tuple[float, float]:
        now = self.now()
        sm = mem = 0.0
        for proc in device.processes:
            if proc.alive(now):
                psm, pmem = proc.profile(now - proc.start_s)
                sm, mem = sm + psm, mem + pmem
        return min(sm, 100.0), min(mem, 100.0)


# --- traces -----------------------------------------------------------------------------


def load_trace(lines: Iterable[str]) -> list[FakeDevice]:
    """Devices from a JSONL trace (recorded on hardware or scripted).

    Lines (t in seconds since the trace start; blank lines and ``#`` comments are skipped)::

        {"type": "device", "index": 0, "name": "NVIDIA H200", "uuid": "GPU-...",
         "pcie": [[t, tx_kbps, rx_kbps], ...]}
        {"type": "process", "device": 0, "pid": 4242, "used_memory": 1073741824,
         "start": 0.0, "end": 30.0, "samples": [[t, sm, mem], ...]}

    Raises:
        ValueError: on a malformed line (with its number).
    """
    devices: dict[int, FakeDevice] = {}
    procs: list[tuple[int, FakeProcess]] = []
    budget = _MAX_TRACE_SAMPLES
    for number, line in enumerate(lines, 1):
        if number > _MAX_TRACE_LINES:
            raise ValueError(f"trace longer than {_MAX_TRACE_LINES} lines")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            item = json.loads(line)
            kind = item["type"]
            if kind == "device":
                pcie_points = _points(item.get("pcie"), budget)
                budget -= len(pcie_points)
                index = int(item["index"])
                devices[index] = FakeDevice(
                    index,
                    uuid=str(item.get("uuid", "")),
                    name=str(item.get("name", "NVIDIA GPU")),
                    pcie=_pcie_replay(pcie_points) if pcie_points else None,
                )
            elif kind == "process":
                samples = _points(item.get("samples"), budget)
                budget -= len(samples)
                end = item.get("end")
                procs.append(
                    (
                        int(item["device"]),
                        FakeProcess(
                            int(item["pid"]),
                            Replay(samples),
                            used_memory=int(item.get("used_memory", 1 << 30)),
                            start_s=float(item.get("start", 0.0)),
                            end_s=math.inf if end is None else float(end),
                        ),
                    )
                )
            else:
                raise ValueError(f"unknown type {kind!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"trace line {number}: {exc}") from None
    for index, proc in procs:
        devices.setdefault(index, FakeDevice(index)).processes.append(proc)
    return [devices[i] for i in sorted(devices)]


def _points(raw: object, budget: int) -> tuple[tuple[float, float, float], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("expected a list of [t, a, b] points")
    if len(raw) > budget:
        raise ValueError("too many samples in the trace")
    out = []
    for point in raw:
        t, a, b = point
        out.append((float(t), float(a), float(b)))
    out.sort()
    return tuple(out)


def _pcie_replay(
    points: tuple[tuple[float, float, float], ...],
) -> Callable[[float], tuple[int, int]]:
    times = [t for t, _, _ in points]

    def pcie(t: float) -> tuple[int, int]:
        at = max(0, bisect.bisect_right(times, t) - 1)
        _, tx, rx = points[at]
        return int(tx), int(rx)

    return pcie


# --- a labelled set of scripted scenarios -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scripted GPU process with its ground truth.

    Attributes:
        name: family and number, e.g. "mining_steady-3".
        family: The family in the spec.
        process: The fake process.
        pcie: The device's PCIe profile while it runs.
        sandbox_id: Its sandbox.
        granted: Whether the sandbox is granted the device.
        declared: Whether the process is the sandbox's declared workload.
        labels: Which rules should fire: a subset of {"ungranted", "undeclared", "mining"}.
        stratum: Whether a stratum flow from the sandbox is seen.
        params: The drawn parameters.
    """

    name: str
    family: str
    process: FakeProcess
    pcie: Pcie
    sandbox_id: str
    granted: bool
    declared: bool
    labels: frozenset[str]
    stratum: bool
    params: Mapping[str, float]


def expand_labelled_set(spec: Mapping[str, Any]) -> list[Scenario]:
    """Draw the scenarios a spec describes (see tests/data/gpu/labelled_set.json).

    The spec holds ``seed`` and ``families``: each family has ``count``, ``profile``
    ("steady" or "phased"), parameter ranges ``[lo, hi]`` (drawn uniformly), a PCIe model and
    the ground truth (``granted``, ``declared``, ``stratum``, ``labels``).
    """
    rng = random.Random(int(spec.get("seed", 0)))
    out: list[Scenario] = []
    pid = 10_000
    for family in spec["families"]:
        for number in range(int(family["count"])):
            pid += 1
            params = {
                k: rng.uniform(float(lo), float(hi)) for k, (lo, hi) in family["params"].items()
            }
            seed = rng.randrange(1 << 30)
            profile: Profile
            burst_when: Callable[[float], bool] | None = None
            if family["profile"] == "steady":
                profile = Steady(
                    params["level"], params["noise"], params.get("mem_ratio", 0.7), seed
                )
            else:
                phased = Phased(
                    params["level"],
                    params["noise"],
                    period_s=params["period_s"],
                    dip_s=params["dip_s"],
                    dip_level=params["dip_level"],
                    mem_ratio=params.get("mem_ratio", 0.7),
                    offset_s=params.get("offset_s", 0.0),
                    seed=seed,
                )
                profile, burst_when = phased, phased.in_dip
            pcie = Pcie(
                params.get("pcie_kbps", 10.0),
                params.get("pcie_kbps", 10.0),
                burst_kbps=params.get("pcie_burst_kbps", 0.0),
                burst_when=burst_when,
                seed=seed + 1,
            )
            out.append(
                Scenario(
                    name=f"{family['name']}-{number}",
                    family=str(family["name"]),
                    process=FakeProcess(pid, profile, used_memory=2 << 30),
                    pcie=pcie,
                    sandbox_id=f"sbx{pid}",
                    granted=bool(family["granted"]),
                    declared=bool(family["declared"]),
                    labels=frozenset(family["labels"]),
                    stratum=bool(family.get("stratum", False)),
                    params=params,
                )
            )
    return out
