"""Sustained CPU use by a process that is not the declared workload (T1496, T1496.001).

Consumes :class:`~watchkeeper.sensors.resources.ResourceSample` s. A process is *declared* when
its pid (or a fork-time ancestor, through ``ancestry``) was declared, or its image matches one
of the declared glob patterns (``python*``, ``/usr/bin/make``...). Everything else is judged:

* per process: ``cpu_share > threshold`` (default 0.8 cores) in every sample for at least
  ``sustain_s`` (default 5 s) -> one alert per process;
* per sandbox: the sum over its undeclared processes, same threshold and duration, so that a
  miner split into many workers below the threshold is caught too -> one alert per sandbox, only
  when no per-process alert fired there.

A gap between samples longer than ``gap_s`` breaks a run. Severity is medium (a compiler or a
test suite also burns CPU); confidence 0.5. Pair it with protocol evidence (stratum) or declare
the workload to raise it.
"""

from __future__ import annotations

import fnmatch
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import ProcessEvent
from watchkeeper.sensors.resources import ResourceSample

RULE_ID = "detector:cpu"
ATTACK = ("T1496", "T1496.001")
_MAX_KEYS = 16384


@dataclass(slots=True)
class _Run:
    start: float
    last: float
    total: float = 0.0
    samples: int = 0
    peak: float = 0.0
    latest: ResourceSample | None = None
    members: dict[int, ResourceSample] = field(default_factory=dict)


