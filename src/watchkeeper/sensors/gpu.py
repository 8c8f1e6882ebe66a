"""GPU sensor: per-process GPU use through NVML, attributed to sandboxes and steps.

Reads, never writes: every NVML call goes through :class:`ReadOnlyNvml`, which only lets the
getters in :data:`READ_FUNCTIONS` through. Per poll and device it reads the per-process
utilisation samples since the last poll (``nvmlDeviceGetProcessesUtilizationInfo``, or the older
``nvmlDeviceGetProcessUtilization``; NOT_FOUND there means "no samples since then"), the
running compute processes and their memory, device utilisation, power, clocks, memory, PCIe
throughput (when the device has the counter) and, only where accounting mode is already on,
the per-process accounting statistics. It emits one :class:`GpuEvent` per process and one per
device.

The default NVML is the real ``pynvml`` module; tests pass ``watchkeeper.testing.fake_nvml``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from watchkeeper.errors import PrerequisiteError
from watchkeeper.events import GpuEvent
from watchkeeper.sensors._base import Emit, SensorStats
from watchkeeper.sensors._gpu_attribution import (
    AncestryProvider,
    CgroupAttributor,
    ChainAttributor,
    GpuAttribution,
    PidAttribution,
    PidAttributor,
    ProcInfo,
    ProcReader,
    StaticAttributor,
    sandbox_of_cgroup_file,
)
from watchkeeper.sensors._gpu_nvml import (
    NVML_CLOCK_MEM,
    NVML_CLOCK_SM,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NOT_FOUND,
    NVML_FEATURE_ENABLED,
    NVML_PCIE_UTIL_RX_BYTES,
    NVML_PCIE_UTIL_TX_BYTES,
    NVML_SUCCESS,
    READ_FUNCTIONS,
    UNSUPPORTED_CODES,
    NvmlCallError,
    ReadOnlyNvml,
    load_pynvml,
    open_nvml,
)

__all__ = [
    "READ_FUNCTIONS",
    "AncestryProvider",
    "CgroupAttributor",
    "ChainAttributor",
    "GpuAttribution",
    "GpuDevice",
    "GpuEvent",
    "GpuSensor",
    "PidAttribution",
    "PidAttributor",
    "ProcInfo",
    "ProcReader",
    "ReadOnlyNvml",
    "StaticAttributor",
    "sandbox_of_cgroup_file",
]

GpuEmit = Callable[[GpuEvent], None]
_MAX_PROCS_PER_DEVICE = 1024
_UTIL_INFO = "nvmlDeviceGetProcessesUtilizationInfo"
_UTIL_LEGACY = "nvmlDeviceGetProcessUtilization"
_KEYED_READS = frozenset({"nvmlDeviceGetClockInfo", "nvmlDeviceGetPcieThroughput"})


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One NVML device the sensor watches."""

    index: int
    uuid: str
    name: str
    minor: int | None
    handle: object


@dataclass(slots=True)
class _DeviceState:
    last_seen_us: int = 0
    last_poll: float | None = None
    util_api: str = _UTIL_INFO
    accounting: bool = False


