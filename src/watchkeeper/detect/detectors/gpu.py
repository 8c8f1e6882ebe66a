"""GPU hijacking detectors (ATT&CK T1496 Resource Hijacking, T1496.001 Compute Hijacking).

Three rules over the GPU sensor's per-process events:

``detector:gpu-ungranted`` (critical)
    A process holds a GPU context or runs kernels on a device its sandbox was not granted.
``detector:gpu-undeclared`` (high)
    In a sandbox that declared its GPU workload (root pids), a process outside that process tree
    keeps a mean SM use at or above ``sm_high`` over the last ``sustain_s``.
``detector:gpu-mining-profile`` (high; critical with network evidence)
    Over ``window_s``: compute-saturated (mean SM >= ``sm_min``), steady (coefficient of
    variation <= ``cv_max``) and without the dips that data loading, evaluation and checkpoints
    put into training (fraction of samples under half the median <= ``dip_max``). The memory/SM
    ratio is reported but not used: it was ~0.7 for both a bf16 matmul loop and an integer hash
    loop on an H200. Low PCIe traffic, a process outside the declared tree, a known miner binary
    name and a stratum flow from the same sandbox (a NetworkEvent with app_protocol "stratum" or
    an Alert "detector:stratum") raise the confidence. A steady profile inside the declared
    workload alone is not reported: NVML cannot tell a steady trainer from a miner; a stratum flow
    or a miner binary name is needed there.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import cast

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import GpuEvent, NetworkEvent
from watchkeeper.sandbox.gpu import GpuGrant

RULE_UNGRANTED = "detector:gpu-ungranted"
RULE_UNDECLARED = "detector:gpu-undeclared"
RULE_MINING = "detector:gpu-mining-profile"
ATTACK = ("T1496", "T1496.001")

# Miner executable names, from the Falco rules' "miner_binaries" list
# (github.com/falcosecurity/rules, rules/falco-sandbox_rules.yaml; Apache-2.0).
MINER_BINARIES = frozenset(
    "xmrig xmr-stak minerd minergate cpuminer ccminer ethminer cgminer bfgminer sgminer claymore "
    "nbminer t-rex gminer lolminer phoenixminer teamredminer nanominer bminer wildrig srbminer".split()
)
_MAX_TRACKED = 4096
_MAX_SAMPLES = 4096
_MAX_FIRED = 65536


@dataclass(frozen=True, slots=True)
class GpuPolicy:
    """Which sandboxes may use which GPUs, and what their declared GPU workload is.

    Attributes:
        grants: sandbox id -> grant. A sandbox missing here has no grant.
        declared: sandbox id -> root pids of its declared GPU workload (a trainer); the
            workload is those pids and their descendants.
        host_grant: The grant of processes in no sandbox (sandbox id ""). The default (none)
            reports them, with lower severity and confidence; use ``GpuGrant.all()`` on hosts
            that run their own GPU jobs.
    """

    grants: Mapping[str, GpuGrant] = field(default_factory=dict)
    declared: Mapping[str, frozenset[int]] = field(default_factory=dict)
    host_grant: GpuGrant = field(default_factory=GpuGrant.none)

    def grant_of(self, sandbox_id: str) -> GpuGrant:
        """The grant of a sandbox (``host_grant`` for "")."""
        if not sandbox_id:
            return self.host_grant
        return self.grants.get(sandbox_id, GpuGrant.none())

    def is_declared(self, sandbox_id: str, pid: int | None, ancestors: tuple[int, ...]) -> bool:
        """True when the process is in its sandbox's declared workload tree."""
        roots = self.declared.get(sandbox_id)
        if not roots or pid is None:
            return False
        return pid in roots or any(a in roots for a in ancestors)


