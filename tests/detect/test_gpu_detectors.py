"""GPU hijacking detectors on scripted traces, run through the fake NVML and the real sensor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors.gpu import (
    RULE_MINING,
    RULE_UNDECLARED,
    RULE_UNGRANTED,
    GpuDetector,
    GpuDetectorConfig,
    GpuPolicy,
)
from watchkeeper.events import NetworkEvent
from watchkeeper.sandbox.gpu import GpuGrant
from watchkeeper.sensors.gpu import GpuSensor, StaticAttributor
from watchkeeper.testing.fake_nvml import (
    FakeDevice,
    FakeNvml,
    FakeProcess,
    ManualClock,
    Pcie,
    Phased,
    Profile,
    Scenario,
    Steady,
    expand_labelled_set,
    load_trace,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "gpu"
TRAINER, ROGUE = 1000, 2000


@dataclass
class Run:
    alerts: list[tuple[float, Alert]]  # (seconds since start, alert)
    detector: GpuDetector

    def rules(self, pid: int | None = None) -> set[str]:
        return {a.rule_id for _, a in self.alerts if pid is None or f"pid:{pid}" in a.tags}

    def first(self, rule: str) -> tuple[float, Alert] | None:
        return next(((t, a) for t, a in self.alerts if a.rule_id == rule), None)


def run(
    procs: Sequence[tuple[FakeProcess, str]],
    policy: GpuPolicy,
    seconds: int = 120,
    *,
    pcie: Pcie | None = None,
    stratum: dict[int, NetworkEvent | Alert] | None = None,
    config: GpuDetectorConfig | None = None,
) -> Run:
    """Poll the fake once a second for ``seconds`` s and feed the detector."""
    clock = ManualClock()
    device = FakeDevice(0, [p for p, _ in procs], pcie=pcie or Pcie())
    nvml = FakeNvml([device], clock=clock)
    sensor = GpuSensor(
        nvml,
        clock=clock,
        proc_root="/nonexistent",
        attributor=StaticAttributor({p.pid: s for p, s in procs}),
    )
    detector = GpuDetector(policy, config)
    out: list[tuple[float, Alert]] = []
    for second in range(seconds + 1):
        item = (stratum or {}).get(second)
        if item is not None:
            out += [(second, a) for a in detector.observe(item)]
        for event in sensor.poll_once():
            out += [(second, a) for a in detector.observe(event)]
        clock.advance(1.0)
    assert sensor.stats().errors == 0
    return Run(out, detector)


def stratum_flow(sandbox: str, at: float) -> NetworkEvent:
    return NetworkEvent(
        ts=1_700_000_000.0 + at,
        sandbox_id=sandbox,
        app_protocol="stratum",
        dst_ip="127.0.0.1",
        dst_port=3333,
        source="net",
    )


GRANTED = GpuPolicy(grants={"train": GpuGrant.of(0)}, declared={"train": frozenset({TRAINER})})
TRAINING = Phased(92.0, noise=4.0, period_s=30.0, dip_s=3.0, dip_level=5.0, seed=1)
MINING = Steady(98.0, noise=0.8, seed=2)


def test_ungranted_sandbox_alerts_at_first_sight() -> None:
    result = run(
        [(FakeProcess(TRAINER, TRAINING), "train"), (FakeProcess(ROGUE, MINING), "other")],
        GRANTED,
        20,
    )
    found = result.first(RULE_UNGRANTED)
    assert found is not None
    at, alert = found
    assert at <= 1.0
    assert alert.severity is Severity.CRITICAL and alert.attack == ("T1496", "T1496.001")
    assert alert.sandbox_id == "other" and "pid:2000" in alert.tags
    fields = {e.field: e.text for e in alert.evidence}
    assert fields["gpu.pid"] == "2000" and fields["sandbox"] == "other"
    assert fields["gpu.device"].startswith("0 GPU-") and float(fields["gpu.sm_util"]) > 90
    assert "gpu.duration_s" in fields and "step" in fields
    assert json.dumps(alert.to_dict())  # serialisable
    assert result.rules(TRAINER) == set()
    assert [a.rule_id for _, a in result.alerts].count(RULE_UNGRANTED) == 1  # deduplicated


def test_holding_a_context_is_enough_for_ungranted() -> None:
    idle = Phased(90.0, period_s=1000.0, dip_s=1000.0, dip_level=0.0)
    result = run([(FakeProcess(ROGUE, idle), "other")], GRANTED, 3)
    assert result.rules(ROGUE) == {RULE_UNGRANTED}


def test_uuid_grant_is_honoured() -> None:
    policy = GpuPolicy(grants={"s": GpuGrant.of("GPU-00000000-0000-0000-0000-000000000000")})
    assert run([(FakeProcess(ROGUE, TRAINING), "s")], policy, 5).alerts == []


def test_declared_training_is_quiet() -> None:
    result = run([(FakeProcess(TRAINER, TRAINING), "train")], GRANTED, 150)
    assert result.alerts == []


def test_steady_undeclared_process_is_undeclared_then_mining() -> None:
    result = run(
        [(FakeProcess(TRAINER, TRAINING), "train"), (FakeProcess(ROGUE, MINING), "train")],
        GRANTED,
        120,
        pcie=Pcie(20, 20),
    )
    assert result.rules(TRAINER) == set()
    undeclared = result.first(RULE_UNDECLARED)
    mining = result.first(RULE_MINING)
    assert undeclared is not None and 9 <= undeclared[0] <= 12
    assert undeclared[1].severity is Severity.HIGH
    assert mining is not None and 45 <= mining[0] <= 65
    assert mining[1].severity is Severity.HIGH and 0.7 <= mining[1].confidence < 0.9
    assert "little PCIe traffic" in mining[1].description
    feats = result.detector.features(ROGUE, 0)
    assert feats is not None and feats.sm_cv < 0.02 and feats.dip_fraction == 0.0
    assert 0.6 < feats.mem_sm_ratio < 0.8


def test_phased_undeclared_process_is_undeclared_but_not_mining() -> None:
    other = Phased(90.0, noise=3.0, period_s=25.0, dip_s=3.0, dip_level=0.0, offset_s=7.0, seed=3)
    result = run(
        [(FakeProcess(TRAINER, TRAINING), "train"), (FakeProcess(ROGUE, other), "train")],
        GRANTED,
        150,
    )
    assert result.rules(ROGUE) == {RULE_UNDECLARED}
    feats = result.detector.features(ROGUE, 0)
    assert feats is not None and feats.dip_fraction > 0.02  # idle gaps count as dips


def test_steady_declared_workload_needs_network_evidence() -> None:
    smooth = Steady(97.0, noise=1.0, seed=4)
    quiet = run([(FakeProcess(TRAINER, smooth), "train")], GRANTED, 120)
    assert quiet.alerts == []
    loud = run(
        [(FakeProcess(TRAINER, smooth), "train")],
        GRANTED,
        120,
        stratum={30: stratum_flow("train", 30)},
    )
    found = loud.first(RULE_MINING)
    assert found is not None and 45 <= found[0] <= 65
    assert found[1].severity is Severity.CRITICAL and found[1].confidence >= 0.9
    assert any(e.field == "app_protocol" for e in found[1].evidence)


def test_stratum_alert_after_the_profile_raises_at_once() -> None:
    smooth = Steady(97.0, noise=1.0, seed=5)
    stratum_alert = Alert(  # no evidence attached: nothing to show, ignored
        rule_id="detector:stratum",
        title="stratum",
        severity=Severity.HIGH,
        sandbox_id="train",
        ts=1_700_000_000.0 + 100,
        evidence=(),
    )
    ignored = run(
        [(FakeProcess(TRAINER, smooth), "train")], GRANTED, 110, stratum={100: stratum_alert}
    )
    assert ignored.alerts == []
    flow = stratum_flow("train", 100)
    with_evidence = Alert(
        rule_id="detector:stratum",
        title="stratum",
        severity=Severity.HIGH,
        sandbox_id="train",
        ts=flow.ts,
        evidence=(Evidence(event=flow, field="app_protocol", text="stratum"),),
    )
    result = run(
        [(FakeProcess(TRAINER, smooth), "train")], GRANTED, 110, stratum={100: with_evidence}
    )
    found = result.first(RULE_MINING)
    assert found is not None and found[0] == 100
    assert found[1].severity is Severity.CRITICAL


def test_stratum_from_another_sandbox_does_not_count() -> None:
    smooth = Steady(97.0, noise=1.0, seed=6)
    result = run(
        [(FakeProcess(TRAINER, smooth), "train")],
        GRANTED,
        120,
        stratum={10: stratum_flow("elsewhere", 10)},
    )
    assert result.alerts == []


def test_host_process_policy() -> None:
    strict = run([(FakeProcess(ROGUE, TRAINING), "")], GpuPolicy(), 3)
    (alert,) = [a for _, a in strict.alerts]
    assert alert.rule_id == RULE_UNGRANTED and alert.severity is Severity.HIGH
    assert alert.confidence == 0.6
    relaxed = run([(FakeProcess(ROGUE, TRAINING), "")], GpuPolicy(host_grant=GpuGrant.all()), 3)
    assert relaxed.alerts == []


def test_miner_binary_name_in_declared_tree() -> None:
    from dataclasses import replace

    detector = GpuDetector(GRANTED, GpuDetectorConfig(window_s=20, min_samples=10))
    clock = ManualClock()
    nvml = FakeNvml([FakeDevice(0, [FakeProcess(TRAINER, MINING)])], clock=clock)
    sensor = GpuSensor(
        nvml, clock=clock, proc_root="/nonexistent", attributor=StaticAttributor({TRAINER: "train"})
    )
    alerts: list[Alert] = []
    for _ in range(30):
        clock.advance(1.0)
        for event in sensor.poll_once():
            alerts += detector.observe(replace(event, image="/tmp/.x/xmrig"))
    assert [a.rule_id for a in alerts] == [RULE_MINING]
    assert "miner binary name" in alerts[0].description


def test_detector_bounds_its_state() -> None:
    from watchkeeper.sensors.gpu import GpuEvent

    detector = GpuDetector(GpuPolicy(host_grant=GpuGrant.all()))
    for pid in range(1, 6000):
        detector.observe(GpuEvent(ts=float(pid), pid=pid, device_index=0, sm_util=50.0, samples=1))
    assert len(detector._tracks) <= 4096
    assert detector.observe(GpuEvent(ts=1.0, pid=None)) == []


def test_probe_shaped_trace() -> None:
    """Replay of the H200 probe's two processes (scripted from its summary, not recorded)."""
    devices = load_trace((DATA / "h200_probe_shaped.jsonl").read_text().splitlines())
    clock = ManualClock()
    nvml = FakeNvml(devices, clock=clock)
    sensor = GpuSensor(
        nvml,
        clock=clock,
        proc_root="/nonexistent",
        attributor=StaticAttributor({1001: "trainer", 1002: "rogue"}),
    )
    policy = GpuPolicy(grants={"trainer": GpuGrant.of(0)}, declared={"trainer": frozenset({1001})})
    detector = GpuDetector(policy)
    alerts: list[tuple[float, Alert]] = []
    for second in range(31):
        for event in sensor.poll_once():
            alerts += [(float(second), a) for a in detector.observe(event)]
        clock.advance(1.0)
    assert [(a.rule_id, a.sandbox_id) for _, a in alerts] == [(RULE_UNGRANTED, "rogue")]
    assert alerts[0][0] <= 3.0 + 1.0  # the rogue's context appears at t = 2 s