class GpuSensor:
    """Polls NVML and emits :class:`GpuEvent` s (one per GPU process and one per device).

    Args:
        nvml: A module-like object with pynvml's names; None imports the real ``pynvml``.
        attributor: pid -> sandbox/step/tool call (the runtime's lineage). The sandbox cgroup
            (``wk-<id>``) is always tried after it.
        poll_interval_s: Seconds between polls in the background thread.
        device_indices: Devices to watch (NVML indices); None watches all.
        proc_root: Where /proc is (tests point it at a fake tree).
        clock: Wall clock for event timestamps.
        run_id / episode_id: Stamped on every event.
        heartbeat: Called by the polling thread after every poll round (the runtime's watchdog).
    """

    name = "gpu"

    def __init__(
        self,
        nvml: object | None = None,
        *,
        attributor: PidAttributor | None = None,
        poll_interval_s: float = 1.0,
        device_indices: Sequence[int] | None = None,
        proc_root: str = "/proc",
        clock: Callable[[], float] = time.time,
        run_id: str = "",
        episode_id: str = "",
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        self._module = nvml
        self._nvml: ReadOnlyNvml | None = None
        cgroup = CgroupAttributor(proc_root)
        self._attributor: PidAttributor = (
            ChainAttributor(attributor, cgroup) if attributor is not None else cgroup
        )
        self._lineage = attributor if isinstance(attributor, AncestryProvider) else None
        self._procs = ProcReader(proc_root)
        self._interval = poll_interval_s
        self._wanted = None if device_indices is None else tuple(device_indices)
        self._clock = clock
        self._run_id, self._episode_id = run_id, episode_id
        self._devices: tuple[GpuDevice, ...] = ()
        self._dev_state: dict[int, _DeviceState] = {}
        self._unsupported: set[tuple[int, str]] = set()
        self._driver = ""
        self._state = "closed"
        self._reason = ""
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._received = self._dropped = self._errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: GpuEmit | None = None
        self._heartbeat = heartbeat

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "closed", "ready", "running", "stopped", "degraded" or "unavailable"."""
        return self._state

    @property
    def reason(self) -> str:
        """Why the sensor is unavailable or degraded ("" otherwise)."""
        return self._reason

    @property
    def devices(self) -> tuple[GpuDevice, ...]:
        """The watched devices (after :meth:`open`)."""
        return self._devices

    @property
    def poll_interval_s(self) -> float:
        """Seconds between polls."""
        return self._interval

    @property
    def thread(self) -> threading.Thread | None:
        """The polling thread while the sensor runs (for the watchdog)."""
        return self._thread

    @property
    def driver_version(self) -> str:
        """The NVIDIA driver version NVML reports ("" before :meth:`open`)."""
        return self._driver

    def open(self) -> tuple[GpuDevice, ...]:
        """Initialise NVML and enumerate the devices; idempotent.

        Raises:
            PrerequisiteError: no pynvml, no NVML library or driver, or no device (the sensor's
                state becomes "unavailable" with the reason).
        """
        if self._nvml is not None:
            return self._devices
        try:
            nvml = ReadOnlyNvml(self._module if self._module is not None else load_pynvml())
            open_nvml(nvml)
        except PrerequisiteError as exc:
            self._state, self._reason = "unavailable", str(exc)
            raise
        try:
            self._devices = self._enumerate(nvml)
        except NvmlCallError as exc:
            self._shutdown(nvml)
            self._state, self._reason = "unavailable", f"NVML could not list devices: {exc}"
            raise PrerequisiteError(self._reason, fix="check the GPU with nvidia-smi") from exc
        if not self._devices:
            self._shutdown(nvml)
            self._state, self._reason = "unavailable", "NVML reports no GPU to watch"
            raise PrerequisiteError(self._reason)
        self._nvml = nvml
        self._state, self._reason = "ready", ""
        return self._devices

    def start(self, emit: GpuEmit | Emit) -> None:
        """Open NVML if needed and poll in a background thread, emitting every event.

        ``emit`` receives :class:`GpuEvent` s (a member of the shared ``Event`` union, so a
        ``Sensor`` emit fits).

        Raises:
            PrerequisiteError: when NVML or a GPU is missing (state "unavailable").
        """
        if self._thread is not None:
            return
        self.open()
        self._emit = emit
        self._stop.clear()
        self._state = "running"
        self._thread = threading.Thread(target=self._run, name="wk-gpu-sensor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, join the thread and shut NVML down; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, 3 * self._interval))
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            with self._poll_lock:
                self._shutdown(nvml)
            if self._state != "degraded":
                self._state = "stopped"

    def stats(self) -> SensorStats:
        """Counters: NVML records read, poll intervals missed, failed reads."""
        with self._lock:
            return SensorStats(self._received, self._dropped, self._errors)

    # --- polling ------------------------------------------------------------------------

    def poll_once(self) -> list[GpuEvent]:
        """Read every watched device once and return the events (process events first).

        Raises:
            PrerequisiteError: when NVML cannot be opened.
        """
        self.open()
        nvml = self._nvml
        if nvml is None:  # stopped concurrently
            return []
        events: list[GpuEvent] = []
        with self._poll_lock:
            for device in self._devices:
                try:
                    events.extend(self._poll_device(nvml, device))
                except NvmlCallError as exc:
                    self._count(errors=1)
                    if exc.code == NVML_ERROR_GPU_IS_LOST:
                        self._state, self._reason = "degraded", f"GPU {device.index} is lost"
        return events

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                events = self.poll_once()
            except Exception as exc:  # the loop must survive; counted
                self._count(errors=1)
                self._reason = f"poll failed: {exc}"
                events = []
            emit = self._emit
            for event in events:
                try:
                    if emit is not None:
                        emit(event)
                except Exception:  # a failing receiver must not kill the sensor
                    self._count(errors=1)
            if self._heartbeat is not None:
                try:
                    self._heartbeat()
                except Exception:  # the watchdog is an observer here
                    self._count(errors=1)
            next_at += self._interval
            now = time.monotonic()
            if next_at < now:  # fell behind: count the missed polls, do not burst
                self._count(dropped=int((now - next_at) / self._interval))
                next_at = now
            self._stop.wait(max(0.0, next_at - now))

    def _poll_device(self, nvml: ReadOnlyNvml, device: GpuDevice) -> list[GpuEvent]:
        state = self._dev_state.setdefault(device.index, _DeviceState())
        now = self._clock()
        interval = 0.0 if state.last_poll is None else max(0.0, now - state.last_poll)
        state.last_poll = now
        util = self._process_samples(nvml, device, state)
        memory: dict[int, int | None] = {}
        procs = self._read(nvml, device, "nvmlDeviceGetComputeRunningProcesses", device.handle)
        for proc in _items(procs)[:_MAX_PROCS_PER_DEVICE]:
            pid = _as_int(getattr(proc, "pid", None))
            if pid is not None and pid > 0:
                memory[pid] = _as_int(getattr(proc, "usedGpuMemory", None))
        self._count(received=len(memory))
        events = [
            self._process_event(nvml, device, state, pid, util.get(pid), memory, now, interval)
            for pid in sorted(set(util) | set(memory))
        ]
        events.append(self._device_event(nvml, device, now, interval))
        return events

    def _process_samples(
        self, nvml: ReadOnlyNvml, device: GpuDevice, state: _DeviceState
    ) -> dict[int, tuple[float, float, int]]:
        """pid -> (mean SM %, mean memory %, samples) for the samples newer than the last poll."""
        samples: list[object] = []
        while True:
            try:
                samples = _items(nvml.call(state.util_api, device.handle, state.last_seen_us))
                break
            except NvmlCallError as exc:
                if exc.code in (NVML_ERROR_NOT_FOUND, NVML_SUCCESS):
                    return {}  # no samples since last_seen: not an error
                if exc.code in UNSUPPORTED_CODES and state.util_api == _UTIL_INFO:
                    state.util_api = _UTIL_LEGACY  # older driver: use the older call
                    continue
                if exc.code in UNSUPPORTED_CODES:
                    self._unsupported.add((device.index, exc.name))
                    return {}
                raise
        sums: dict[int, list[float]] = {}
        newest = state.last_seen_us
        for sample in samples[: 64 * _MAX_PROCS_PER_DEVICE]:
            pid = _as_int(getattr(sample, "pid", None))
            stamp = _as_int(getattr(sample, "timeStamp", None)) or 0
            if pid is None or pid <= 0 or stamp <= state.last_seen_us:
                continue
            newest = max(newest, stamp)
            acc = sums.setdefault(pid, [0.0, 0.0, 0.0])
            acc[0] += _pct(getattr(sample, "smUtil", None))
            acc[1] += _pct(getattr(sample, "memUtil", None))
            acc[2] += 1
        state.last_seen_us = newest
        self._count(received=sum(int(a[2]) for a in sums.values()))
        return {pid: (a[0] / a[2], a[1] / a[2], int(a[2])) for pid, a in sums.items()}

    def _process_event(
        self,
        nvml: ReadOnlyNvml,
        device: GpuDevice,
        state: _DeviceState,
        pid: int,
        util: tuple[float, float, int] | None,
        memory: dict[int, int | None],
        now: float,
        interval: float,
    ) -> GpuEvent:
        attribution = self._attribute(pid)
        info = self._procs.info(pid)
        ancestors = self._procs.ancestors(pid)
        if self._lineage is not None:
            try:
                extra = [p for p in self._lineage.ancestors(pid) if p not in ancestors]
            except Exception:  # lineage is an observer here
                extra = []
            ancestors = ancestors + tuple(extra[:64])
        accounting: tuple[tuple[str, int], ...] = ()
        if state.accounting:
            accounting = self._accounting(nvml, device, pid)
        return GpuEvent(
            ts=now,
            run_id=self._run_id,
            episode_id=self._episode_id,
            step=attribution.step if attribution else None,
            tool_call_id=attribution.tool_call_id if attribution else "",
            sandbox_id=attribution.sandbox_id if attribution else "",
            source="gpu",
            pid=pid,
            activity="process",
            device_index=device.index,
            device_uuid=device.uuid,
            device_name=device.name,
            sm_util=util[0] if util else None,
            mem_util=util[1] if util else None,
            samples=util[2] if util else 0,
            used_memory=memory.get(pid),
            image=info.image if info else "",
            command_line=info.command_line if info else "",
            ppid=info.ppid if info else None,
            ancestors=ancestors,
            accounting=accounting,
            interval_s=interval,
        )

    def _device_event(
        self, nvml: ReadOnlyNvml, device: GpuDevice, now: float, interval: float
    ) -> GpuEvent:
        h = device.handle
        rates = self._read(nvml, device, "nvmlDeviceGetUtilizationRates", h)
        mem = self._read(nvml, device, "nvmlDeviceGetMemoryInfo", h)
        tx = self._read(nvml, device, "nvmlDeviceGetPcieThroughput", h, NVML_PCIE_UTIL_TX_BYTES)
        rx = self._read(nvml, device, "nvmlDeviceGetPcieThroughput", h, NVML_PCIE_UTIL_RX_BYTES)
        self._count(received=1)
        return GpuEvent(
            ts=now,
            run_id=self._run_id,
            episode_id=self._episode_id,
            source="gpu",
            activity="device",
            device_index=device.index,
            device_uuid=device.uuid,
            device_name=device.name,
            sm_util=_pct(getattr(rates, "gpu", None)) if rates is not None else None,
            mem_util=_pct(getattr(rates, "memory", None)) if rates is not None else None,
            used_memory=_as_int(getattr(mem, "used", None)) if mem is not None else None,
            total_memory=_as_int(getattr(mem, "total", None)) if mem is not None else None,
            power_mw=_as_int(self._read(nvml, device, "nvmlDeviceGetPowerUsage", h)),
            sm_clock_mhz=_as_int(
                self._read(nvml, device, "nvmlDeviceGetClockInfo", h, NVML_CLOCK_SM)
            ),
            mem_clock_mhz=_as_int(
                self._read(nvml, device, "nvmlDeviceGetClockInfo", h, NVML_CLOCK_MEM)
            ),
            pcie_tx_kbps=_as_int(tx),
            pcie_rx_kbps=_as_int(rx),
            interval_s=interval,
        )

    def _accounting(
        self, nvml: ReadOnlyNvml, device: GpuDevice, pid: int
    ) -> tuple[tuple[str, int], ...]:
        stats = self._read(nvml, device, "nvmlDeviceGetAccountingStats", device.handle, pid)
        if stats is None:
            return ()
        pairs = (
            ("gpu_util", getattr(stats, "gpuUtilization", None)),
            ("mem_util", getattr(stats, "memoryUtilization", None)),
            ("max_memory", getattr(stats, "maxMemoryUsage", None)),
            ("time_ms", getattr(stats, "time", None)),
        )
        return tuple((k, v) for k, raw in pairs if (v := _as_int(raw)) is not None)

    def _read(self, nvml: ReadOnlyNvml, device: GpuDevice, name: str, *args: object) -> object:
        """One optional read: None when unsupported (then never asked again) or failed."""
        key = (device.index, f"{name}:{args[1]}" if name in _KEYED_READS else name)
        if key in self._unsupported:
            return None
        try:
            result: object = nvml.call(name, *args)
            return result
        except NvmlCallError as exc:
            if exc.code in UNSUPPORTED_CODES:
                self._unsupported.add(key)
            elif exc.code != NVML_ERROR_NOT_FOUND:
                self._count(errors=1)
            return None

    # --- helpers ------------------------------------------------------------------------

    def _enumerate(self, nvml: ReadOnlyNvml) -> tuple[GpuDevice, ...]:
        try:
            self._driver = _text(nvml.call("nvmlSystemGetDriverVersion"))
        except NvmlCallError:
            self._driver = ""
        count = _as_int(nvml.call("nvmlDeviceGetCount")) or 0
        devices = []
        for index in range(min(count, 64)):
            if self._wanted is not None and index not in self._wanted:
                continue
            handle = nvml.call("nvmlDeviceGetHandleByIndex", index)
            minor: int | None
            try:
                minor = _as_int(nvml.call("nvmlDeviceGetMinorNumber", handle))
            except NvmlCallError:
                minor = None
            device = GpuDevice(
                index=index,
                uuid=_text(nvml.call("nvmlDeviceGetUUID", handle)),
                name=_text(nvml.call("nvmlDeviceGetName", handle)),
                minor=minor,
                handle=handle,
            )
            state = self._dev_state.setdefault(index, _DeviceState())
            try:
                mode = nvml.call("nvmlDeviceGetAccountingMode", handle)
                state.accounting = _as_int(mode) == NVML_FEATURE_ENABLED
            except NvmlCallError:
                state.accounting = False  # never turned on by us
            devices.append(device)
        return tuple(devices)

    def _attribute(self, pid: int) -> PidAttribution | None:
        try:
            return self._attributor.attribution_of(pid)
        except Exception:  # a broken attributor must not stop the sensor
            self._count(errors=1)
            return None

    def _shutdown(self, nvml: ReadOnlyNvml) -> None:
        try:
            nvml.call("nvmlShutdown")
        except NvmlCallError:
            pass

    def _count(self, received: int = 0, dropped: int = 0, errors: int = 0) -> None:
        with self._lock:
            self._received += received
            self._dropped += dropped
            self._errors += errors


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, (float, str, bytes)):
        value = getattr(value, "value", None)  # ctypes numbers
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _items(value: object) -> list[object]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return []


def _pct(value: object) -> float:
    number = _as_int(value)
    if number is None or number < 0:
        return 0.0
    return float(min(number, 100))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
