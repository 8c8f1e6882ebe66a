"""The dispatcher: one thread that takes every observation through the stages, in order.

Sensors (each on its own thread) only enqueue. The dispatcher thread then, per item:

1. **route** it to its sandbox's :class:`~watchkeeper.runtime.watch.Watch` (by ``sandbox_id``);
2. **attribute** it: process events already carry their step (lineage, fixed at fork), and so do
   GPU events (the GPU sensor asks the lineage, then the pid's cgroup); flows
   and DNS queries get their pid from the socket tables (:mod:`~watchkeeper.runtime.sockets`),
   then the pid's step, image and command line from the lineage; a flow whose socket is gone
   (a refused connect) gets the step only when exactly one step was running at the event's
   time or has live processes now, otherwise none. Events of the
   runtime's own processes (bwrap, the exec server) are dropped here;
3. **record** it (event observers: the store);
4. **detect**: Sigma rules + stateful detectors of the sandbox;
5. **respond**: each alert goes through the sandbox's policy and responders (kill, freeze,
   cut_network, end_episode); the action is recorded on the alert;
6. **report**: alert observers (store, ``alerts.jsonl``, live print) and the sandbox's list.

One thread keeps the order: an exec's exit is reported only after every earlier event (and the
response to it) was handled, which :meth:`Dispatcher.wait_exit` relies on. Observers fail open;
an exception in detection or response is counted and the item skipped, never the thread.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import WatchkeeperError
from watchkeeper.events import DnsEvent, Event, FileEvent, GpuEvent, NetworkEvent, ProcessEvent
from watchkeeper.runtime.pipeline import RULE_SENSOR_LOSS
from watchkeeper.runtime.priority import raise_thread
from watchkeeper.runtime.sockets import SocketOwners
from watchkeeper.runtime.watch import CONTAINING, Watch
from watchkeeper.sensors._proc_loss import SensorLoss
from watchkeeper.sensors.resources import ResourceSample

log = logging.getLogger(__name__)

_TICK_S = 0.05
_MAX_WAITERS = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class Loss:
    """A loss record, for one sandbox (``sandbox_id``) or for all (``None``)."""

    loss: SensorLoss
    sandbox_id: str | None = None


Item = Event | ResourceSample | Loss | threading.Event | Callable[[], None]


def safecall(fn: Callable[..., Any], *args: Any) -> None:
    """Call an observer; an exception is logged and dropped (observers fail open)."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - observers must not stop the runtime
        log.exception("observer %r failed", fn)


