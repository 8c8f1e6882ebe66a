from __future__ import annotations

import io
import json
from pathlib import Path

from watchkeeper.export import OcsfExporter, RunDir
from watchkeeper.export.ocsf import OCSF_VERSION, alert_to_ocsf, attacks_of, event_to_ocsf, product


def test_every_event_and_alert_in_time_order(mining_dir: Path) -> None:
    out = io.StringIO()
    exporter = OcsfExporter()
    with RunDir(mining_dir) as run:
        exporter.write(run, out)
        counts = run.event_counts()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (exporter.events_written, exporter.alerts_written) == (sum(counts.values()), 6)
    assert len(lines) == sum(counts.values()) + 6
    assert [x["time"] for x in lines] == sorted(x["time"] for x in lines)
    classes = {x["class_uid"] for x in lines}
    assert classes == {1007, 4001, 4003, 1001, 2004}
    finding = next(x for x in lines if x["class_uid"] == 2004 and x["severity_id"] == 5)
    assert finding["metadata"]["version"] == OCSF_VERSION and finding["is_alert"] is True
    assert finding["unmapped"]["agent"]["step"] == 2 and finding["unmapped"]["action"] == "kill"
    assert finding["evidences"]


def test_existing_functions_are_unchanged() -> None:
    from watchkeeper.alerts import Alert, Severity
    from watchkeeper.events import ProcessEvent

    event = ProcessEvent(ts=1.5, pid=3, image="/bin/ls", command_line="ls", step=0)
    assert event_to_ocsf(event)["type_uid"] == 100701
    alert = Alert(rule_id="r", title="t", severity=Severity.LOW, attack=("T1059.004",))
    assert alert_to_ocsf(alert)["finding_info"]["attacks"] == attacks_of(("T1059.004",))
    assert product()["name"] == "watchkeeper"
