"""The monitor: the sensors, the dispatcher and the watchdog, shared by the sandboxes of a process.

Threads (all in the host's initial network namespace):

=================  ==========================================================================
``wk-proc-sensor`` proc connector (fork/exec/exit), SCHED_FIFO when allowed; keeps the lineage
``wk-nflog``       the firewall's denied packets (one NFLOG group, given to every sandbox)
``wk-fs-sensor``   inotify/fanotify on each sandbox's credential paths
``wk-resources``   CPU and memory per sandbox (cgroup) and per process, every 0.5 s
``wk-gpu-sensor``  NVML per-process GPU use, every ``gpu_poll_s`` (1 s); only where NVML and a
                   GPU are present, otherwise the monitor runs on and reports it unavailable
``wk-net-<if>``    one per sandbox: AF_PACKET on its host-side veth (flows, fingerprints)
``wk-dns-*``       one per sandbox (the sandbox's DNS forwarder; queries become DnsEvents)
``wk-dispatch``    route -> attribute -> record -> detect -> respond -> report (one queue)
``wk-watchdog``    heartbeats of all of the above; fail closed when one stops
=================  ==========================================================================

Sensors only enqueue into the dispatcher. The watchdog checks every heartbeat; when a sensor (or
the dispatcher itself) dies or stays silent for the policy's ``heartbeat_timeout_ms``, it
freezes or kills (the policy's ``fail_mode``) the sandboxes it can no longer see, and records a
critical ``watchkeeper:sensor-failed`` alert: an unwatched agent is never left running.

One :class:`Monitor` serves every sandbox of the process (:meth:`Monitor.acquire` /
:meth:`Monitor.release`); it starts with the first and stops with the last.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import socket
import struct
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import PrerequisiteError
from watchkeeper.events import DnsEvent, ProcessEvent
from watchkeeper.respond import (
    Targets,
    Watchdog,
)
from watchkeeper.respond.policy import FailMode
from watchkeeper.runtime.dispatch import Dispatcher, deliver, safecall
from watchkeeper.runtime.nflog import NflogSensor
from watchkeeper.runtime.pipeline import RULE_SENSOR_FAILED
from watchkeeper.runtime.priority import raise_thread
from watchkeeper.runtime.sockets import SocketOwners
from watchkeeper.runtime.watch import CONTAINING, Watch
from watchkeeper.sandbox import DnsQuery
from watchkeeper.sandbox.cgroup import detect_layout
from watchkeeper.sensors.fs import FsSensor, sensitive_paths
from watchkeeper.sensors.gpu import GpuSensor
from watchkeeper.sensors.net import NetSensor
from watchkeeper.sensors.proc import Priority, ProcSensor
from watchkeeper.sensors.resources import ResourcesSensor

log = logging.getLogger(__name__)


class Monitor:
    """Sensors + dispatcher + watchdog for the sandboxes of this process.

    Args:
        proc_priority: Scheduling the proc sensor's reader asks for.
        resources_interval: Seconds between resource samples.
        heartbeat_timeout_s: Silence after which a sensor counts as dead (lowered to the
            smallest ``heartbeat_timeout_ms`` of the attached sandboxes' policies, but never
            below 2.5 resource sampling periods, nor 2.5 GPU polling periods while the GPU
            sensor runs).
        gpu: Start the GPU sensor (when NVML and a GPU are present).
        gpu_nvml: The NVML module the GPU sensor uses (None: the real ``pynvml``; tests pass
            a :class:`~watchkeeper.testing.fake_nvml.FakeNvml`).
        gpu_poll_s: Seconds between GPU polls.
    """

    _shared: ClassVar[Monitor | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        proc_priority: Priority = "fifo",
        resources_interval: float = 0.5,
        heartbeat_timeout_s: float = 2.0,
        gpu: bool = True,
        gpu_nvml: object | None = None,
        gpu_poll_s: float = 1.0,
    ) -> None:
        self.lineage = Lineage()
        self.targets = Targets()
        self.watchdog = Watchdog(heartbeat_timeout_s, self._on_fail)
        self._default_timeout = heartbeat_timeout_s
        self._resources_interval = resources_interval
        self.owners = SocketOwners(self._pids_of)
        self.dispatcher = Dispatcher(
            self.lineage, self.owners, heartbeat=self.watchdog.register("dispatch")
        )
        self.proc = ProcSensor(
            self.lineage,
            priority=proc_priority,
            on_loss=self.dispatcher.put_loss,
            heartbeat=self.watchdog.register("proc"),
        )
        self.nflog = NflogSensor(
            self._known_sandbox,
            on_loss=self.dispatcher.put_loss,
            heartbeat=self.watchdog.register("nflog"),
        )
        self.fs = FsSensor(
            self.lineage, on_loss=self.dispatcher.put_loss, heartbeat=self.watchdog.register("fs")
        )
        self.resources = ResourcesSensor(
            self.lineage,
            on_sample=self.dispatcher.put,
            interval=resources_interval,
            heartbeat=self.watchdog.register("resources"),
        )
        self.gpu: GpuSensor | None = None
        """The GPU sensor (None when ``gpu=False``); see :attr:`gpu_state`."""
        if gpu:
            self.gpu = GpuSensor(
                gpu_nvml,
                attributor=self.lineage,
                poll_interval_s=gpu_poll_s,
                heartbeat=lambda: self.watchdog.beat("gpu"),
            )
        self._gpu_reason = "" if gpu else "off"
        self._nets: dict[str, NetSensor] = {}
        self._lock = threading.Lock()
        self._users = 0
        self.started = False

    # --- sharing ----------------------------------------------------------------------------

    @classmethod
    def acquire(cls) -> Monitor:
        """The process's monitor, started on first use; pair with :meth:`release`."""
        with cls._shared_lock:
            monitor = cls._shared
            if monitor is None:
                monitor = cls()
                monitor.start()
                cls._shared = monitor
            monitor._users += 1
            return monitor

    @classmethod
    def shared(cls) -> Monitor | None:
        """The process's shared monitor while one runs."""
        with cls._shared_lock:
            return cls._shared

    @classmethod
    def install(cls, monitor: Monitor) -> Monitor:
        """Start ``monitor`` and make it the process's shared monitor (the one every
        ``Sandbox`` then uses), holding one use of it; pair with :meth:`release`.

        This is how a caller chooses the monitor's settings (a GPU polling interval, a fake
        NVML in tests) before the first sandbox starts.

        Raises:
            RuntimeError: another shared monitor is running.
            PrerequisiteError: Not root, or a kernel feature is missing.
        """
        with cls._shared_lock:
            if cls._shared is not None and cls._shared is not monitor:
                raise RuntimeError("a shared monitor is already running")
            if cls._shared is None:
                monitor.start()
                cls._shared = monitor
            monitor._users += 1
            return monitor

    def release(self) -> None:
        """Drop one user of the shared monitor; the last one stops it."""
        with Monitor._shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            if Monitor._shared is self:
                Monitor._shared = None
        self.stop()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher, the shared sensors and the watchdog.

        Raises:
            PrerequisiteError: Not root, or a kernel feature is missing.
        """
        if self.started:
            return
        self.dispatcher.start()
        started: list[Any] = []
        try:
            for sensor in (self.proc, self.nflog, self.fs):
                sensor.start(self.dispatcher.put)
                started.append(sensor)
            self.resources.start(self.dispatcher.put)
            started.append(self.resources)
        except BaseException:
            for sensor in reversed(started):
                sensor.stop()
            self.dispatcher.stop()
            raise
        self.watchdog.register("dispatch", self.dispatcher.thread)
        sensors: list[tuple[str, object]] = [
            ("proc", self.proc), ("nflog", self.nflog), ("fs", self.fs), ("resources", self.resources)
        ]  # fmt: skip
        for name, item in sensors:
            self.watchdog.register(name, _thread_of(item))
        self._start_gpu()
        self.watchdog.start()
        self.started = True

    def _start_gpu(self) -> None:
        """Start the GPU sensor where NVML and a GPU are present; otherwise note why not and
        go on (a host without a GPU is watched like any other)."""
        gpu = self.gpu
        if gpu is None:
            return
        try:
            gpu.start(self.dispatcher.put)
        except PrerequisiteError as exc:
            self._gpu_reason = exc.message
            log.info("GPU sensor unavailable: %s", exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - an optional sensor must not stop the run
            self._gpu_reason = f"{type(exc).__name__}: {exc}"
            log.warning("GPU sensor failed to start: %s", self._gpu_reason)
            try:
                gpu.stop()
            except Exception:  # noqa: BLE001
                pass
            return
        self._gpu_reason = ""
        self.watchdog.register("gpu", gpu.thread)
        self.watchdog.timeout_s = max(self.watchdog.timeout_s, self._min_timeout())

    @property
    def gpu_state(self) -> str:
        """The GPU sensor: "running", "off" (disabled), "unavailable: <reason>",
        "degraded: <reason>" (a GPU was lost), "not started" or "stopped"."""
        gpu = self.gpu
        if gpu is None:
            return "off"
        state = gpu.state
        if state == "running":
            return "running"
        if state == "degraded":
            return f"degraded: {gpu.reason}"
        reason = self._gpu_reason or gpu.reason
        if reason:
            return f"unavailable: {reason}"
        return "not started" if state in ("closed", "ready") else state

    def gpu_minors(self) -> dict[str, int]:
        """Device (NVML index as text, and UUID) -> N of /dev/nvidiaN, from NVML (empty while
        the GPU sensor does not run); for ``SandboxSpec.gpu_minors``."""
        gpu = self.gpu
        if gpu is None or gpu.state != "running":
            return {}
        out: dict[str, int] = {}
        for device in gpu.devices:
            if device.minor is not None:
                out[str(device.index)] = device.minor
                if device.uuid:
                    out[device.uuid] = device.minor
        return out

    def sensor_status(self) -> dict[str, str]:
        """Sensor name -> state ("running", "stopped", or the GPU's ``gpu_state``)."""
        out: dict[str, str] = {}
        for name, item in (("proc", self.proc), ("nflog", self.nflog), ("fs", self.fs),
                           ("resources", self.resources)):  # fmt: skip
            thread = _thread_of(item)
            out[name] = "running" if thread is not None and thread.is_alive() else "stopped"
        with self._lock:
            nets = dict(self._nets)
        for sandbox_id, net in nets.items():
            alive = net.thread is not None and net.thread.is_alive()
            out[f"net:{sandbox_id}"] = "running" if alive else "stopped"
        out["gpu"] = self.gpu_state
        return out

    def stop(self) -> None:
        """Stop everything (the watchdog first, so stopping is not a failure); idempotent."""
        if not self.started:
            return
        self.started = False
        self.watchdog.stop()
        for sandbox_id in list(self._nets):
            self._stop_net(sandbox_id)
        if self.gpu is not None:
            self.watchdog.unregister("gpu")
            try:
                self.gpu.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("stopping the GPU sensor failed")
        for sensor in (self.resources, self.fs, self.nflog, self.proc):
            try:
                sensor.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("stopping %s failed", sensor.name)
        self.dispatcher.stop()

    @property
    def nflog_group(self) -> int:
        """The NFLOG group sandboxes must log denied packets to."""
        assert self.nflog.group is not None
        return self.nflog.group

    # --- sandboxes --------------------------------------------------------------------------

    def attach(self, watch: Watch, *, fs_paths: Sequence[str | Path] | None = None) -> None:
        """Start watching a set-up sandbox: its network, files, resources and processes."""
        info = watch.info
        box = watch.box
        assert box.cgroup is not None
        self.targets.register(
            watch.sandbox_id, cgroup=box.cgroup, network=box, episode=watch.latch
        )
        self.dispatcher.add(watch)
        self._add_cgroup_paths(watch)
        self.watchdog.timeout_s = min(self.watchdog.timeout_s, self._timeout_of(watch))
        name = f"net:{watch.sandbox_id}"
        net = NetSensor(
            info.host_if,
            sandbox_id=watch.sandbox_id,
            on_loss=lambda loss: self.dispatcher.put_loss(loss, watch.sandbox_id),
            heartbeat=self.watchdog.register(name),
            run_id=watch.run_id,
            episode_id=watch.episode_id,
        )
        net.start(self.dispatcher.put)
        raise_thread(net.thread)
        self.watchdog.register(name, net.thread)
        with self._lock:
            self._nets[watch.sandbox_id] = net
        paths = fs_paths if fs_paths is not None else sensitive_paths([box.spec.workdir])
        self.fs.watch(watch.sandbox_id, paths)
        self.resources.watch(watch.sandbox_id, box.cgroup)

    def settle(self, sandbox_id: str, timeout: float = 0.5) -> None:
        """Wait (at most ``timeout``) until the sandbox's captured packets have been read by its
        network sensor, then until the dispatcher handled everything so far."""
        deadline = time.monotonic() + timeout
        with self._lock:
            net = self._nets.get(sandbox_id)
        sock = getattr(net, "_sock", None)
        while isinstance(sock, socket.socket) and time.monotonic() < deadline:
            try:
                queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))
            except OSError:
                break
            if not queued[0]:
                break
            time.sleep(0.002)
        self.dispatcher.barrier(max(0.05, deadline - time.monotonic()))

    def quiesce(self, sandbox_id: str) -> None:
        """Stop the sandbox's network sensor (its open flows are reported closed) and wait for
        the dispatcher to handle everything so far. Call before tearing the sandbox down."""
        self._stop_net(sandbox_id)
        self.resources.unwatch(sandbox_id)
        self.fs.unwatch(sandbox_id)
        self.dispatcher.barrier(5.0)

    def detach(self, sandbox_id: str) -> None:
        """Stop watching a sandbox (after its teardown)."""
        self._stop_net(sandbox_id)
        self.resources.unwatch(sandbox_id)
        self.fs.unwatch(sandbox_id)
        self.dispatcher.barrier(5.0)
        self.dispatcher.remove(sandbox_id)
        self.targets.unregister(sandbox_id)
        self.lineage.unregister_sandbox(sandbox_id)
        self.owners.forget(sandbox_id)
        timeouts = [self._timeout_of(w) for w in self.dispatcher.watches()]
        self.watchdog.timeout_s = max(
            min([self._default_timeout, *timeouts]), self._min_timeout()
        )

    def _timeout_of(self, watch: Watch) -> float:
        """The policy's heartbeat timeout, at least 2.5 periods of the slowest heartbeat."""
        return max(watch.policy.heartbeat_timeout_ms / 1000, self._min_timeout())

    def _min_timeout(self) -> float:
        """2.5 periods of the slowest heartbeat: the resource sampler's, or the GPU poll's
        while the GPU sensor's thread runs (degraded included)."""
        periods = [self._resources_interval]
        if self.gpu is not None and self.gpu.thread is not None:
            periods.append(self.gpu.poll_interval_s)
        return 2.5 * max(periods)

    def dns_callback(self, watch_of: Any) -> Any:
        """An ``on_dns_query`` callback for a SandboxHost (``watch_of()`` gives its Watch)."""

        def on_query(query: DnsQuery) -> None:
            watch = watch_of()
            if watch is None:
                return
            pid = self.owners.owner(
                watch.sandbox_id, query.transport, query.client[0], query.client[1]
            )
            event = DnsEvent(
                ts=query.ts or time.time(),
                run_id=watch.run_id,
                episode_id=watch.episode_id,
                sandbox_id=watch.sandbox_id,
                source="dns",
                pid=pid,
                query_name=query.name,
                query_type=query.qtype,
                answers=query.answers,
                rcode=query.rcode,
                src_ip=query.client[0],
                dst_ip=watch.info.host_addr,
            )
            if pid is not None:
                record = self.lineage.record(pid)
                if record is not None:
                    event = dataclasses.replace(
                        event,
                        step=record.attribution.step,
                        tool_call_id=record.attribution.tool_call_id,
                        image=record.image,
                        command_line=record.command_line,
                    )
            self.dispatcher.put(event)

        return on_query

    # --- internals --------------------------------------------------------------------------

    def _pids_of(self, sandbox_id: str) -> list[int]:
        watch = self.dispatcher.watch(sandbox_id)
        if watch is None or watch.box.cgroup is None:
            return []
        try:
            return watch.box.cgroup.pids()
        except Exception:  # noqa: BLE001 - a vanished cgroup has no pids
            return []

    def _known_sandbox(self, sandbox_id: str) -> str | None:
        return sandbox_id if self.dispatcher.watch(sandbox_id) is not None else None

    def _add_cgroup_paths(self, watch: Watch) -> None:
        group = watch.box.cgroup
        if group is None or group.v2_path is None:
            return
        mount = detect_layout().v2_mount
        if mount is None:
            return
        try:  # the path as /proc/PID/cgroup shows it: relative to the cgroup2 mount
            rel = group.v2_path.relative_to(mount)
        except ValueError:
            return
        self.lineage.register_cgroup("/" + str(rel), watch.sandbox_id)

    def _stop_net(self, sandbox_id: str) -> None:
        self.watchdog.unregister(f"net:{sandbox_id}")
        with self._lock:
            net = self._nets.pop(sandbox_id, None)
        if net is not None:
            try:
                net.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the network sensor of %s failed", sandbox_id)

    def _on_fail(self, name: str, reason: str) -> None:
        """Watchdog: a sensor stopped. Freeze or kill what it watched (fail closed)."""
        watches = self.dispatcher.watches()
        if name.startswith("net:"):
            watches = [w for w in watches if w.sandbox_id == name[4:]]
        stuck: list[str] = []
        for watch in watches:
            action = self._contain(watch)
            if action == "failed":
                stuck.append(watch.sandbox_id)
            alert = failure_alert(watch, name, reason, action)
            if action in CONTAINING and CONTAINING.index(action) > (
                CONTAINING.index(watch.contained) if watch.contained else -1
            ):
                watch.contained = action
                for fn in watch.on_contain:
                    safecall(fn, alert)
            deliver(watch, alert)
        if stuck:
            raise RuntimeError(f"{name} failed ({reason}); sandboxes {stuck} could not be stopped")

    def _contain(self, watch: Watch) -> str:
        group = watch.box.cgroup
        if group is None:
            return "failed"
        if watch.policy.fail_mode is FailMode.FREEZE:
            try:
                group.freeze()
                return "freeze"
            except Exception:  # noqa: BLE001 - escalate to kill
                log.exception("freezing %s failed; killing it", watch.sandbox_id)
        try:
            group.kill()
            return "kill"
        except Exception:  # noqa: BLE001
            log.exception("killing %s failed", watch.sandbox_id)
            return "failed"


