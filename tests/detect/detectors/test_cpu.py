from __future__ import annotations

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors.cpu import RULE_ID, CpuDetector
from watchkeeper.sensors.resources import ResourceSample


def samples(
    pid: int, shares: list[float], *, image: str = "/tmp/x", t0: float = 1000.0, dt: float = 0.5
) -> list[ResourceSample]:
    return [
        ResourceSample(
            ts=t0 + i * dt, sandbox_id="sbx", pid=pid, step=3, tool_call_id="c3",
            cpu_share=s, image=image, command_line=f"{image} --run", interval=dt,
        )
        for i, s in enumerate(shares)
    ]  # fmt: skip


def feed(det: CpuDetector, items: list[ResourceSample]) -> list[tuple[int, object]]:
    out = []
    for i, item in enumerate(items):
        out += [(i, a) for a in det.observe(item)]
    return out


def test_sustained_busy_undeclared_process_alerts_once_after_five_seconds() -> None:
    det = CpuDetector()
    fired = feed(det, samples(42, [0.95] * 20))
    assert [i for i, _ in fired] == [9]  # 10 samples x 0.5 s = 5 s
    alert = fired[0][1]
    assert alert.rule_id == RULE_ID and alert.attack == ("T1496", "T1496.001")  # type: ignore[attr-defined]
    assert alert.severity is Severity.MEDIUM and alert.step == 3  # type: ignore[attr-defined]
    assert alert.evidence[0].event.pid == 42 and "0.95 cores" in alert.evidence[0].text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "shares",
    [
        [0.95] * 9,  # 4.5 s: too short
        [0.95] * 6 + [0.3] + [0.95] * 6,  # a dip restarts the run
        [0.7] * 30,  # below the threshold
    ],
)
def test_short_interrupted_or_low_use_does_not_alert(shares: list[float]) -> None:
    assert feed(CpuDetector(), samples(7, shares)) == []


def test_a_gap_in_sampling_restarts_the_run() -> None:
    det = CpuDetector()
    items = samples(7, [0.9] * 6) + samples(7, [0.9] * 6, t0=1000.0 + 10)
    assert feed(det, items) == []


def test_declared_workload_by_image_pid_and_ancestry() -> None:
    det = CpuDetector(
        declared_images=["python3*"],
        declared_pids=[100],
        ancestry=lambda p: [100] if p == 101 else [],
    )
    assert feed(det, samples(5, [1.0] * 20, image="/usr/bin/python3.11")) == []
    assert feed(det, samples(100, [1.0] * 20)) == []
    assert feed(det, samples(101, [1.0] * 20)) == []
    assert len(feed(det, samples(102, [1.0] * 20))) == 1
    det.declare(image="/opt/miner")
    assert feed(det, samples(103, [1.0] * 20, image="/opt/miner")) == []


def test_workers_below_the_threshold_add_up_per_sandbox() -> None:
    det = CpuDetector()
    rounds = [samples(p, [0.45] * 14) for p in (11, 12)]
    items = [s for pair in zip(*rounds, strict=True) for s in pair]  # round-robin, shared ts
    fired = feed(det, items) + [(-1, a) for a in det.flush()]
    assert len(fired) == 1
    alert = fired[0][1]
    assert "sandbox" in alert.title and alert.sandbox_id == "sbx"  # type: ignore[attr-defined]
    assert {e.event.pid for e in alert.evidence} == {11, 12}  # type: ignore[attr-defined]


def test_non_samples_are_ignored() -> None:
    assert CpuDetector().observe("not a sample") == []
