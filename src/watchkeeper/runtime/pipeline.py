"""Detection for one sandbox: the compiled Sigma rules plus the stateful detectors.

Every event goes to the Sigma :class:`~watchkeeper.detect.Engine` (the same builtin rules as
``watchkeeper audit``: ``process_creation``, ``network_connection``, ``dns``, ``file_event``) and to
the behavioural detectors that keep state per sandbox: stratum, ssh, fan-out, metadata (network),
revshell (process + network), exfil (file + network), cpu (resource samples) and gpu (GPU events,
plus stratum flows and stratum alerts as network evidence). The engine is shared (it is
stateless); the detectors belong to one sandbox.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from watchkeeper.alerts import Alert
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.canary.detector import RULE_IDS as CANARY_IDS
from watchkeeper.detect import Engine
from watchkeeper.detect.detectors import FanoutConfig, network_detectors
from watchkeeper.detect.detectors import cpu as cpu_mod
from watchkeeper.detect.detectors import exfil as exfil_mod
from watchkeeper.detect.detectors import fanout as fanout_mod
from watchkeeper.detect.detectors import gpu as gpu_mod
from watchkeeper.detect.detectors import metadata as metadata_mod
from watchkeeper.detect.detectors import revshell as revshell_mod
from watchkeeper.detect.detectors import ssh as ssh_mod
from watchkeeper.detect.detectors import stratum as stratum_mod
from watchkeeper.detect.detectors.cpu import CpuDetector
from watchkeeper.detect.detectors.exfil import ExfilDetector
from watchkeeper.detect.detectors.gpu import GpuDetector, GpuDetectorConfig, GpuPolicy
from watchkeeper.detect.detectors.revshell import RevshellDetector
from watchkeeper.events import Event, GpuEvent, NetworkEvent, ResourceSample
from watchkeeper.rules import RuleSet, load_rules

RULE_SENSOR_LOSS = "watchkeeper:sensor-loss"
"""Alert id: a sensor lost events (the view of the sandbox is incomplete)."""
RULE_SENSOR_FAILED = "watchkeeper:sensor-failed"
"""Alert id: a sensor or the monitor stopped; the sandbox was frozen or killed (fail closed)."""

DETECTOR_IDS: tuple[str, ...] = (
    stratum_mod.RULE_ID,
    ssh_mod.RULE_SSH,
    ssh_mod.RULE_REVERSE,
    ssh_mod.RULE_TUNNEL,
    fanout_mod.RULE_PORTSCAN,
    fanout_mod.RULE_HOSTSWEEP,
    fanout_mod.RULE_FAILURES,
    metadata_mod.RULE_ID,
    metadata_mod.RULE_CREDENTIALS,
    revshell_mod.RULE_ID,
    exfil_mod.RULE_ID,
    cpu_mod.RULE_ID,
    gpu_mod.RULE_UNGRANTED,
    gpu_mod.RULE_UNDECLARED,
    gpu_mod.RULE_MINING,
    *CANARY_IDS,
    RULE_SENSOR_LOSS,
    RULE_SENSOR_FAILED,
)
"""Every non-Sigma alert id the live runtime can raise (for policy checks)."""


@functools.cache
def builtin_rules() -> RuleSet:
    """The builtin rule pack, loaded once per process."""
    return load_rules((), builtin=True)


@functools.cache
def builtin_engine() -> Engine:
    """An engine over the builtin rule pack, compiled once per process."""
    return Engine.from_ruleset(builtin_rules())


def engine_for(rule_paths: Sequence[str] = ()) -> tuple[Engine, RuleSet]:
    """The engine for the builtin pack plus ``rule_paths`` (the builtin one is cached)."""
    if not rule_paths:
        return builtin_engine(), builtin_rules()
    ruleset = load_rules(rule_paths, builtin=True)
    return Engine.from_ruleset(ruleset), ruleset


def known_rule_ids(ruleset: RuleSet) -> set[str]:
    """Rule ids a policy may name: the rules of ``ruleset`` and every detector."""
    return {r.id for r in ruleset.rules} | set(DETECTOR_IDS)


class Detector(Protocol):
    """A stateful detector: one event in, its alerts out (canaries, plugins)."""

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event."""
        ...


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Per-sandbox detector settings.

    Attributes:
        declared_workload: Image globs whose CPU use is expected (``python*``, ``make``...).
        ssh_allow: Peers SSH may go to (addresses, networks, names).
        exfil_allow: Destinations uploads may go to without counting as exfiltration.
        canaries: Exact paths of planted canary files.
        fanout: Fan-out thresholds (None: the detector's defaults).
        detectors: Extra detectors run on every event (the canary detector).
        gpu_policy: The sandbox's GPU grant and declared GPU workload (default: no grant, so
            any GPU use in the sandbox is ungranted).
        gpu: GPU detector thresholds (None: the detector's defaults).
    """

    declared_workload: tuple[str, ...] = ()
    ssh_allow: tuple[str, ...] = ()
    exfil_allow: tuple[str, ...] = ()
    canaries: tuple[str, ...] = ()
    fanout: FanoutConfig | None = None
    detectors: tuple[Detector, ...] = ()
    gpu_policy: GpuPolicy = field(default_factory=GpuPolicy)
    gpu: GpuDetectorConfig | None = None


class Pipeline:
    """Sigma engine + stateful detectors of one sandbox.

    Args:
        engine: The compiled rules (shared between sandboxes).
        lineage: Process lineage (the CPU detector walks ancestors of declared roots).
        config: Detector settings.
    """

    def __init__(self, engine: Engine, lineage: Lineage, config: PipelineConfig) -> None:
        self.engine = engine
        self.network = network_detectors(allow_ssh=config.ssh_allow, fanout=config.fanout)
        self.revshell = RevshellDetector()
        self.exfil = ExfilDetector(allowlist=config.exfil_allow, canaries=config.canaries)
        self.cpu = CpuDetector(
            declared_images=config.declared_workload, ancestry=lineage.ancestors
        )
        self.gpu = GpuDetector(config.gpu_policy, config.gpu)
        self.extra = config.detectors

    def detect(self, item: Event | ResourceSample) -> list[Alert]:
        """Alerts for one event or resource sample."""
        if isinstance(item, ResourceSample):
            return self.cpu.observe(item)
        if isinstance(item, GpuEvent):
            return self.gpu.observe(item)
        alerts = self.engine.alerts(item)
        if item.category in ("network_connection", "dns"):
            for detector in self.network:
                alerts += detector.observe(item)
            if isinstance(item, NetworkEvent) and item.app_protocol == "stratum":
                alerts += self.gpu.observe(item)
        if item.category in ("process_creation", "network_connection"):
            alerts += self.revshell.observe(item)
        if item.category in ("file_event", "network_connection"):
            alerts += self.exfil.observe(item)
        for extra in self.extra:
            alerts += extra.observe(item)
        for alert in list(alerts):
            if alert.rule_id == stratum_mod.RULE_ID:  # network evidence for the GPU rules
                alerts += self.gpu.observe(alert)
        return alerts

    def tick(self) -> list[Alert]:
        """Time-driven checks (revshell re-checks); call periodically."""
        return self.revshell.poll()

    def declare_gpu(self, sandbox_id: str, pid: int) -> None:
        """Make ``pid`` (and its descendants) part of the sandbox's declared GPU workload."""
        policy = self.gpu.policy
        declared = dict(policy.declared)
        declared[sandbox_id] = declared.get(sandbox_id, frozenset()) | {pid}
        self.gpu.policy = replace(policy, declared=declared)

    def declare(self, patterns: Iterable[str]) -> None:
        """Add image globs to the declared workload."""
        for pattern in patterns:
            self.cpu.declare(image=pattern)