class Dispatcher:
    """Routes, attributes, detects and responds, on one thread.

    Args:
        lineage: The shared process lineage.
        owners: Socket -> pid resolver.
        heartbeat: Called at least every 50 ms while the thread is healthy (the watchdog).
        rt_priority: SCHED_FIFO priority of the thread (None: nice -20 only).
    """

    def __init__(
        self,
        lineage: Lineage,
        owners: SocketOwners,
        heartbeat: Callable[[], None] | None = None,
        rt_priority: int | None = 40,
    ) -> None:
        self.lineage = lineage
        self.rt_priority = rt_priority
        self.priority_in_effect = "not started"
        """The scheduling the thread got ("fifo:40", "nice:-20" or "default")."""
        self.owners = owners
        self._heartbeat = heartbeat
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._watches: dict[str, Watch] = {}
        self._lock = threading.Lock()
        self._exit_waiters: dict[int, threading.Event] = {}
        self._thread: threading.Thread | None = None
        self.handled = 0
        """Items handled."""
        self.errors = 0
        """Items whose detection or response raised (skipped)."""

    # --- wiring ---------------------------------------------------------------------------

    def add(self, watch: Watch) -> None:
        """Route a sandbox's events to ``watch``."""
        with self._lock:
            self._watches[watch.sandbox_id] = watch

    def remove(self, sandbox_id: str) -> None:
        """Stop routing a sandbox's events."""
        with self._lock:
            self._watches.pop(sandbox_id, None)

    def watch(self, sandbox_id: str) -> Watch | None:
        """The watch of a sandbox."""
        with self._lock:
            return self._watches.get(sandbox_id)

    def watches(self) -> list[Watch]:
        """Every watch."""
        with self._lock:
            return list(self._watches.values())

    def put(self, item: Item) -> None:
        """Enqueue an event, sample or loss record (any thread; the sensors' ``emit``)."""
        self._queue.put(item)

    def put_loss(self, loss: SensorLoss, sandbox_id: str | None = None) -> None:
        """Enqueue a loss record of a sensor (of one sandbox, or of all)."""
        self._queue.put(Loss(loss, sandbox_id))

    def expect_exit(self, pid: int) -> threading.Event:
        """An event set once the termination of ``pid`` has been handled (call before the
        process can exit; :meth:`forget_exit` when done)."""
        with self._lock:
            waiter = self._exit_waiters.get(pid)
            if waiter is None:
                waiter = threading.Event()
                self._exit_waiters[pid] = waiter
                while len(self._exit_waiters) > _MAX_WAITERS:
                    self._exit_waiters.pop(next(iter(self._exit_waiters)))
            return waiter

    def forget_exit(self, pid: int) -> None:
        """Drop the waiter of ``pid``."""
        with self._lock:
            self._exit_waiters.pop(pid, None)

    def barrier(self, timeout: float = 2.0) -> bool:
        """Wait until everything enqueued so far has been handled."""
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    # --- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="wk-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Handle what is queued, then stop; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10.0)

    @property
    def thread(self) -> threading.Thread | None:
        """The dispatcher thread (for the watchdog)."""
        return self._thread

    def _run(self) -> None:
        self.priority_in_effect = raise_thread(None, fifo=self.rt_priority)
        next_tick = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=_TICK_S)
            except queue.Empty:
                item = _IDLE
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + _TICK_S
                if self._heartbeat is not None:
                    self._heartbeat()
                self._tick()
            if item is _IDLE:
                continue
            if item is None:
                return
            try:
                self._handle(item)
            except Exception:  # noqa: BLE001 - one bad item must not stop the runtime
                self.errors += 1
                log.exception("dispatch failed")
            self.handled += 1

    def _tick(self) -> None:
        for watch in self.watches():
            try:
                for alert in watch.pipeline.tick():
                    self._respond(watch, alert)
            except Exception:  # noqa: BLE001
                self.errors += 1
                log.exception("detector tick failed")

    def _handle(self, item: Item) -> None:
        if isinstance(item, threading.Event):
            item.set()
            return
        if isinstance(item, Loss):
            self._loss(item)
            return
        if isinstance(item, ResourceSample):
            watch = self.watch(item.sandbox_id)
            if watch is None:
                return
            for fn in watch.on_sample:
                safecall(fn, item)
            if item.pid is not None and self._is_plumbing(watch, item.pid, item.step):
                return
            for alert in watch.pipeline.detect(item):
                self._respond(watch, self._stamp_alert(watch, alert))
            return
        if callable(item):
            item()
            return
        if isinstance(item, GpuEvent) and item.activity == "device":
            self._gpu_device(item)
            return
        self._event(item)

    def _gpu_device(self, event: GpuEvent) -> None:
        """A whole-device GPU reading belongs to no sandbox: every sandbox's detectors see it
        (device PCIe traffic weighs the mining profile); it is not recorded per sandbox."""
        for watch in self.watches():
            for alert in watch.pipeline.detect(event):
                self._respond(watch, alert)

    def _event(self, event: Event) -> None:
        watch = self.watch(event.sandbox_id)
        if watch is None:
            if isinstance(event, ProcessEvent) and event.activity == "terminate":
                self._exited(event.pid)
            return
        attributed = self._attribute(watch, event)
        if attributed is None:
            if isinstance(event, ProcessEvent) and event.activity == "terminate":
                self._exited(event.pid)
            return
        event = attributed
        watch.events_seen += 1
        for fn in watch.on_event:
            safecall(fn, event)
        for alert in watch.pipeline.detect(event):
            if watch.first(_fold_key(alert)):
                self._respond(watch, alert)
        if isinstance(event, ProcessEvent) and event.activity == "terminate":
            self._exited(event.pid)

    def _exited(self, pid: int | None) -> None:
        if pid is None:
            return
        with self._lock:
            waiter = self._exit_waiters.get(pid)
        if waiter is not None:
            waiter.set()

    # --- attribution ------------------------------------------------------------------------

    def _is_plumbing(self, watch: Watch, pid: int, step: int | None) -> bool:
        if step is not None:
            return False
        if pid in watch.plumbing_roots:
            return True
        attribution = self.lineage.attribution_of(pid)
        return attribution is not None and attribution.step is None and (
            attribution.root_pid in watch.plumbing_roots
        )

    def _attribute(self, watch: Watch, event: Event) -> Event | None:
        """The event with its attribution filled in; None for the runtime's own processes."""
        changes: dict[str, Any] = {}
        if event.run_id != watch.run_id:
            changes["run_id"] = watch.run_id
        if event.episode_id != watch.episode_id:
            changes["episode_id"] = watch.episode_id
        if isinstance(event, ProcessEvent):
            if event.pid is not None and self._is_plumbing(watch, event.pid, event.step):
                return None
        elif isinstance(event, (NetworkEvent, DnsEvent)) and event.pid is None:
            changes.update(self._flow_owner(watch, event))
        elif isinstance(event, FileEvent) and event.pid is not None and event.step is None:
            attribution = self.lineage.attribution_of(event.pid)
            if attribution is not None:
                changes["step"] = attribution.step
                changes["tool_call_id"] = attribution.tool_call_id
        return dataclasses.replace(event, **changes) if changes else event

    def _flow_owner(self, watch: Watch, event: NetworkEvent | DnsEvent) -> dict[str, Any]:
        port = event.src_port if isinstance(event, NetworkEvent) else None
        pid = None
        if port is not None and isinstance(event, NetworkEvent):
            pid = self.owners.owner(
                watch.sandbox_id, event.protocol, event.src_ip, port, event.dst_ip,
                event.dst_port or 0,
            )  # fmt: skip
        if pid is not None:
            record = self.lineage.record(pid)
            if record is not None and not self._is_plumbing(watch, pid, record.attribution.step):
                return {
                    "pid": pid,
                    "step": record.attribution.step,
                    "tool_call_id": record.attribution.tool_call_id,
                    "image": record.image,
                    "command_line": record.command_line,
                }
            return {"pid": pid}
        # the socket is gone: the only step that was running then, or has processes now
        steps = watch.steps_at(event.ts) | self.lineage.active_steps(watch.sandbox_id)
        steps = {s for s in steps if s[0] is not None}
        if len(steps) == 1 and event.step is None:
            step, tool_call_id = next(iter(steps))
            return {"step": step, "tool_call_id": tool_call_id}
        return {}

    # --- response ---------------------------------------------------------------------------

    def _stamp_alert(self, watch: Watch, alert: Alert) -> Alert:
        if alert.sandbox_id and alert.run_id == watch.run_id:
            return alert
        return dataclasses.replace(
            alert,
            sandbox_id=alert.sandbox_id or watch.sandbox_id,
            run_id=watch.run_id,
            episode_id=watch.episode_id,
        )

    def _respond(self, watch: Watch, alert: Alert) -> None:
        alert = self._stamp_alert(watch, alert)
        try:
            alert = watch.enforcer.handle(alert)
        except WatchkeeperError as exc:
            alert = dataclasses.replace(
                alert, action="failed", tags=alert.tags + (f"response_failed:{exc.message}",)
            )
            log.error("response to %s failed: %s", alert.rule_id, exc)
        if alert.action in CONTAINING:
            strongest = max(
                (watch.contained, alert.action), key=lambda a: CONTAINING.index(a) if a else -1
            )
            first = strongest != watch.contained
            watch.contained = strongest
            if first:
                for fn in watch.on_contain:
                    safecall(fn, alert)
        deliver(watch, alert)

    def _loss(self, item: Loss) -> None:
        targets = self.watches()
        if item.sandbox_id is not None:
            targets = [w for w in targets if w.sandbox_id == item.sandbox_id]
        for watch in targets:
            self._respond(watch, loss_alert(item.loss, watch))