class CpuDetector:
    """CPU hijacking by an undeclared process.

    Args:
        declared_pids: Roots of the declared workload (their descendants are declared too when
            ``ancestry`` is given).
        declared_images: Glob patterns matched against the image path and its basename.
        ancestry: pid -> its fork-time ancestors (``Lineage.ancestors``).
        threshold: CPU share in cores above which a sample counts as busy.
        sustain_s: How long every sample must stay above the threshold.
        gap_s: A longer silence between two samples restarts the run.
    """

    name = "cpu"

    def __init__(
        self,
        *,
        declared_pids: Iterable[int] = (),
        declared_images: Iterable[str] = (),
        ancestry: Callable[[int], Sequence[int]] | None = None,
        threshold: float = 0.8,
        sustain_s: float = 5.0,
        gap_s: float = 2.0,
    ) -> None:
        self.declared_pids = set(declared_pids)
        self.declared_images = tuple(declared_images)
        self.threshold = threshold
        self.sustain_s = sustain_s
        self.gap_s = gap_s
        self._ancestry = ancestry
        self._runs: OrderedDict[tuple[str, int | None], _Run] = OrderedDict()
        self._alerted: set[tuple[str, int | None]] = set()
        self._tick: dict[str, tuple[float, dict[int, ResourceSample]]] = {}

    def declare(self, pid: int | None = None, image: str | None = None) -> None:
        """Add a pid tree root or an image pattern to the declared workload."""
        if pid is not None:
            self.declared_pids.add(pid)
        if image is not None:
            self.declared_images += (image,)

    def observe(self, item: object) -> list[Alert]:
        """Alerts for one resource sample; anything else is ignored."""
        if not isinstance(item, ResourceSample) or item.pid is None:
            return []
        if self.is_declared(item.pid, item.image):
            return []
        alerts: list[Alert] = []
        # the sandbox aggregate: samples of one round share their ts
        tick = self._tick.get(item.sandbox_id)
        if tick is not None and tick[0] != item.ts:
            alerts += self._judge_sandbox(item.sandbox_id, tick[0], tick[1])
            tick = None
        if tick is None:
            tick = (item.ts, {})
            self._tick[item.sandbox_id] = tick
        tick[1][item.pid] = item
        alerts += self._judge((item.sandbox_id, item.pid), item.ts, item.cpu_share, item, {})
        return alerts

    def flush(self) -> list[Alert]:
        """Judge the sandbox aggregates of the last round (call when sampling stops)."""
        alerts: list[Alert] = []
        for sandbox_id, (ts, members) in list(self._tick.items()):
            alerts += self._judge_sandbox(sandbox_id, ts, members)
        self._tick.clear()
        return alerts

    def is_declared(self, pid: int, image: str) -> bool:
        """True when ``pid`` belongs to the declared workload."""
        if pid in self.declared_pids:
            return True
        if image and self.declared_images:
            base = os.path.basename(image)
            for pattern in self.declared_images:
                if fnmatch.fnmatchcase(image, pattern) or fnmatch.fnmatchcase(base, pattern):
                    return True
        if self._ancestry is not None and self.declared_pids:
            return any(a in self.declared_pids for a in self._ancestry(pid))
        return False

    # --- internals ----------------------------------------------------------------------

    def _judge_sandbox(
        self, sandbox_id: str, ts: float, members: dict[int, ResourceSample]
    ) -> list[Alert]:
        share = sum(s.cpu_share for s in members.values())
        interval = max((s.interval for s in members.values()), default=0.0)
        latest = max(members.values(), key=lambda s: s.cpu_share, default=None)
        if latest is None:
            return []
        synthetic = ResourceSample(ts=ts, sandbox_id=sandbox_id, pid=None, interval=interval)
        return self._judge((sandbox_id, None), ts, share, synthetic, members)

    def _judge(
        self,
        key: tuple[str, int | None],
        ts: float,
        share: float,
        sample: ResourceSample,
        members: dict[int, ResourceSample],
    ) -> list[Alert]:
        if share <= self.threshold:
            self._runs.pop(key, None)
            return []
        run = self._runs.get(key)
        if run is None or ts - run.last > self.gap_s + sample.interval:
            run = _Run(start=ts - sample.interval, last=ts)
            self._runs[key] = run
            while len(self._runs) > _MAX_KEYS:
                self._runs.popitem(last=False)
        run.last = ts
        run.total += share
        run.samples += 1
        run.peak = max(run.peak, share)
        run.latest = sample
        run.members.update(members)
        if key in self._alerted or run.last - run.start < self.sustain_s:
            return []
        if key[1] is None and any(k[0] == key[0] and k[1] is not None for k in self._alerted):
            return []  # a process of this sandbox was already named
        self._alerted.add(key)
        return [self._alert(key, run)]

    def _alert(self, key: tuple[str, int | None], run: _Run) -> Alert:
        average = run.total / run.samples
        duration = run.last - run.start
        if key[1] is not None and run.latest is not None:
            culprits = [run.latest]
            title = f"Sustained CPU use by an undeclared process ({average:.2f} cores)"
        else:
            culprits = sorted(run.members.values(), key=lambda s: -s.cpu_share)[:3]
            title = f"Sustained CPU use by undeclared processes of a sandbox ({average:.2f} cores)"
        evidence = tuple(
            Evidence(
                event=_as_event(s),
                field="cpu_share",
                text=f"{average:.2f} cores (peak {run.peak:.2f}) for {duration:.1f} s",
            )
            for s in culprits
        )
        first = culprits[0]
        return Alert(
            rule_id=RULE_ID,
            title=title,
            severity=Severity.MEDIUM,
            attack=ATTACK,
            confidence=0.5,
            evidence=evidence,
            description=(
                f"CPU share above {self.threshold:g} cores for {duration:.1f} s "
                f"(threshold {self.sustain_s:g} s) by a process outside the declared workload"
            ),
            ts=run.last,
            step=first.step,
            tool_call_id=first.tool_call_id,
            sandbox_id=key[0],
            rule_source="detector",
            tags=("resources",),
        )


def _as_event(sample: ResourceSample) -> ProcessEvent:
    """The process behind a sample, as evidence."""
    return ProcessEvent(
        ts=sample.ts,
        step=sample.step,
        tool_call_id=sample.tool_call_id,
        sandbox_id=sample.sandbox_id,
        source="resources",
        pid=sample.pid,
        activity="launch",
        image=sample.image,
        command_line=sample.command_line,
    )