@dataclass(frozen=True, slots=True)
class GpuDetectorConfig:
    """Thresholds (defaults chosen on the scripted labelled set; see docs/gpu.md).

    Attributes:
        sm_high: Mean SM % over ``sustain_s`` that counts as sustained high use (undeclared rule).
        sustain_s: The undeclared rule's window.
        window_s: The mining-profile window.
        min_samples: Samples needed in the window before the profile is judged.
        sm_min: Mean SM % for "compute-saturated".
        cv_max: Largest coefficient of variation of SM % for "steady".
        dip_ratio: A sample under ``dip_ratio`` * median SM % is a dip.
        dip_max: Largest fraction of dips for "no training phases".
        idle_gap_s: A process that keeps its context but has no sample for this long counts
            as idle (a dip at 0 %): NVML has no sample for a process that ran no kernel.
        pcie_low_kbps: Device PCIe TX+RX (KB/s) under which transfers count as "little".
        network_window_s: How long a stratum flow counts as evidence for its sandbox.
    """

    sm_high: float = 50.0
    sustain_s: float = 10.0
    window_s: float = 60.0
    min_samples: int = 30
    sm_min: float = 40.0
    cv_max: float = 0.08
    dip_ratio: float = 0.5
    dip_max: float = 0.02
    idle_gap_s: float = 2.5
    pcie_low_kbps: float = 100_000.0
    network_window_s: float = 900.0


@dataclass(frozen=True, slots=True)
class MiningFeatures:
    """The mining-profile features of one process on one device over the window.

    Attributes:
        samples: Samples in the window.
        duration_s: Seconds the window covers.
        sm_mean / sm_cv: Mean SM % and its coefficient of variation.
        dip_fraction: Fraction of samples under ``dip_ratio`` * median.
        mem_mean: Mean memory %.
        mem_sm_ratio: mem_mean / sm_mean (reported only; not discriminative).
        pcie_kbps: Mean device PCIe TX+RX over the window (None: no counter).
    """

    samples: int
    duration_s: float
    sm_mean: float
    sm_cv: float
    dip_fraction: float
    mem_mean: float
    mem_sm_ratio: float
    pcie_kbps: float | None

    def steady_saturated(self, config: GpuDetectorConfig) -> bool:
        """True when the profile is compute-saturated, steady and without training dips."""
        return (
            self.samples >= config.min_samples
            and self.duration_s >= 0.8 * config.window_s
            and self.sm_mean >= config.sm_min
            and self.sm_cv <= config.cv_max
            and self.dip_fraction <= config.dip_max
        )


@dataclass(slots=True)
class _Track:
    samples: deque[tuple[float, float, float]] = field(
        default_factory=lambda: deque(maxlen=_MAX_SAMPLES)
    )
    first_ts: float | None = None
    last_sample_ts: float | None = None
    last: GpuEvent | None = None


