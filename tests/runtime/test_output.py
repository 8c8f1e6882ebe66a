"""alerts.jsonl records and the live alert line."""

from __future__ import annotations

import io
import json
from pathlib import Path

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import DnsEvent, NetworkEvent, ProcessEvent
from watchkeeper.runtime.output import AlertLog, AlertPrinter, alert_line, alert_record

PROC = ProcessEvent(pid=42, image="/usr/bin/python3", command_line="python3 systemd-helper miner", step=1)
FLOW = NetworkEvent(pid=42, dst_ip="10.213.0.1", dst_port=443, image="/usr/bin/python3")
ALERT = Alert(
    rule_id="detector:stratum", title="Mining protocol", severity=Severity.CRITICAL,
    attack=("T1496",), confidence=0.95, step=1, tool_call_id="c1", sandbox_id="sb",
    action="kill", evidence=(Evidence(event=FLOW, field="detail.method", text="mining.subscribe"),
                             Evidence(event=PROC)),
)  # fmt: skip


def test_record_has_the_documented_fields() -> None:
    record = alert_record(ALERT)
    assert record["pid"] == 42 and record["exe"] == "/usr/bin/python3"
    assert record["destination"] == "10.213.0.1:443" and record["action"] == "kill"
    assert (record["step"], record["tool_call_id"], record["sandbox_id"]) == (1, "c1", "sb")
    assert record["severity"] == "critical" and record["attack"] == ["T1496"]
    assert record["evidence"][0]["text"] == "mining.subscribe"
    json.dumps(record)


def test_destination_of_a_dns_alert_is_the_name() -> None:
    alert = Alert(rule_id="r", title="t", severity=Severity.LOW,
                  evidence=(Evidence(event=DnsEvent(query_name="pool.example.test")),))  # fmt: skip
    assert alert_record(alert)["destination"] == "pool.example.test"
    assert alert_record(alert)["pid"] is None


def test_line_names_severity_rule_pid_exe_destination_action() -> None:
    line = alert_line(ALERT)
    for part in ("[critical]", "detector:stratum", "pid=42", "exe=/usr/bin/python3",
                 "dst=10.213.0.1:443", "step=1", "action=kill"):  # fmt: skip
        assert part in line
    assert "\n" not in alert_line(Alert(rule_id="r", title="a\nb" * 100, severity=Severity.LOW))


def test_log_and_printer(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.write(ALERT)
    log.write(ALERT.with_action("alert"))
    log.close()
    log.close()
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["action"] for x in lines] == ["kill", "alert"]
    stream = io.StringIO()
    AlertPrinter(stream).write(ALERT)
    assert stream.getvalue().count("\n") == 1
