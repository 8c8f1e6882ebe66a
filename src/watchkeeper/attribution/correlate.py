"""Join external alerts to agent steps by sandbox address and time.

Two indexes, both searched by bisection: per address, the sorted leases (start, end, episode)
of the sandbox map; per episode, the sorted start times of its steps. An alert finds the
episodes that held its source or destination address at its time (the sandbox can be either
side: egress alerts have it as source, inbound ones as destination), then the step whose time
window holds the alert time, allowing ``skew`` seconds of clock difference between the log's
host and the agent runner. The confidence says how clear the choice was.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from watchkeeper.attribution.external import ExternalAlert, Lease, leases_from_metadata
from watchkeeper.trajectories import Trajectory
from watchkeeper.trajectories._fast import fast_constructor

#: Reason codes of an attribution, with what they mean (also in docs/correlate.md).
REASONS: dict[str, str] = {
    "inside-step": "the alert time is inside one step's window",
    "skew-margin": "the alert time is outside every step's window but within the skew of one",
    "ambiguous-steps": "within the skew of two or more steps; the closest was chosen",
    "after-step": "after a step ended and before the next began (background activity?)",
    "before-first-step": "the episode held the address, but no step had started yet",
    "no-step-times": "the episode held the address, but its trajectory has no step times",
    "no-trajectory": "the sandbox map names the episode, but no trajectory was given for it",
    "ambiguous-episodes": "two episodes match (both sides are sandboxes, or leases overlap)",
    "no-lease": "no episode held the source or destination address at that time",
}
#: Confidence of the fallbacks that name an episode but no clear step.
AFTER_STEP, BEFORE_FIRST, NO_TIMES, NO_TRAJECTORY = 0.3, 0.1, 0.2, 0.2
#: Leases and steps looked at per alert, at most (bounds the work on overlapping input).
MAX_LEASES_SCANNED = 16
MAX_STEPS_SCANNED = 4
#: Step lengths below MIN_STEP_S count as MIN_STEP_S, above MAX_STEP_S as MAX_STEP_S (seconds).
MIN_STEP_S, MAX_STEP_S = 1e-3, 365 * 86400.0
_NAN = math.nan


@dataclass(frozen=True, slots=True)
class Candidate:
    """Another episode/step an alert may belong to (when the choice was ambiguous)."""

    trajectory_id: str
    step: int | None
    tool_call_id: str | None
    confidence: float
    side: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """Which episode, step and tool call an external alert is attributed to.

    Attributes:
        alert: The alert.
        trajectory_id: The episode (None: unattributed).
        step: The step's index in its trajectory (None when no step could be chosen).
        tool_call_id: The tool call of that step (the latest started before the alert).
        confidence: 1.0 inside one step's window; lower in the skew margin or between steps;
            0.0 when unattributed.
        reason: A code from :data:`REASONS`.
        sandbox_ip: The alert address that matched the sandbox map.
        side: "src" when the sandbox was the alert's source (egress), "dst" when destination.
        also: Other plausible attributions when the choice was ambiguous.
    """

    alert: ExternalAlert
    trajectory_id: str | None
    step: int | None
    tool_call_id: str | None
    confidence: float
    reason: str
    sandbox_ip: str | None = None
    side: str | None = None
    also: tuple[Candidate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The alert's fields plus the attribution's, JSON-ready."""
        out = self.alert.to_dict()
        out.update(
            trajectory_id=self.trajectory_id, step=self.step, tool_call_id=self.tool_call_id,
            confidence=round(self.confidence, 3), reason=self.reason,
            sandbox_ip=self.sandbox_ip, side=self.side,
        )
        if self.also:
            out["also"] = [
                {"trajectory_id": c.trajectory_id, "step": c.step, "tool_call_id": c.tool_call_id,
                 "confidence": round(c.confidence, 3), "side": c.side} for c in self.also
            ]
        return out


_new_attribution: Callable[..., Attribution] = fast_constructor(Attribution)

CallIds = str | tuple[tuple[float, str], ...]


@dataclass(slots=True)
class _Timeline:
    """The steps of one episode, sorted by start; ``ends`` are window ends (filled by finish).

    ``guessed[k]`` is 1 where finish() filled in an end the input did not give (NaN until then),
    so a later finish() (after more steps or leases were added) can guess it again.
    """

    starts: Any = field(default_factory=lambda: array("d"))
    ends: Any = field(default_factory=lambda: array("d"))
    guessed: Any = field(default_factory=lambda: array("b"))
    indices: Any = field(default_factory=lambda: array("q"))
    calls: list[CallIds] = field(default_factory=list)
    sorted: bool = True