# --- the labelled set ----------------------------------------------------------------------


def _run_scenario(scenario: Scenario, seconds: int) -> set[str]:
    sandbox = scenario.sandbox_id
    grants = {sandbox: GpuGrant.of(0)} if scenario.granted else {}
    declared = {sandbox: frozenset({scenario.process.pid if scenario.declared else 1})}
    policy = GpuPolicy(grants=grants, declared=declared if scenario.granted else {})
    stratum = {40: stratum_flow(sandbox, 40)} if scenario.stratum else None
    result = run(
        [(scenario.process, sandbox)], policy, seconds, pcie=scenario.pcie, stratum=stratum
    )
    names = {RULE_UNGRANTED: "ungranted", RULE_UNDECLARED: "undeclared", RULE_MINING: "mining"}
    return {names[r] for r in result.rules()}


def test_labelled_set_recall_and_false_positives() -> None:
    spec = json.loads((DATA / "labelled_set.json").read_text())
    scenarios = expand_labelled_set(spec)
    assert len(scenarios) == sum(f["count"] for f in spec["families"])
    counts = {
        r: {"tp": 0, "fn": 0, "fp": 0, "tn": 0} for r in ("ungranted", "undeclared", "mining")
    }
    per_family: dict[str, list[int]] = {}
    for scenario in scenarios:
        fired = _run_scenario(scenario, int(spec["duration_s"]))
        ok = fired == set(scenario.labels)
        per_family.setdefault(scenario.family, [0, 0])[0 if ok else 1] += 1
        for rule, c in counts.items():
            truth, got = rule in scenario.labels, rule in fired
            c["tp" if truth and got else "fn" if truth else "fp" if got else "tn"] += 1
    lines = ["rule        recall      false-positive rate"]
    for rule, c in counts.items():
        pos, neg = c["tp"] + c["fn"], c["fp"] + c["tn"]
        lines.append(f"{rule:<11} {c['tp']}/{pos:<9} {c['fp']}/{neg}")
    lines += [f"{family:<32} exact {ok}/{ok + bad}" for family, (ok, bad) in per_family.items()]
    print("\n" + "\n".join(lines))
    for rule, c in counts.items():
        assert c["fp"] == 0, (rule, c)
        assert c["tp"] / (c["tp"] + c["fn"]) >= 0.8, (rule, c)
    for family in (
        "training_declared",
        "smooth_training_declared",
        "training_undeclared",
        "training_ungranted",
        "mining_undeclared",
        "mining_ungranted",
        "mining_declared_stratum",
        "mining_throttled_undeclared",
    ):
        assert per_family[family][1] == 0, (family, per_family[family])


@pytest.mark.parametrize("profile", [Steady(97.0), TRAINING])
def test_profiles_are_deterministic(profile: Profile) -> None:
    assert [profile(t) for t in range(20)] == [profile(t) for t in range(20)]
