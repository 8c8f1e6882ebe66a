"""What the runtime keeps per watched sandbox (the dispatcher's routing entry)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from watchkeeper.alerts import Alert
from watchkeeper.events import Event
from watchkeeper.respond import Enforcer, EpisodeLatch, Policy
from watchkeeper.runtime.pipeline import Pipeline
from watchkeeper.sandbox import SandboxHost, SandboxInfo
from watchkeeper.sensors.resources import ResourceSample

AlertObserver = Callable[[Alert], None]
EventObserver = Callable[[Event], None]
SampleObserver = Callable[[ResourceSample], None]
ContainObserver = Callable[[Alert], None]

CONTAINING = ("freeze", "kill", "end_episode")
"""Actions after which the sandbox's processes no longer run."""


@dataclass(slots=True)
class Call:
    """One exec call: its attribution and when it ran (epoch seconds; ``ended`` None while it
    runs)."""

    step: int | None
    tool_call_id: str
    started: float
    ended: float | None = None


_MAX_CALLS = 256
_SLACK_S = 0.1
_SLACK_AFTER_S = 1.0  # sensor threads stamp events when they handle them, not at capture


@dataclass(eq=False)
class Watch:
    """One sandbox under watch.

    Attributes:
        sandbox_id / run_id / episode_id: Stamped on its events and alerts.
        box: The sandbox host (cgroup, firewall).
        pipeline: Its detectors.
        policy / enforcer: Its response policy and the responders acting on it.
        latch: The episode gate (closed by ``end_episode``).
        on_alert / on_event / on_sample: Observers (store, alerts.jsonl, live print...); they
            fail open.
        on_contain: Called with the alert when a response first froze or killed the sandbox.
        plumbing_roots: Pids whose step-less descendants are the runtime's own processes
            (bwrap, the exec server); their events are not reported.
        alerts: Every alert of the sandbox so far, with its action.
        contained: The strongest containing action taken so far ("" while none).
    """

    sandbox_id: str
    run_id: str
    episode_id: str
    box: SandboxHost
    pipeline: Pipeline
    policy: Policy
    enforcer: Enforcer
    latch: EpisodeLatch
    on_alert: list[AlertObserver] = field(default_factory=list)
    on_event: list[EventObserver] = field(default_factory=list)
    on_sample: list[SampleObserver] = field(default_factory=list)
    on_contain: list[ContainObserver] = field(default_factory=list)
    plumbing_roots: set[int] = field(default_factory=set)
    alerts: list[Alert] = field(default_factory=list)
    contained: str = ""
    events_seen: int = 0
    seen: OrderedDict[tuple[object, ...], None] = field(default_factory=OrderedDict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def info(self) -> SandboxInfo:
        """The sandbox's addresses, interfaces and cgroups."""
        info = self.box.info
        assert info is not None
        return info

    def call_started(self, step: int | None, tool_call_id: str, ts: float) -> Call:
        """Record the start of an exec call."""
        call = Call(step, tool_call_id, ts)
        with self.lock:
            self.calls.append(call)
            del self.calls[:-_MAX_CALLS]
        return call

    def steps_at(self, ts: float) -> set[tuple[int | None, str]]:
        """(step, tool call) of the exec calls running at ``ts``, with slack after their end
        (an event stamped late may name two calls: the caller then attributes to neither)."""
        with self.lock:
            return {
                (c.step, c.tool_call_id)
                for c in self.calls
                if c.started - _SLACK_S <= ts
                and (c.ended is None or ts <= c.ended + _SLACK_AFTER_S)
            }

    def first(self, key: tuple[object, ...] | None) -> bool:
        """True the first time ``key`` is seen (None: always); bounded memory."""
        if key is None:
            return True
        if key in self.seen:
            return False
        self.seen[key] = None
        while len(self.seen) > 16384:
            self.seen.popitem(last=False)
        return True

    def record(self, alert: Alert) -> None:
        """Keep an alert (thread-safe)."""
        with self.lock:
            self.alerts.append(alert)

    def alert_count(self) -> int:
        """How many alerts were recorded so far (a mark for :meth:`alerts_of`)."""
        with self.lock:
            return len(self.alerts)

    def alerts_of(self, step: int | None, tool_call_id: str, since: int = 0) -> tuple[Alert, ...]:
        """The alerts attributed to one step and tool call, recorded after mark ``since``."""
        with self.lock:
            return tuple(
                a
                for a in self.alerts[since:]
                if a.step == step and a.tool_call_id == tool_call_id
            )
