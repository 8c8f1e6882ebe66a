from __future__ import annotations

import math

import pytest

from watchkeeper.attribution.correlate import REASONS, Correlator
from watchkeeper.attribution.external import ExternalAlert, Lease, new_alert
from watchkeeper.trajectories import Step, ToolCall, Trajectory

T0 = 1_800_000_000.0
BOX, BOX2, REMOTE = "10.88.0.2", "10.88.0.3", "203.0.113.7"


def alert(t: float, src: str = BOX, dst: str = REMOTE) -> ExternalAlert:
    return new_alert(ts=T0 + t, src_ip=src, src_port=40000, dst_ip=dst, dst_port=443, proto="tcp",
                     signature="sig", message="", severity=None, source="x:1", kind="csv")


def traj(ident: str, *steps: tuple[float, float | None], meta: dict[str, object] | None = None) -> Trajectory:
    return Trajectory(id=ident, source="t", format="test", metadata=meta or {}, steps=tuple(
        Step(index=i, ts=T0 + s, end_ts=None if e is None else T0 + e,
             tool_calls=(ToolCall(id=f"{ident}-{i}"),))
        for i, (s, e) in enumerate(steps)))


def correlator(*trajs: Trajectory, leases: tuple[tuple[str, str, float, float], ...] = (),
               skew: float = 2.0) -> Correlator:
    c = Correlator(skew, leases_from_metadata=False)
    for t in trajs:
        c.add_trajectory(t)
    for episode, ip, start, end in leases:
        c.add_lease(Lease(episode, ip, T0 + start, T0 + end))
    return c


# steps of "a": [10, 20], [40, 45], [47, 60]; lease [0, 100]
A = traj("a", (10, 20), (40, 45), (47, 60))
LEASE_A = ("a", BOX, 0.0, 100.0)


@pytest.mark.parametrize(
    ("t", "step", "confidence", "reason"),
    [
        (15, 0, 1.0, "inside-step"),
        (10, 0, 1.0, "inside-step"),
        (21, 0, 0.75, "skew-margin"),  # 1 s after the end, skew 2: 1 - 0.5 * 1/2
        (9, 0, 0.75, "skew-margin"),
        (30, 0, 0.3, "after-step"),  # in the think time between steps 0 and 1
        # 1 s after step 1 (5 s long) ended, 1 s before step 2 (13 s long) began: [44, 48]
        # overlaps each by 1 s; likelihoods 1/5 and 1/13: step 1, share 0.2 / (0.2 + 1/13),
        # times the margin factor 0.75
        (46, 1, 0.2 / (0.2 + 1 / 13) * 0.75, "ambiguous-steps"),
        (5, None, 0.1, "before-first-step"),
        (80, 2, 0.3, "after-step"),
    ],
)
def test_step_windows(t: float, step: int | None, confidence: float, reason: str) -> None:
    att = correlator(A, leases=(LEASE_A,)).attribute(alert(t))
    assert (att.trajectory_id, att.step, att.reason) == ("a", step, reason)
    assert att.confidence == pytest.approx(confidence)
    assert att.tool_call_id == (f"a-{step}" if step is not None else None)
    assert att.side == "src" and att.sandbox_ip == BOX and reason in REASONS


def test_inside_one_step_but_near_the_next() -> None:
    c = correlator(traj("a", (10, 20), (21, 30)), leases=(LEASE_A,))
    att = c.attribute(alert(19.5))  # inside step 0, 0.5 s before step 1 starts
    # [17.5, 21.5] overlaps step 0 (10 s long) by 2.5 s and step 1 (9 s long) by 0.5 s
    like0, like1 = 2.5 / 10, 0.5 / 9
    assert att.step == 0 and att.reason == "ambiguous-steps"
    assert att.confidence == pytest.approx(like0 / (like0 + like1))
    # a short step beats a long one at equal overlap: the alert is likelier to come from it
    c = correlator(traj("a", (10, 40), (41, 42)), leases=(LEASE_A,))
    assert c.attribute(alert(40.5)).step == 1


def test_steps_without_end_times_last_until_the_next_start_and_the_lease_end() -> None:
    c = correlator(traj("a", (10, None), (40, None)), leases=(LEASE_A,))
    assert (c.attribute(alert(30)).step, c.attribute(alert(30)).reason) == (0, "inside-step")
    assert c.attribute(alert(95)).step == 1 and c.attribute(alert(95)).confidence == 1.0
    boundary = c.attribute(alert(39.5))
    assert boundary.reason == "ambiguous-steps" and boundary.step == 0


def test_address_reuse_and_idle_time() -> None:
    b = traj("b", (130, 140))
    c = correlator(A, b, leases=(LEASE_A, ("b", BOX, 120.0, 200.0)))
    assert c.attribute(alert(15)).trajectory_id == "a"
    assert c.attribute(alert(135)).trajectory_id == "b"
    idle = c.attribute(alert(110))
    assert (idle.trajectory_id, idle.confidence, idle.reason) == (None, 0.0, "no-lease")
    edge = c.attribute(alert(101))  # 1 s after a's lease: in the skew margin of the lease
    assert edge.trajectory_id == "a" and edge.confidence == pytest.approx(0.3 * 0.75)