class _Idle:
    pass


def _fold_key(alert: Alert) -> tuple[object, ...] | None:
    """What makes an alert a repeat: a rule fires once per flow (not on each of the flow's
    open/traffic/close events) and once per process and command line (a wrapper that re-execs
    the same command, as interpreter shims do). None (never folded) for other alerts."""
    if not alert.evidence:
        return None
    event = alert.evidence[0].event
    if isinstance(event, NetworkEvent) and event.activity != "deny":
        return (alert.rule_id, event.protocol, event.src_ip, event.src_port, event.dst_ip,
                event.dst_port)  # fmt: skip
    if isinstance(event, ProcessEvent) and event.activity == "launch" and event.pid is not None:
        return (alert.rule_id, "exec", event.pid, event.command_line)
    return None


_IDLE: Any = _Idle()


def deliver(watch: Watch, alert: Alert) -> None:
    """Keep an alert and hand it to the sandbox's alert observers."""
    watch.record(alert)
    for fn in watch.on_alert:
        safecall(fn, alert)


def loss_alert(loss: SensorLoss, watch: Watch) -> Alert:
    """The alert for a sensor that lost events."""
    event = NetworkEvent(
        ts=loss.ts, run_id=watch.run_id, episode_id=watch.episode_id, sandbox_id=watch.sandbox_id,
        source=loss.sensor, activity="traffic", detail=(("loss", loss.reason),),
    )  # fmt: skip
    return Alert(
        rule_id=RULE_SENSOR_LOSS,
        title=f"Sensor {loss.sensor} lost events: {loss.reason}",
        severity=Severity.MEDIUM,
        attack=("T1562",),
        confidence=1.0,
        evidence=(Evidence(event=event, field="loss", text=f"{loss.count} (total {loss.total})"),),
        description=(
            f"The {loss.sensor} sensor lost {loss.count} record(s) ({loss.total} in total): "
            f"{loss.reason}. What the sandbox did in that time may be unseen."
        ),
        ts=loss.ts,
        run_id=watch.run_id,
        episode_id=watch.episode_id,
        sandbox_id=watch.sandbox_id,
        rule_source="watchkeeper",
        tags=("sensor", "loss"),
    )