class GpuDetector:
    """Observes GPU events (plus network evidence) and returns alerts.

    Args:
        policy: Grants and declared workloads.
        config: Thresholds.
    """

    name = "gpu"

    def __init__(self, policy: GpuPolicy, config: GpuDetectorConfig | None = None) -> None:
        self.policy = policy
        self.config = config or GpuDetectorConfig()
        self._tracks: OrderedDict[tuple[int, int], _Track] = OrderedDict()
        self._pcie: dict[int, deque[tuple[float, float]]] = {}
        self._stratum: dict[str, tuple[float, Evidence]] = {}
        self._fired: OrderedDict[tuple[str, int, int, bool], None] = OrderedDict()

    # --- input --------------------------------------------------------------------------

    def observe(self, item: object) -> list[Alert]:
        """Take one GPU event, network event or alert; return the alerts it triggers.

        Anything else is ignored. Stratum evidence (a NetworkEvent with app_protocol
        "stratum" or an Alert "detector:stratum") is remembered per sandbox.
        """
        if isinstance(item, GpuEvent):
            if item.activity == "device":
                self._on_device(item)
                return []
            return self._on_process(item)
        if isinstance(item, NetworkEvent) and item.app_protocol == "stratum":
            return self._on_stratum(item.sandbox_id, item.ts, _net_evidence(item))
        if isinstance(item, Alert) and item.rule_id == "detector:stratum":
            evidence = item.evidence[0] if item.evidence else None
            return self._on_stratum(item.sandbox_id, item.ts, evidence)
        return []

    def flush(self) -> list[Alert]:
        """Nothing is pending between events: every rule is judged as events arrive."""
        return []

    def features(self, pid: int, device_index: int) -> MiningFeatures | None:
        """The current mining-profile features of a process on a device (None: not tracked)."""
        track = self._tracks.get((pid, device_index))
        if track is None or not track.samples:
            return None
        return self._features(track, device_index, track.samples[-1][0])

    # --- rules --------------------------------------------------------------------------

    def _on_process(self, event: GpuEvent) -> list[Alert]:
        if event.pid is None:
            return []
        alerts: list[Alert] = []
        sandbox = event.sandbox_id
        grant = self.policy.grant_of(sandbox)
        if not grant.allows(event.device_index, event.device_uuid):
            alert = self._ungranted(event)
            if alert is not None:
                alerts.append(alert)
        track = self._track(event)
        cfg = self.config
        if event.samples > 0 and event.sm_util is not None:
            track.samples.append((event.ts, event.sm_util, event.mem_util or 0.0))
            track.last_sample_ts = event.ts
        elif track.last_sample_ts is not None and event.ts - track.last_sample_ts >= cfg.idle_gap_s:
            track.samples.append((event.ts, 0.0, 0.0))  # context held, no kernel: idle
            track.last_sample_ts = event.ts
        while track.samples and track.samples[0][0] < event.ts - cfg.window_s:
            track.samples.popleft()
        declared = self.policy.is_declared(sandbox, event.pid, event.ancestors)
        alert = self._undeclared(event, track, declared)
        if alert is not None:
            alerts.append(alert)
        alert = self._mining(event, track, declared)
        if alert is not None:
            alerts.append(alert)
        return alerts

    def _ungranted(self, event: GpuEvent) -> Alert | None:
        pid = cast(int, event.pid)
        if not self._first((RULE_UNGRANTED, pid, event.device_index, False)):
            return None
        in_sandbox = bool(event.sandbox_id)
        stratum = self._stratum_evidence(event.sandbox_id, event.ts)
        where = f"sandbox {event.sandbox_id}" if in_sandbox else "a process outside any sandbox"
        return self._alert(
            RULE_UNGRANTED,
            f"GPU {event.device_index} used by {where} without a grant",
            Severity.CRITICAL if in_sandbox else Severity.HIGH,
            (1.0 if stratum else 0.9) if in_sandbox else 0.6,
            event,
            None,
            stratum,
            f"pid {pid} ({_name(event)}) holds a context on GPU {event.device_index} "
            f"({event.device_name}) that the policy does not grant to {where}.",
        )

    def _undeclared(self, event: GpuEvent, track: _Track, declared: bool) -> Alert | None:
        cfg = self.config
        if declared or not self.policy.declared.get(event.sandbox_id) or not track.samples:
            return None
        since = event.ts - cfg.sustain_s
        if track.samples[0][0] > since + 0.5:
            return None  # not watched for long enough yet
        recent = [sm for ts, sm, _ in track.samples if ts >= since]
        if len(recent) < max(2, int(cfg.sustain_s / 2)) or statistics.fmean(recent) < cfg.sm_high:
            return None
        pid = cast(int, event.pid)
        if not self._first((RULE_UNDECLARED, pid, event.device_index, False)):
            return None
        feats = self._features(track, event.device_index, event.ts)
        return self._alert(
            RULE_UNDECLARED,
            f"Sustained GPU use outside the declared workload in sandbox {event.sandbox_id}",
            Severity.HIGH,
            0.8,
            event,
            feats,
            self._stratum_evidence(event.sandbox_id, event.ts),
            f"pid {pid} ({_name(event)}) kept a mean SM use of "
            f"{statistics.fmean(recent):.0f}% (>= {cfg.sm_high:g}%) on GPU {event.device_index} "
            f"for {cfg.sustain_s:g} s and is not in the declared workload's process tree.",
        )

    def _mining(self, event: GpuEvent, track: _Track, declared: bool) -> Alert | None:
        cfg = self.config
        if not track.samples:
            return None
        feats = self._features(track, event.device_index, event.ts)
        if not feats.steady_saturated(cfg):
            return None
        stratum = self._stratum_evidence(event.sandbox_id, event.ts)
        miner_name = _is_miner(event)
        if declared and stratum is None and not miner_name:
            return None
        pid = cast(int, event.pid)
        if not self._first((RULE_MINING, pid, event.device_index, stratum is not None)):
            return None
        confidence = 0.5
        reasons = [
            f"steady SM use (mean {feats.sm_mean:.0f}%, CV {feats.sm_cv:.3f}) for "
            f"{feats.duration_s:.0f} s with {feats.dip_fraction:.0%} dips"
        ]
        if feats.pcie_kbps is not None and feats.pcie_kbps <= cfg.pcie_low_kbps:
            confidence += 0.1
            reasons.append(f"little PCIe traffic ({feats.pcie_kbps / 1000:.1f} MB/s)")
        if not declared:
            confidence += 0.15
            reasons.append("not the declared workload")
        if miner_name:
            confidence += 0.15
            reasons.append(f"miner binary name {os.path.basename(event.image)!r}")
        if stratum is not None:
            confidence = max(confidence, 0.9) + 0.05
            reasons.append("a stratum flow from the same sandbox")
        return self._alert(
            RULE_MINING,
            f"Mining-like GPU profile on GPU {event.device_index}"
            + (f" in sandbox {event.sandbox_id}" if event.sandbox_id else ""),
            Severity.CRITICAL if stratum is not None else Severity.HIGH,
            min(confidence, 1.0),
            event,
            feats,
            stratum,
            f"pid {pid} ({_name(event)}): " + "; ".join(reasons) + ".",
        )

    def _on_stratum(self, sandbox_id: str, ts: float, evidence: Evidence | None) -> list[Alert]:
        if not sandbox_id or evidence is None:
            return []
        self._stratum[sandbox_id] = (ts, evidence)
        if len(self._stratum) > _MAX_TRACKED:
            self._stratum.pop(next(iter(self._stratum)))
        alerts: list[Alert] = []
        for track in list(self._tracks.values()):
            last = track.last
            if last is None or last.sandbox_id != sandbox_id:
                continue
            declared = self.policy.is_declared(sandbox_id, last.pid, last.ancestors)
            at = max(last.ts, ts)
            alert = self._mining(_at(last, at), track, declared)
            if alert is not None:
                alerts.append(alert)
        return alerts

    # --- helpers ------------------------------------------------------------------------

    def _features(self, track: _Track, device_index: int, now: float) -> MiningFeatures:
        cfg = self.config
        sms = [s[1] for s in track.samples]
        mems = [s[2] for s in track.samples]
        mean = statistics.fmean(sms)
        cv = statistics.pstdev(sms) / mean if mean > 0 else math.inf
        median = statistics.median(sms)
        dips = sum(1 for v in sms if v < cfg.dip_ratio * median) / len(sms)
        mem_mean = statistics.fmean(mems)
        pcie = self._pcie.get(device_index)
        start = track.samples[0][0]
        window = [v for t, v in pcie if t >= start] if pcie else []
        return MiningFeatures(
            samples=len(sms),
            duration_s=track.samples[-1][0] - start,
            sm_mean=mean,
            sm_cv=cv,
            dip_fraction=dips,
            mem_mean=mem_mean,
            mem_sm_ratio=mem_mean / mean if mean > 0 else 0.0,
            pcie_kbps=statistics.fmean(window) if window else None,
        )

    def _on_device(self, event: GpuEvent) -> None:
        if event.pcie_tx_kbps is None and event.pcie_rx_kbps is None:
            return
        series = self._pcie.setdefault(event.device_index, deque(maxlen=_MAX_SAMPLES))
        series.append((event.ts, float((event.pcie_tx_kbps or 0) + (event.pcie_rx_kbps or 0))))
        while series and series[0][0] < event.ts - 2 * self.config.window_s:
            series.popleft()
        if len(self._pcie) > 256:
            self._pcie.pop(next(iter(self._pcie)))

    def _track(self, event: GpuEvent) -> _Track:
        key = (cast(int, event.pid), event.device_index)
        track = self._tracks.get(key)
        if track is None or (track.last is not None and track.last.sandbox_id != event.sandbox_id):
            track = self._tracks[key] = _Track(first_ts=event.ts)  # new process (or pid reused)
        self._tracks.move_to_end(key)
        if len(self._tracks) > _MAX_TRACKED:
            self._tracks.popitem(last=False)
        track.last = event
        return track

    def _stratum_evidence(self, sandbox_id: str, now: float) -> Evidence | None:
        found = self._stratum.get(sandbox_id) if sandbox_id else None
        if found is None or now - found[0] > self.config.network_window_s:
            return None
        return found[1]

    def _first(self, key: tuple[str, int, int, bool]) -> bool:
        if key in self._fired:
            return False
        self._fired[key] = None
        if len(self._fired) > _MAX_FIRED:
            self._fired.popitem(last=False)
        return True

    def _alert(
        self,
        rule_id: str,
        title: str,
        severity: Severity,
        confidence: float,
        event: GpuEvent,
        feats: MiningFeatures | None,
        stratum: Evidence | None,
        description: str,
    ) -> Alert:
        track = self._tracks.get((cast(int, event.pid), event.device_index))
        first = track.first_ts if track and track.first_ts is not None else event.ts
        evidence = gpu_evidence(event, event.ts - first, feats)
        if stratum is not None:
            evidence += (stratum,)
        return Alert(
            rule_id=rule_id,
            title=title,
            severity=severity,
            attack=ATTACK,
            confidence=round(confidence, 3),
            evidence=evidence,
            description=description,
            ts=event.ts,
            run_id=event.run_id,
            episode_id=event.episode_id,
            step=event.step,
            tool_call_id=event.tool_call_id,
            sandbox_id=event.sandbox_id,
            rule_source="detector",
            references=("https://attack.mitre.org/techniques/T1496/001/",),
            tags=("gpu", f"pid:{event.pid}", f"device:{event.device_index}"),
        )


