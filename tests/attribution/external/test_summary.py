from __future__ import annotations

from watchkeeper.alerts import Severity
from watchkeeper.attribution.correlate import Attribution
from watchkeeper.attribution.external import Summarizer, new_alert
from watchkeeper.attribution.external._summary import MAX_KEYS


def att(ts: float, episode: str | None, step: int | None, signature: str,
        severity: Severity | None = None, confidence: float = 1.0) -> Attribution:
    alert = new_alert(ts=ts, src_ip="10.0.0.1", src_port=1, dst_ip="10.0.0.2", dst_port=2,
                      proto="tcp", signature=signature, message="", severity=severity,
                      source="f:1", kind="suricata")
    return Attribution(alert=alert, trajectory_id=episode, step=step,
                       tool_call_id=f"{episode}-{step}" if step is not None else None,
                       confidence=confidence, reason="inside-step")


def test_summaries_per_trajectory() -> None:
    s = Summarizer()
    for a in (att(5, "a", 1, "X", Severity.HIGH), att(3, "a", 1, "X"), att(9, "a", 2, "Y", confidence=0.2),
              att(1, "b", None, "Z"), att(4, None, None, "N")):
        s.add(a)
    a, b, none = s.results()
    assert (a.trajectory_id, b.trajectory_id, none.trajectory_id) == ("a", "b", None)
    out = a.to_dict()
    assert out["alerts"] == 3 and out["first_alert"] == 3 and out["last_alert"] == 9
    assert out["by_signature"] == {"X": 2, "Y": 1}
    assert out["by_severity"] == {"unknown": 2, "high": 1}
    assert out["steps"] == {"1": 2, "2": 1} and out["tool_calls"] == {"a-1": 2, "a-2": 1}
    assert out["low_confidence"] == 1 and out["by_kind"] == {"suricata": 3}
    assert b.to_dict()["steps"] == {"-1": 1}


def test_distinct_signatures_are_bounded() -> None:
    s = Summarizer()
    for n in range(MAX_KEYS + 10):
        s.add(att(n, "a", 0, f"sig-{n}"))
    (summary,) = s.results()
    assert len(summary.by_signature) == MAX_KEYS + 1 and summary.by_signature["(other)"] == 10