@dataclass(slots=True)
class _Addr:
    """The leases of one address, sorted by start; ``pmax[i]`` = max(ends[:i+1]).

    Times are in arrays (contiguous doubles): a bisection then touches one or two cache lines
    instead of one float object per probe.
    """

    starts: Any = field(default_factory=lambda: array("d"))
    ends: Any = field(default_factory=lambda: array("d"))
    pmax: Any = field(default_factory=lambda: array("d"))
    episodes: list[str] = field(default_factory=list)
    timelines: list[_Timeline | None] = field(default_factory=list)  # saves a dict lookup


@dataclass(slots=True)
class CorrelatorStats:
    """What the index holds."""

    trajectories: int = 0
    steps: int = 0
    untimed_steps: int = 0
    untimed_trajectories: int = 0
    leases: int = 0
    addresses: int = 0


class Correlator:
    """Index trajectories and leases, then attribute alerts to episodes, steps and tool calls.

    Add trajectories (:meth:`add_trajectory`, or :meth:`add_steps` for callers that hold step
    times only) and leases (:meth:`add_lease`, e.g. from :func:`load_sandbox_map`), then call
    :meth:`attribute` or :meth:`correlate`. Adding after the first attribution re-indexes.

    Args:
        skew: Clock difference tolerated between the alert's host and the runner (seconds).
        leases_from_metadata: Also make leases from ``metadata["sandbox_ip"]`` of added
            trajectories (the default when there is no sandbox map).
    """

    def __init__(self, skew: float = 2.0, *, leases_from_metadata: bool = True) -> None:
        if not math.isfinite(skew) or skew < 0:
            raise ValueError(f"skew must be a finite number >= 0, got {skew!r}")
        self.skew = float(skew)
        self.use_metadata = leases_from_metadata
        self.stats = CorrelatorStats()
        self._timelines: dict[str, _Timeline] = {}
        self._leases: dict[str, list[tuple[float, float, str]]] = {}
        self._by_ip: dict[str, _Addr] = {}
        self._lease_end: dict[str, float] = {}
        self._ready = False

    # ------------------------------------------------------------------ building

    def add_trajectory(self, trajectory: Trajectory) -> None:
        """Index a trajectory's step times (and its metadata leases, if enabled).

        Steps without a time (neither ``Step.ts`` nor a tool call ``ts``) cannot be placed and
        are counted in ``stats.untimed_steps``. Trajectories sharing an id are merged.
        """
        self.stats.trajectories += 1
        entries: list[tuple[float, float | None, int, CallIds]] = []
        for step in trajectory.steps:
            ts = step.ts
            timed = [(c.ts, c.id) for c in step.tool_calls if c.ts is not None]
            if ts is None and timed:
                ts = min(t for t, _ in timed)
            if ts is None or not math.isfinite(ts):
                self.stats.untimed_steps += 1
                continue
            calls: CallIds
            if len({t for t, _ in timed}) > 1:
                calls = tuple(sorted(timed))
            else:
                calls = step.tool_calls[0].id if step.tool_calls else ""
            entries.append((ts, step.end_ts, step.index, calls))
        if not entries:
            self.stats.untimed_trajectories += 1
            self._timelines.setdefault(trajectory.id, _Timeline())
        self.add_steps(trajectory.id, entries)
        if self.use_metadata:
            for lease in leases_from_metadata(trajectory):
                self.add_lease(lease)

    def add_steps(
        self, episode: str, steps: Iterable[tuple[float, float | None, int, CallIds]]
    ) -> None:
        """Index steps given as ``(start, end or None, step index, tool call id)``."""
        timeline = self._timelines.get(episode)
        if timeline is None:
            timeline = self._timelines[episode] = _Timeline()
        starts, ends = timeline.starts, timeline.ends
        last = starts[-1] if starts else -math.inf
        for start, end, index, calls in steps:
            if start < last:
                timeline.sorted = False
            last = start
            starts.append(start)
            ends.append(end if end is not None and end >= start and math.isfinite(end) else _NAN)
            timeline.guessed.append(0)
            timeline.indices.append(index)
            timeline.calls.append(calls)
            self.stats.steps += 1
        self._ready = False

    def add_lease(self, lease: Lease) -> None:
        """Record that ``lease.episode`` held ``lease.ip`` from ``lease.start`` to ``lease.end``."""
        self._leases.setdefault(lease.ip, []).append((lease.start, lease.end, lease.episode))
        previous = self._lease_end.get(lease.episode, -math.inf)
        self._lease_end[lease.episode] = max(previous, lease.end)
        self.stats.leases += 1
        self._ready = False

    @property
    def episodes(self) -> set[str]:
        """Ids of the indexed trajectories."""
        return set(self._timelines)

    def lease_episodes(self) -> set[str]:
        """Episodes named by leases."""
        return {e for leases in self._leases.values() for _, _, e in leases}

    def finish(self) -> None:
        """Sort the indexes (done on the first attribution; call it to time the build)."""
        if self._ready:
            return
        for episode, tl in self._timelines.items():
            if not tl.sorted:
                order = sorted(range(len(tl.starts)), key=tl.starts.__getitem__)
                tl.starts = array("d", (tl.starts[i] for i in order))
                tl.ends = array("d", (tl.ends[i] for i in order))
                tl.guessed = array("b", (tl.guessed[i] for i in order))
                tl.indices = array("q", (tl.indices[i] for i in order))
                tl.calls = [tl.calls[i] for i in order]
                tl.sorted = True
            self._fill_ends(tl, self._lease_end.get(episode, math.inf))
        self._by_ip = {}
        for ip, leases in self._leases.items():
            leases.sort()
            addr = _Addr()
            top = -math.inf
            for start, end, episode in leases:
                top = max(top, end)
                addr.starts.append(start)
                addr.ends.append(end)
                addr.pmax.append(top)
                addr.episodes.append(episode)
                addr.timelines.append(self._timelines.get(episode))
            self._by_ip[ip] = addr
        self.stats.addresses = len(self._by_ip)
        self._ready = True

    @staticmethod
    def _fill_ends(tl: _Timeline, lease_end: float) -> None:
        """A step without an end lasts until the next step starts (the last: the lease end)."""
        starts, ends, guessed = tl.starts, tl.ends, tl.guessed
        n = len(starts)
        for k in range(n):
            end = ends[k]
            if guessed[k] or end != end:  # no recorded end (NaN), or one guessed before
                ends[k] = starts[k + 1] if k + 1 < n else max(lease_end, starts[k])
                guessed[k] = 1

    # --------------------------------------------------------------- attributing

    def correlate(self, alerts: Iterable[ExternalAlert]) -> Iterator[Attribution]:
        """Attribute each alert (lazily, in order)."""
        self.finish()
        attribute = self.attribute
        for alert in alerts:
            yield attribute(alert)

    def attribute(self, alert: ExternalAlert) -> Attribution:
        """The episode, step and tool call ``alert`` most likely belongs to, with a confidence."""
        if not self._ready:
            self.finish()
        # The hot path of `correlate`: written for few Python calls per alert.
        by_ip = self._by_ip
        src_ip, dst_ip = alert.src_ip, alert.dst_ip
        addr = by_ip.get(src_ip)
        other = by_ip.get(dst_ip) if dst_ip != src_ip else None
        if addr is None:
            if other is None:
                return _new_attribution(alert=alert, trajectory_id=None, step=None,
                                        tool_call_id=None, confidence=0.0, reason="no-lease")
            addr, other, side, ip = other, None, "dst", dst_ip
        else:
            side, ip = "src", src_ip
        t = alert.ts
        skew = self.skew
        found: list[tuple[float, str, int, str, str, str]] = []
        low = t - skew
        starts, ends, pmax = addr.starts, addr.ends, addr.pmax
        i = bisect_right(starts, t + skew) - 1
        stop = i - MAX_LEASES_SCANNED
        while i > stop and i >= 0 and pmax[i] >= low:
            end = ends[i]
            if end >= low:
                found.append(self._score(addr.episodes[i], addr.timelines[i], starts[i], end,
                                         t, side, ip))
            i -= 1
        if other is not None:
            self._scan(other, t, "dst", dst_ip, found)
        if len(found) != 1:
            if not found:
                return _new_attribution(alert=alert, trajectory_id=None, step=None,
                                        tool_call_id=None, confidence=0.0, reason="no-lease")
            return self._ambiguous(alert, found)
        conf, episode, pos, reason, side, ip = found[0]
        if pos < 0:
            step: int | None = None
            call: str | None = None
        else:
            tl = self._timelines[episode]
            step = tl.indices[pos]
            calls = tl.calls[pos]
            call = (calls or None) if isinstance(calls, str) else self._call_at(calls, t)
        return _new_attribution(alert=alert, trajectory_id=episode, step=step,
                                tool_call_id=call, confidence=conf, reason=reason,
                                sandbox_ip=ip, side=side)

    def _scan(self, addr: _Addr, t: float, side: str, ip: str,
              found: list[tuple[float, str, int, str, str, str]]) -> None:
        """Score every lease of ``addr`` that holds ``t`` (within the skew) into ``found``."""
        low = t - self.skew
        starts, ends, pmax = addr.starts, addr.ends, addr.pmax
        i = bisect_right(starts, t + self.skew) - 1
        stop = i - MAX_LEASES_SCANNED
        while i > stop and i >= 0 and pmax[i] >= low:
            end = ends[i]
            if end >= low:
                found.append(self._score(addr.episodes[i], addr.timelines[i], starts[i], end,
                                         t, side, ip))
            i -= 1

    def _ambiguous(
        self, alert: ExternalAlert, found: list[tuple[float, str, int, str, str, str]]
    ) -> Attribution:
        found.sort(key=lambda f: -f[0])  # stable: src side and later leases first on ties
        total = sum(f[0] for f in found)
        conf, episode, pos, reason, side, ip = found[0]
        step, call = self._step(episode, pos, alert.ts)
        others = []
        for c, other, p, _, s, _ in found[1:]:
            if other == episode and p == pos:
                continue
            st, ca = self._step(other, p, alert.ts)
            others.append(Candidate(other, st, ca, c * c / total if total else 0.0, s))
        if others and total > 0:
            conf = conf * conf / total
            reason = "ambiguous-episodes"
        return _new_attribution(alert=alert, trajectory_id=episode, step=step, tool_call_id=call,
                                confidence=conf, reason=reason, sandbox_ip=ip, side=side,
                                also=tuple(others))

    def _score(
        self, episode: str, tl: _Timeline | None, lease_start: float, lease_end: float, t: float,
        side: str, ip: str,
    ) -> tuple[float, str, int, str, str, str]:
        """(confidence, episode, step position or -1, reason, side, ip) for one lease.

        Candidate steps are those whose window [start - skew, end + skew] holds ``t``. Each gets
        the likelihood of ``t`` if the alert happened at a uniform time inside the step and the
        clocks differ by a uniform amount within ±skew: the overlap of [t - skew, t + skew]
        with the step, divided by the step's length. The most likely step is chosen; the
        confidence is its share of the likelihood, times 1 - 0.5 * d / skew when ``t`` is ``d``
        seconds outside it (and again when ``t`` is outside the lease, within the skew).
        """
        skew = self.skew
        if tl is None:
            conf, best, reason = NO_TRAJECTORY, -1, "no-trajectory"
        elif not tl.starts:
            conf, best, reason = NO_TIMES, -1, "no-step-times"
        else:
            starts = tl.starts
            k = bisect_right(starts, t + skew) - 1
            if k < 0:
                conf, best, reason = BEFORE_FIRST, -1, "before-first-step"
            else:
                ends = tl.ends
                best, best_like, best_d, total, count = -1, -1.0, 0.0, 0.0, 0
                lo_t, hi_t = t - skew, t + skew
                j = k
                low = k - MAX_STEPS_SCANNED if k >= MAX_STEPS_SCANNED else -1
                while j > low:
                    s = starts[j]
                    e = ends[j]
                    d = s - t if t < s else t - e if t > e else 0.0
                    if d <= skew:
                        length = e - s
                        if length < MIN_STEP_S:
                            like = 1.0 / MIN_STEP_S
                        else:
                            overlap = (e if e < hi_t else hi_t) - (s if s > lo_t else lo_t)
                            like = (overlap if overlap > 0.0 else 0.0) / (
                                length if length < MAX_STEP_S else MAX_STEP_S)
                        total += like
                        count += 1
                        if like > best_like:
                            best, best_like, best_d = j, like, d
                    elif j < k:
                        break  # earlier steps end earlier still (windows rarely overlap)
                    j -= 1
                if best < 0:
                    conf, best, reason = AFTER_STEP, k, "after-step"
                else:
                    conf = 1.0 - 0.5 * best_d / skew if best_d > 0.0 else 1.0
                    if count == 1:
                        reason = "inside-step" if best_d == 0.0 else "skew-margin"
                    else:
                        conf *= best_like / total if total > 0.0 else 1.0 / count
                        reason = "ambiguous-steps"
        if t < lease_start:
            conf *= 1.0 - 0.5 * (lease_start - t) / skew
        elif t > lease_end:
            conf *= 1.0 - 0.5 * (t - lease_end) / skew
        return conf, episode, best, reason, side, ip

    def _step(self, episode: str, pos: int, t: float) -> tuple[int | None, str | None]:
        """(step index, tool call id) at position ``pos`` of the episode's timeline."""
        if pos < 0:
            return None, None
        tl = self._timelines[episode]
        calls = tl.calls[pos]
        if isinstance(calls, str):
            return tl.indices[pos], calls or None
        return tl.indices[pos], self._call_at(calls, t)

    def _call_at(self, calls: tuple[tuple[float, str], ...], t: float) -> str | None:
        """The last call started by ``t`` (within the skew), else the first."""
        chosen = calls[0][1]
        for ts, call_id in calls:
            if ts <= t + self.skew:
                chosen = call_id
        return chosen or None
