from __future__ import annotations

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors.exfil import RULE_ID, ExfilDetector
from watchkeeper.events import FileEvent, NetworkEvent


def read(path: str, ts: float, sandbox: str = "sbx") -> FileEvent:
    return FileEvent(
        ts=ts, sandbox_id=sandbox, step=1, tool_call_id="c1", activity="read", path=path
    )


def flow(
    ts: float,
    bytes_out: int,
    *,
    port: int = 40000,
    dst: str = "10.9.9.9",
    host: str = "",
    activity: str = "traffic",
    sandbox: str = "sbx",
    step: int | None = 2,
) -> NetworkEvent:
    return NetworkEvent(
        ts=ts, sandbox_id=sandbox, step=step, tool_call_id=f"c{step}", activity=activity,
        src_ip="10.200.0.2", src_port=port, dst_ip=dst, dst_port=443, dst_hostname=host,
        bytes_out=bytes_out,
    )  # fmt: skip


def run(det: ExfilDetector, events: list[object]) -> list[object]:
    out: list[object] = []
    for e in events:
        out += det.observe(e)
    return out


def test_upload_after_a_key_read_alerts_once_with_both_events() -> None:
    det = ExfilDetector()
    alerts = run(det, [
        read("/home/u/.ssh/id_ed25519", 100.0),
        flow(105.0, 300),
        flow(106.0, 900),  # cumulative: 900 bytes on this flow
        flow(107.0, 5000, activity="close"),
    ])  # fmt: skip
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule_id == RULE_ID and alert.severity is Severity.HIGH  # type: ignore[attr-defined]
    assert alert.attack == ("T1041", "T1048") and alert.step == 2  # type: ignore[attr-defined]
    assert "10.9.9.9:443" in alert.title and "900 bytes" in alert.title  # type: ignore[attr-defined]
    file_ev, net_ev = (e.event for e in alert.evidence)  # type: ignore[attr-defined]
    assert isinstance(file_ev, FileEvent) and isinstance(net_ev, NetworkEvent)


def test_bytes_are_summed_over_flows_per_destination_name() -> None:
    det = ExfilDetector()
    events: list[object] = [read("/w/.env", 0.0)]
    events += [
        flow(1.0 + i, 200, port=41000 + i, dst=f"10.0.0.{i}", host="paste.example")
        for i in range(3)
    ]
    alerts = run(det, events)
    assert len(alerts) == 1 and "paste.example" in alerts[0].title  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "events",
    [
        [flow(1.0, 5000)],  # no credential read at all
        [read("/w/notes.txt", 0.0), flow(1.0, 5000)],  # not a credential path
        [read("/w/.netrc", 0.0), flow(1.0, 400)],  # below the threshold
        [read("/w/.netrc", 0.0), flow(200.0, 5000)],  # the flow started after the window
        [read("/w/.netrc", 0.0, sandbox="a"), flow(1.0, 5000, sandbox="b")],  # another sandbox
        [read("/w/.netrc", 0.0), flow(1.0, 5000, dst="10.1.2.3")],  # allowlisted network
        [read("/w/.netrc", 0.0), flow(1.0, 5000, host="pypi.org")],  # allowlisted name
        [flow(0.0, 10_000), read("/w/.netrc", 1.0), flow(2.0, 10_300)],  # sent before the read
        [read("/w/.netrc", 0.0), flow(1.0, 0, activity="refuse")],
    ],
)
def test_no_alert(events: list[object]) -> None:
    det = ExfilDetector(allowlist=["10.1.0.0/16", "pypi.org"])
    assert run(det, events) == []


def test_canaries_and_custom_threshold() -> None:
    det = ExfilDetector(canaries=["/w/canary.txt"], threshold_bytes=100, window_s=10)
    assert det.is_sensitive("/w/canary.txt") and det.is_sensitive("/root/.aws/credentials")
    assert not det.is_sensitive("/w/canary.txt.bak")
    assert len(run(det, [read("/w/canary.txt", 0.0), flow(5.0, 150)])) == 1
    assert run(det, [read("/w/canary.txt", 100.0), flow(111.0, 150, port=5)]) == []