def _thread_of(sensor: object) -> threading.Thread | None:
    thread = getattr(sensor, "thread", None)
    if thread is None:
        thread = getattr(sensor, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


def failure_alert(watch: Watch, name: str, reason: str, action: str) -> Alert:
    """The alert recorded when a sensor (or the dispatcher) stopped."""
    now = time.time()
    event = ProcessEvent(
        ts=now, run_id=watch.run_id, episode_id=watch.episode_id, sandbox_id=watch.sandbox_id,
        source="watchdog", activity="terminate", image=f"watchkeeper:{name}",
    )  # fmt: skip
    return Alert(
        rule_id=RULE_SENSOR_FAILED,
        title=f"Monitoring failed ({name}: {reason}); sandbox {action}",
        severity=Severity.CRITICAL,
        attack=("T1562",),
        confidence=1.0,
        evidence=(Evidence(event=event, field="sensor", text=name),),
        description=(
            f"The {name} sensor stopped ({reason}). The sandbox can no longer be watched, so it "
            f"was stopped (fail_mode {watch.policy.fail_mode.value}: {action})."
        ),
        ts=now,
        run_id=watch.run_id,
        episode_id=watch.episode_id,
        sandbox_id=watch.sandbox_id,
        action=action,
        rule_source="watchkeeper",
        tags=("sensor", "fail_closed"),
    )
