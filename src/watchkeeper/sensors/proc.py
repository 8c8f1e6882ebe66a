"""Process sensor: fork/exec/exit of sandboxed processes from the netlink proc connector.

One reader thread receives every process event of the host, keeps the fork lineage
(:class:`~watchkeeper.attribution.lineage.Lineage`) and, for watched processes only, reads
/proc/PID right after EXEC (cmdline first) and emits a :class:`ProcessEvent`.

A process is watched when it descends (by FORK events) from a root registered with the lineage,
or when its cgroup is a registered sandbox cgroup. Needs CAP_NET_ADMIN and the initial network
namespace (the monitor stays there; sandboxed processes are seen by their host pids).

The reader thread asks for SCHED_FIFO (``os.sched_setscheduler`` on its own thread id) and falls
back to nice -20, then to the default priority. At default priority a loaded host loses the
cmdline of many short-lived processes (they exit before /proc is read); the fallback then is the
15-character ``comm``. Nothing else about the process's scheduling is changed.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from watchkeeper.attribution.lineage import Attribution, Lineage
from watchkeeper.errors import PrerequisiteError, SensorError
from watchkeeper.events import ProcessEvent
from watchkeeper.sensors import _proc_connector as cn
from watchkeeper.sensors._base import Emit, SensorStats
from watchkeeper.sensors._proc_loss import LossReporter, OnLoss
from watchkeeper.sensors._proc_read import (
    ProcSnapshot,
    read_cgroups,
    snapshot,
    user_name,
)

Priority = Literal["fifo", "nice", "default"]

_RECV_TIMEOUT_S = 0.2
_CLOCK_RESYNC_S = 10.0


class ProcSensor:
    """Live process events (launch/terminate) of watched sandboxes.

    Args:
        lineage: The shared pid -> step map (a new one when omitted; see :attr:`lineage`).
        rcvbuf: Socket receive buffer in bytes (SO_RCVBUFFORCE; at least 8 MiB recommended).
        priority: The best scheduling the reader thread tries: "fifo" (then nice, then
            default), "nice" (nice -20, then default) or "default".
        rt_priority: SCHED_FIFO priority (1..99).
        watch_all: Emit events for every process on the host (benchmarks, host monitoring).
        emit_exit: Also emit "terminate" events.
        on_loss: Called with a :class:`SensorLoss` when events were lost (ENOBUFS).
        heartbeat: Called from the reader thread at least every 200 ms while it is healthy.
        run_id / episode_id: Stamped on every event.
        proc: The proc mount (tests).
    """

    name = "proc"

    def __init__(
        self,
        lineage: Lineage | None = None,
        *,
        rcvbuf: int = 8 * 1024 * 1024,
        priority: Priority = "fifo",
        rt_priority: int = 50,
        watch_all: bool = False,
        emit_exit: bool = True,
        on_loss: OnLoss | None = None,
        heartbeat: Callable[[], None] | None = None,
        run_id: str = "",
        episode_id: str = "",
        proc: str = "/proc",
    ) -> None:
        self.lineage = lineage if lineage is not None else Lineage()
        self._rcvbuf = rcvbuf
        self._priority: Priority = priority
        self._rt_priority = rt_priority
        self._watch_all = watch_all
        self._emit_exit = emit_exit
        self._loss = LossReporter(self.name, on_loss)
        self._heartbeat = heartbeat
        self._run_id = run_id
        self._episode_id = episode_id
        self._proc = proc
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._emit: Emit | None = None
        self._received = 0
        self._errors = 0
        self._clock_offset_ns = 0
        self._clock_synced = 0.0
        self._sync_clock()
        self.priority_in_effect: str = "not started"
        """The scheduling the reader thread got: "fifo:50", "nice:-20" or "default"."""
        self.rcvbuf_granted = 0
        """The receive buffer the kernel granted (bytes)."""
        self.exec_latency_ns: deque[int] = deque(maxlen=100_000)
        """Kernel EXEC timestamp -> event emitted, per watched exec (most recent 100k)."""
        self.cmdline_missed = 0
        """Watched execs whose cmdline was gone (only ``comm`` was captured)."""
        self.execs_seen = 0
        """Watched execs emitted."""

    # --- Sensor protocol ----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Open and subscribe the connector socket and start the reader thread."""
        if self._thread is not None:
            raise SensorError("proc sensor already started")
        try:
            self._sock, self.rcvbuf_granted = cn.open_socket(self._rcvbuf)
        except PermissionError as exc:
            raise PrerequisiteError(
                f"the proc connector needs CAP_NET_ADMIN ({exc.strerror})", fix="run as root"
            ) from exc
        except ConnectionRefusedError as exc:
            raise PrerequisiteError(
                "the proc connector only works in the initial network namespace",
                fix="run the monitor outside the sandbox's network namespace",
            ) from exc
        except OSError as exc:
            raise SensorError(f"cannot open the proc connector: {exc}") from exc
        self._sock.settimeout(_RECV_TIMEOUT_S)
        self._emit = emit
        self._stop.clear()
        self._sync_clock()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="wk-proc-sensor", daemon=True
        )
        self._thread.start()
        ready.wait(2.0)

    def stop(self) -> None:
        """Unsubscribe, stop and join the reader thread; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.send(cn.subscribe_message(cn.PROC_CN_MCAST_IGNORE))
            except OSError:
                pass
            sock.close()
        self._loss.flush()

    def stats(self) -> SensorStats:
        """Received datagrams, ENOBUFS overruns (dropped) and failed reads."""
        return SensorStats(self._received, self._loss.total, self._errors)

    @property
    def alive(self) -> bool:
        """True while the reader thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # --- reader thread ------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        self.priority_in_effect = _raise_priority(self._priority, self._rt_priority)
        ready.set()
        sock = self._sock
        assert sock is not None
        buf = bytearray(4096)
        view = memoryview(buf)
        last_beat = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_beat >= 0.1:
                last_beat = now
                if self._heartbeat is not None:
                    self._heartbeat()
                self._loss.flush(force=False)
                if now - self._clock_synced > _CLOCK_RESYNC_S:
                    self._sync_clock()
            try:
                n = sock.recv_into(buf)
            except TimeoutError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._loss.lost("proc connector overrun (ENOBUFS): process events lost")
                    continue
                if self._stop.is_set():
                    break
                self._errors += 1
                time.sleep(0.01)
                continue
            self._received += 1
            event = cn.parse(view[:n])
            if event is None:
                continue
            try:
                self.handle(event)
            except Exception:  # noqa: BLE001 - a bad record must not kill the sensor
                self._errors += 1

    def handle(self, ev: cn.ProcEvent) -> None:
        """Apply one decoded event (public for replay and tests)."""
        what = ev.what
        if what == cn.PROC_EVENT_FORK:
            if ev.pid != ev.tgid:
                return  # a new thread, not a process
            if (
                self.lineage.on_fork(ev.ptgid, ev.tgid, ev.ts_ns) is None
                and self.lineage.watches_cgroups
            ):
                self._attribute_by_cgroup(ev.tgid, ev.ptgid, read_cgroups(ev.tgid, self._proc))
        elif what == cn.PROC_EVENT_EXEC:
            self._on_exec(ev)
        elif what == cn.PROC_EVENT_EXIT:
            if ev.pid != ev.tgid:
                return
            self._on_exit(ev)

    def _on_exec(self, ev: cn.ProcEvent) -> None:
        pid = ev.tgid
        attribution = self.lineage.attribution_of(pid)
        if attribution is None and not self._watch_all:
            if not self.lineage.watches_cgroups:
                return
            snap = snapshot(pid, self._proc, with_cgroups=True)
            attribution = self._attribute_by_cgroup(pid, snap.ppid, snap.cgroups)
            if attribution is None:
                return
        else:
            snap = snapshot(pid, self._proc)
        self._emit_exec(ev, pid, snap, attribution)

    def _emit_exec(
        self, ev: cn.ProcEvent, pid: int, snap: ProcSnapshot, attribution: Attribution | None
    ) -> None:
        argv = snap.argv
        if not argv:
            self.cmdline_missed += 1
        command_line = " ".join(argv) if argv else f"[{snap.comm}]" if snap.comm else ""
        image = snap.image or (argv[0] if argv else snap.comm)
        self.lineage.on_exec(pid, image, command_line)
        record = self.lineage.record(pid)
        ppid = record.ppid if record is not None and record.ppid is not None else snap.ppid
        parent = self.lineage.record(ppid) if ppid is not None else None
        if parent is not None and not parent.image:
            # a root registered after its own exec: fill its image once, from /proc
            psnap = snapshot(parent.pid, self._proc)
            parent.image = psnap.image
            parent.command_line = " ".join(psnap.argv)
            self.lineage.on_exec(parent.pid, parent.image, parent.command_line)
        event = ProcessEvent(
            ts=self._epoch(ev.ts_ns),
            run_id=self._run_id,
            episode_id=self._episode_id,
            step=attribution.step if attribution else None,
            tool_call_id=attribution.tool_call_id if attribution else "",
            sandbox_id=attribution.sandbox_id if attribution else "",
            source=self.name,
            pid=pid,
            activity="launch",
            image=image,
            command_line=command_line,
            argv=argv,
            parent_image=parent.image if parent else "",
            parent_command_line=parent.command_line if parent else "",
            cwd=snap.cwd,
            user=user_name(snap.uid),
            ppid=ppid,
        )
        self.execs_seen += 1
        self._deliver(event)
        self.exec_latency_ns.append(time.monotonic_ns() - ev.ts_ns)

    def _on_exit(self, ev: cn.ProcEvent) -> None:
        pid = ev.tgid
        record = self.lineage.record(pid)
        attribution = self.lineage.on_exit(pid)
        if not self._emit_exit or (attribution is None and not self._watch_all):
            return
        status = ev.exit_code
        code = -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF
        event = ProcessEvent(
            ts=self._epoch(ev.ts_ns),
            run_id=self._run_id,
            episode_id=self._episode_id,
            step=attribution.step if attribution else None,
            tool_call_id=attribution.tool_call_id if attribution else "",
            sandbox_id=attribution.sandbox_id if attribution else "",
            source=self.name,
            pid=pid,
            activity="terminate",
            image=record.image if record else "",
            command_line=record.command_line if record else "",
            ppid=(record.ppid if record else None) or ev.ptgid or None,
            exit_code=code,
        )
        self._deliver(event)

    def _attribute_by_cgroup(
        self, pid: int, ppid: int | None, cgroups: tuple[str, ...]
    ) -> Attribution | None:
        for path in cgroups:
            sandbox = self.lineage.sandbox_of_cgroup(path)
            if sandbox is not None:
                attribution = Attribution(sandbox)
                self.lineage.adopt(pid, attribution, ppid)
                return self.lineage.attribution_of(pid)
        return None

    def _deliver(self, event: ProcessEvent) -> None:
        if self._emit is not None:
            self._emit(event)

    def _sync_clock(self) -> None:
        self._clock_offset_ns = time.time_ns() - time.monotonic_ns()
        self._clock_synced = time.monotonic()

    def _epoch(self, ts_ns: int) -> float:
        return (ts_ns + self._clock_offset_ns) / 1e9


def _raise_priority(wanted: Priority, rt_priority: int) -> str:
    """Raise the calling thread's scheduling priority as far as permitted; returns what it got."""
    tid = threading.get_native_id()
    if wanted == "fifo":
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(rt_priority))
            return f"fifo:{rt_priority}"
        except OSError:
            pass
    if wanted in ("fifo", "nice"):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, -20)
            return "nice:-20"
        except OSError:
            pass
    return "default"