def test_overlapping_leases_are_ambiguous() -> None:
    b = traj("b", (100, 110))
    c = correlator(traj("a", (90, 99.5)), b, leases=(("a", BOX, 0.0, 100.0), ("b", BOX, 99.0, 200.0)))
    att = c.attribute(alert(99.8))
    assert att.reason == "ambiguous-episodes" and att.trajectory_id in ("a", "b")
    assert {att.trajectory_id, att.also[0].trajectory_id} == {"a", "b"}
    assert 0 < att.confidence < 1 and att.to_dict()["also"][0]["trajectory_id"]


def test_inbound_and_lateral() -> None:
    other = traj("c", (10, 20))
    c = correlator(A, other, leases=(LEASE_A, ("c", BOX2, 0.0, 100.0)))
    inbound = c.attribute(alert(15, src=REMOTE, dst=BOX))
    assert (inbound.trajectory_id, inbound.side, inbound.confidence) == ("a", "dst", 1.0)
    lateral = c.attribute(alert(15, src=BOX, dst=BOX2))
    assert lateral.reason == "ambiguous-episodes" and lateral.side == "src"  # the source wins ties
    assert lateral.trajectory_id == "a" and lateral.also[0].trajectory_id == "c"
    assert lateral.confidence == pytest.approx(0.5)


def test_tool_call_of_multi_call_steps() -> None:
    calls = (ToolCall(id="first", ts=T0 + 10), ToolCall(id="second", ts=T0 + 15))
    t = Trajectory(id="m", source="s", format="f", steps=(Step(index=0, ts=T0 + 10, end_ts=T0 + 20, tool_calls=calls),))
    c = correlator(t, leases=(("m", BOX, 0.0, 100.0),))
    assert c.attribute(alert(11)).tool_call_id == "first"
    assert c.attribute(alert(16)).tool_call_id == "second"


def test_missing_trajectory_untimed_and_unsorted() -> None:
    untimed = Trajectory(id="u", source="s", format="f", steps=(Step(index=0),))
    unsorted = traj("s", (50, 60), (10, 20))
    c = correlator(untimed, unsorted, leases=(("u", BOX, 0.0, 100.0), ("s", BOX2, 0.0, 100.0),
                                              ("ghost", "10.88.0.9", 0.0, 100.0)))
    assert c.attribute(alert(15)).reason == "no-step-times"
    att = c.attribute(alert(15, src=BOX2))
    assert (att.step, att.tool_call_id) == (1, "s-1")  # the step's own index is kept
    ghost = c.attribute(alert(15, src="10.88.0.9"))
    assert (ghost.trajectory_id, ghost.step, ghost.reason) == ("ghost", None, "no-trajectory")
    assert c.stats.untimed_trajectories == 1 and c.stats.untimed_steps == 1


def test_metadata_leases_and_merging() -> None:
    c = Correlator(2.0)
    c.add_trajectory(traj("a", (10, 20), meta={"sandbox_ip": BOX}))
    c.add_trajectory(traj("a", (30, 40)))  # a second part of the same episode
    assert c.attribute(alert(15)).step == 0
    att = c.attribute(alert(35))  # after the metadata lease (10..20) ends: no address match
    assert att.trajectory_id is None
    c.add_lease(Lease("a", BOX, T0, T0 + 100))
    assert c.attribute(alert(35)).trajectory_id == "a"


def test_zero_skew_and_bad_skew() -> None:
    c = correlator(A, leases=(LEASE_A,), skew=0.0)
    assert c.attribute(alert(20)).confidence == 1.0
    assert c.attribute(alert(20.5)).reason == "after-step"
    with pytest.raises(ValueError):
        Correlator(-1)
    with pytest.raises(ValueError):
        Correlator(math.nan)


def test_correlate_stream_and_dict() -> None:
    c = correlator(A, leases=(LEASE_A,))
    out = [a.to_dict() for a in c.correlate([alert(15), alert(500)])]
    assert out[0]["trajectory_id"] == "a" and out[0]["tool_call_id"] == "a-0" and out[0]["step"] == 0
    assert out[1]["trajectory_id"] is None and out[1]["confidence"] == 0.0
    assert out[0]["src_ip"] == BOX and out[0]["ts"] == T0 + 15


def test_adding_after_attributing_reindexes() -> None:
    c = correlator(traj("a", (10, None), (20, None)), leases=(("a", BOX, 0.0, 50.0),))
    assert c.attribute(alert(45)).step == 1  # the last step lasts until the lease ends
    c.add_steps("a", [(T0 + 40, None, 2, "a-2")])
    c.add_lease(Lease("a", BOX, T0 + 50, T0 + 90))
    assert c.attribute(alert(30)).step == 1  # step 1 now ends when step 2 starts
    att = c.attribute(alert(45))
    assert (att.step, att.tool_call_id, att.reason) == (2, "a-2", "inside-step")
    assert c.attribute(alert(85)).step == 2