def gpu_evidence(
    event: GpuEvent, duration_s: float, feats: MiningFeatures | None = None
) -> tuple[Evidence, ...]:
    """Evidence entries for a GPU alert: device, pid, SM %, memory %, duration, sandbox, step."""
    sm = feats.sm_mean if feats else event.sm_util
    mem = feats.mem_mean if feats else event.mem_util
    pairs = [
        ("gpu.device", f"{event.device_index} {event.device_uuid} {event.device_name}".strip()),
        ("gpu.pid", f"{event.pid} {event.image}".strip()),
        ("gpu.sm_util", "" if sm is None else f"{sm:.1f}"),
        ("gpu.mem_util", "" if mem is None else f"{mem:.1f}"),
        ("gpu.used_memory", "" if event.used_memory is None else str(event.used_memory)),
        ("gpu.duration_s", f"{duration_s:.1f}"),
        ("sandbox", event.sandbox_id),
        ("step", "" if event.step is None else str(event.step)),
    ]
    if feats is not None:
        pairs += [
            ("gpu.sm_cv", f"{feats.sm_cv:.4f}"),
            ("gpu.dip_fraction", f"{feats.dip_fraction:.3f}"),
            ("gpu.mem_sm_ratio", f"{feats.mem_sm_ratio:.2f}"),
            ("gpu.pcie_kbps", "" if feats.pcie_kbps is None else f"{feats.pcie_kbps:.0f}"),
        ]
    return tuple(Evidence(event=event, field=k, text=v) for k, v in pairs)


def _net_evidence(event: NetworkEvent) -> Evidence:
    target = f"{event.dst_ip}:{event.dst_port}" if event.dst_port is not None else event.dst_ip
    return Evidence(event=event, field="app_protocol", text=f"stratum {target}".strip())


def _at(event: GpuEvent, ts: float) -> GpuEvent:
    return replace(event, ts=ts) if ts != event.ts else event


def _is_miner(event: GpuEvent) -> bool:
    name = os.path.basename(event.image).lower()
    return name in MINER_BINARIES


def _name(event: GpuEvent) -> str:
    return os.path.basename(event.image) or "unknown image"
