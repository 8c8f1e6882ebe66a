"""Resource sensor: CPU and memory per sandbox (cgroup) and per process (psutil), sampled.

Every ``interval`` seconds (default 0.5) it emits, per watched sandbox, one sample for the whole
sandbox (``pid=None``; CPU from the cgroup's ``cpu.stat usage_usec`` on v2 or ``cpuacct.usage`` on
v1, memory from ``memory.current`` / ``memory.usage_in_bytes``) and one per live process (CPU
from psutil ``cpu_times``, RSS, threads). ``cpu_share`` is in cores: 1.0 is one core busy for the
whole interval. A process seen for the first time gets its average since it started.

Samples (:class:`~watchkeeper.events.ResourceSample`, re-exported here) are a stream of their own,
not members of the ``Event`` union; they are handed to the ``on_sample`` callback given at
construction. ``start(emit)`` follows the Sensor protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import SensorError
from watchkeeper.events import ResourceSample
from watchkeeper.sensors._base import Emit, SensorStats

__all__ = ["CgroupStats", "ResourceSample", "ResourcesSensor"]

_MAX_PROCS = 4096


class CgroupStats(Protocol):
    """What the sensor needs of a sandbox's cgroup (the sandbox's ``Cgroup`` class fits)."""

    def pids(self) -> list[int]:
        """Processes in the group."""
        ...

    def cpu_usage_ns(self) -> int:
        """CPU time used by the group so far."""
        ...

    def memory_bytes(self) -> int:
        """Memory charged to the group now."""
        ...


@dataclass(slots=True)
class _Proc:
    handle: psutil.Process
    cpu_s: float
    wall: float
    image: str
    command_line: str


@dataclass(slots=True)
class _Watched:
    cgroup: CgroupStats | None
    cpu_ns: int | None = None
    wall: float = 0.0


class ResourcesSensor:
    """Samples CPU and memory of watched sandboxes and their processes.

    Args:
        lineage: Attribution of processes to steps (and the pid set when a sandbox has no cgroup).
        on_sample: Receives every :class:`ResourceSample` (from the sensor's thread).
        interval: Seconds between samples.
        per_process: Also sample each process (not only the sandbox totals).
        heartbeat: Called from the sampling thread after every round.
    """

    name = "resources"

    def __init__(
        self,
        lineage: Lineage | None = None,
        on_sample: Callable[[ResourceSample], None] | None = None,
        *,
        interval: float = 0.5,
        per_process: bool = True,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise SensorError(f"resource sampling interval must be positive, not {interval}")
        self.lineage = lineage if lineage is not None else Lineage()
        self._on_sample = on_sample
        self._interval = interval
        self._per_process = per_process
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        self._sandboxes: dict[str, _Watched] = {}
        self._procs: dict[int, _Proc] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._received = 0
        self._errors = 0

    def watch(self, sandbox_id: str, cgroup: CgroupStats | None = None) -> None:
        """Sample ``sandbox_id``: its cgroup (if given) and its processes."""
        with self._lock:
            self._sandboxes[sandbox_id] = _Watched(cgroup)

    def unwatch(self, sandbox_id: str) -> None:
        """Stop sampling a sandbox."""
        with self._lock:
            self._sandboxes.pop(sandbox_id, None)

    # --- Sensor protocol ----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Start the sampling thread (samples go to ``on_sample``; ``emit`` is not used)."""
        if self._thread is not None:
            raise SensorError("resources sensor already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wk-resources", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the sampling thread; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)

    def stats(self) -> SensorStats:
        """Samples taken, none dropped, failed reads."""
        return SensorStats(self._received, 0, self._errors)

    @property
    def alive(self) -> bool:
        """True while the sampling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # --- sampling -----------------------------------------------------------------------

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            for sample in self.sample():
                if self._on_sample is not None:
                    self._on_sample(sample)
            if self._heartbeat is not None:
                self._heartbeat()
            next_at += self._interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind: do not try to catch up
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def sample(self) -> list[ResourceSample]:
        """Take one round of samples now (also used by the thread)."""
        now_wall = time.monotonic()
        ts = time.time()
        out: list[ResourceSample] = []
        seen: set[int] = set()
        with self._lock:
            sandboxes = list(self._sandboxes.items())
        for sandbox_id, watched in sandboxes:
            pids = set(self.lineage.pids(sandbox_id))
            total = self._sandbox_total(sandbox_id, watched, ts, now_wall, pids)
            if total is not None:
                out.append(total)
            if not self._per_process:
                continue
            for pid in sorted(pids)[:_MAX_PROCS]:
                seen.add(pid)
                sample = self._process(sandbox_id, pid, ts, now_wall)
                if sample is not None:
                    out.append(sample)
        for pid in [p for p in self._procs if p not in seen]:
            del self._procs[pid]
        self._received += len(out)
        return out

    def _sandbox_total(
        self, sandbox_id: str, watched: _Watched, ts: float, now: float, pids: set[int]
    ) -> ResourceSample | None:
        cgroup = watched.cgroup
        if cgroup is None:
            return None
        try:
            pids.update(cgroup.pids())
            cpu_ns = cgroup.cpu_usage_ns()
            memory = cgroup.memory_bytes()
        except Exception:  # noqa: BLE001 - a vanished group must not stop sampling
            self._errors += 1
            return None
        previous, previous_wall = watched.cpu_ns, watched.wall
        watched.cpu_ns, watched.wall = cpu_ns, now
        if previous is None or now <= previous_wall:
            return None
        interval = now - previous_wall
        share = max(0, cpu_ns - previous) / 1e9 / interval
        return ResourceSample(
            ts=ts,
            sandbox_id=sandbox_id,
            source="resources",
            pid=None,
            cpu_share=share,
            rss_bytes=memory,
            num_threads=len(pids),
            interval=interval,
        )

    def _process(self, sandbox_id: str, pid: int, ts: float, now: float) -> ResourceSample | None:
        state = self._procs.get(pid)
        try:
            if state is None:
                handle = psutil.Process(pid)
                with handle.oneshot():
                    times = handle.cpu_times()
                    created = handle.create_time()
                    try:
                        image = handle.exe()
                    except psutil.AccessDenied:
                        image = ""
                    command_line = " ".join(handle.cmdline())
                # first sight: average since the process started
                state = _Proc(handle, 0.0, now - max(0.0, ts - created), image, command_line)
                self._procs[pid] = state
            else:
                times = state.handle.cpu_times()
            with state.handle.oneshot():
                memory = state.handle.memory_info()
                threads = state.handle.num_threads()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None
        except (psutil.AccessDenied, OSError):
            self._errors += 1
            return None
        cpu_s = times.user + times.system
        interval = now - state.wall
        share = max(0.0, cpu_s - state.cpu_s) / interval if interval > 0 else 0.0
        state.cpu_s, state.wall = cpu_s, now
        record = self.lineage.record(pid)
        image = record.image if record and record.image else state.image
        command_line = record.command_line if record and record.command_line else state.command_line
        attribution = record.attribution if record else None
        return ResourceSample(
            ts=ts,
            sandbox_id=sandbox_id,
            source="resources",
            pid=pid,
            step=attribution.step if attribution else None,
            tool_call_id=attribution.tool_call_id if attribution else "",
            cpu_share=share,
            rss_bytes=memory.rss,
            num_threads=threads,
            image=image,
            command_line=command_line,
            interval=interval,
        )
