from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.errors import InputError
from watchkeeper.events import NetworkEvent, ProcessEvent
from watchkeeper.export import RunDir, alert_from_dict, open_run_dir
from watchkeeper.export._rundir import MAX_LINE_BYTES, checked_event, destination_of
from watchkeeper.testing.rundir import RunDirBuilder, alert_line, mining_scenario


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_reads_everything_of_a_run(mining_dir: Path) -> None:
    with open_run_dir(mining_dir) as run:
        [info] = run.runs()
        assert info.run_id == "run-7f3a" and info.ended == info.started + 60
        assert [s.step for s in run.steps()] == [0, 1, 2, 3, 4]
        assert run.event_counts()["process_creation"] == 12
        alerts = run.alerts()
        assert run.alerts_source == "alerts.jsonl"
        assert [r.index for r in alerts] == list(range(1, 7))
        assert [r.alert.ts for r in alerts] == sorted(r.alert.ts for r in alerts)
        stratum = next(r for r in alerts if r.alert.rule_id == "detector:stratum")
        assert stratum.destination == "de.minexmr.com:4444" and stratum.pid == 2021
        assert stratum.alert.action == "kill" and stratum.alert.severity is Severity.CRITICAL
        assert isinstance(stratum.alert.evidence[0].event, NetworkEvent)
        assert any(r.sha256 for r in alerts)
        flows = run.flows()
        pool = next(f for f in flows if f.dst_port == 4444)
        assert (pool.bytes_out, pool.events, pool.app_protocol) == (22_400, 3, "stratum")
        cpu = run.resources()
        assert max(p.cpu_share for p in cpu) == pytest.approx(1.97)
        assert not run.issues


def test_alerts_fall_back_to_the_store(tmp_path: Path) -> None:
    path = mining_scenario().write(tmp_path / "run", alerts_jsonl=False)
    with RunDir(path) as run:
        alerts = run.alerts()
        assert run.alerts_source.startswith("events.duckdb")
        assert len(alerts) == 6 and alerts[0].alert.title == "Miner Software Downloaded"
        assert alerts[0].destination == "downloads.example.net:80"


def test_an_empty_alert_log_falls_back_to_the_store(tmp_path: Path) -> None:
    path = mining_scenario().write(tmp_path / "run")
    (path / "alerts.jsonl").write_text("garbage\n")
    with RunDir(path) as run:
        assert len(run.alerts()) == 6 and run.alerts_source.startswith("events.duckdb")
        assert [str(i.location) for i in run.issues] == [f"{path / 'alerts.jsonl'}:1",
                                                         str(path / "alerts.jsonl")]  # fmt: skip


def test_malformed_alert_lines_are_warned_and_skipped(tmp_path: Path) -> None:
    builder = mining_scenario()
    good = json.dumps(alert_line(builder.alerts[0]))
    path = builder.write(tmp_path / "run", extra_lines=[
        '{"rule_id": "cut-off", ', "[1, 2]", "not json at all", '{"severity": "high"}',
        '{"rule_id": "r", "severity": "bogus"}', '{"rule_id": "r", "severity": "low", "ts": "x"}',
        "", good, "[" * 200_000,
    ])  # fmt: skip
    with RunDir(path) as run:
        alerts = run.alerts()
        assert len(alerts) == 7  # 6 + the good line at the end
        lines = [i.location.line for i in run.issues]
        assert lines == [7, 8, 9, 10, 11, 12, 15]
        messages = [i.message for i in run.issues]
        assert "not JSON" in messages[0] and "JSON object" in messages[1]
        assert "no rule_id" in messages[3] and "bogus" in messages[4]
        assert all(str(i).startswith(f"{path / 'alerts.jsonl'}:") for i in run.issues)
        assert "nested too deeply" in messages[6]
        assert len(run.issue_lines(limit=2)) == 3 and "5 more" in run.issue_lines(limit=2)[-1]


def test_bad_evidence_is_dropped_but_the_alert_kept(tmp_path: Path) -> None:
    builder = mining_scenario()
    line = alert_line(builder.alerts[1])
    line["evidence"].append({"field": "x", "event": {"category": "nope"}})
    line["evidence"].append({"field": "x", "event": {"category": "process_creation", "pid": "1"}})
    path = builder.write(tmp_path / "run", extra_lines=[json.dumps(line)])
    with RunDir(path) as run:
        assert len(run.alerts()) == 7
        assert [i.location.line for i in run.issues] == [7, 7]
        assert "dropped evidence 1" in run.issues[0].message


def test_an_overlong_line_is_skipped(tmp_path: Path) -> None:
    path = mining_scenario().write(tmp_path / "run")
    with open(path / "alerts.jsonl", "a") as out:
        out.write('{"rule_id": "' + "a" * (MAX_LINE_BYTES + 10) + '"}\n')
        out.write(json.dumps({"rule_id": "after", "severity": "low"}) + "\n")
    with RunDir(path) as run:
        assert "after" in [r.alert.rule_id for r in run.alerts()]
        assert [i.location.line for i in run.issues] == [7]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such run directory"),
        ("empty", "no events.duckdb, no alerts.jsonl"),
        ("foreign-file", "is a file, not a run directory"),
        ("foreign-db", "not a DuckDB database"),
        ("corrupt-db", "not a DuckDB database"),
        ("only-alerts", "no events.duckdb (the run store) beside alerts.jsonl"),
        ("other-duckdb", "not a watchkeeper run database"),
    ],
)
def test_bad_run_directories(tmp_path: Path, mining_dir: Path, setup: str, message: str) -> None:
    target = tmp_path / "run"
    if setup == "empty":
        target.mkdir()
    elif setup == "foreign-file":
        target = tmp_path / "notes.txt"
        target.write_text("hello\n")
    elif setup == "foreign-db":
        target.mkdir()
        (target / "events.duckdb").write_text("hello\n")
    elif setup == "corrupt-db":
        target.mkdir()
        (target / "events.duckdb").write_bytes((mining_dir / "events.duckdb").read_bytes()[:20000])
    elif setup == "only-alerts":
        target.mkdir()
        shutil.copy(mining_dir / "alerts.jsonl", target)
    elif setup == "other-duckdb":
        import duckdb

        target.mkdir()
        con = duckdb.connect(str(target / "events.duckdb"))
        con.execute("CREATE TABLE t (x INTEGER)")
        con.close()
    with pytest.raises(InputError) as info:
        RunDir(target)
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path))
    assert "\n" not in str(info.value)


def test_the_store_file_itself_is_accepted(mining_dir: Path) -> None:
    with RunDir(mining_dir / "events.duckdb") as run:
        assert run.path == mining_dir and len(run.alerts()) == 6


def test_rows_with_wrong_types_are_skipped(tmp_path: Path) -> None:
    import duckdb

    path = copy(RunDirBuilder().write(tmp_path / "src"), tmp_path / "run")
    con = duckdb.connect(str(path / "events.duckdb"))
    good = {"category": "process_creation", "ts": 5.0, "pid": 7, "command_line": "ls"}
    rows = [good, {"category": "process_creation", "ts": "soon"}, {"category": "x"}, [1], "text"]
    for i, data in enumerate(rows):
        con.execute("INSERT INTO events (seq, category, ts, data) VALUES (?, 'process_creation', ?, ?)",
                    [i, float(i), json.dumps(data)])  # fmt: skip
    con.close()
    with RunDir(path) as run:
        events = run.events()
        assert [e.command_line for e in events if isinstance(e, ProcessEvent)] == ["ls"]
        assert len(run.issues) == 4 and all("events seq" in str(i) for i in run.issues)


def test_checked_event_and_alert_from_dict() -> None:
    with pytest.raises(TypeError):
        checked_event({"category": "network_connection", "dst_port": "443"})
    with pytest.raises(TypeError):
        checked_event({"category": "network_connection", "detail": [["a"]]})
    event = checked_event({"category": "dns", "query_name": "x.example", "answers": ["1.2.3.4"]})
    assert destination_of(event) == "x.example"
    alert = Alert(rule_id="r", title="t", severity=Severity.HIGH, attack=("T1496",), ts=3.0,
                  step=2, evidence=(Evidence(event=event, field="q", text="x", span=(1, 2)),))  # fmt: skip
    assert alert_from_dict(alert.to_dict()) == alert
    assert alert_from_dict({"rule_id": "r", "severity": 9}).severity is Severity.CRITICAL
    with pytest.raises(ValueError):
        alert_from_dict({"rule_id": "r"})


def test_reads_the_runtime_alert_lines(tmp_path: Path) -> None:
    output = pytest.importorskip("watchkeeper.runtime.output")
    builder = mining_scenario()
    path = builder.write(tmp_path / "run", alerts_jsonl=False)
    with open(path / "alerts.jsonl", "w") as out:
        for alert in builder.alerts:
            out.write(json.dumps(output.alert_record(alert), default=str) + "\n")
    with RunDir(path) as run:
        records = run.alerts()
        assert not run.issues and len(records) == len(builder.alerts)
        by_rule = {r.alert.rule_id: r for r in records}
        stratum = by_rule["detector:stratum"]
        assert stratum.destination == "de.minexmr.com:4444" and stratum.alert.action == "kill"
        assert stratum.alert.evidence == builder.alerts[2].evidence


def test_checked_event_reads_gpu_events() -> None:
    from watchkeeper.events import GpuEvent, event_to_dict

    event = GpuEvent(sandbox_id="sb1", pid=42, device_index=1, sm_util=97.5, samples=3, ancestors=(1, 7),
                     accounting=(("gpu_util", 90),))
    back = checked_event(json.loads(json.dumps(event_to_dict(event))))
    assert back == event
    with pytest.raises(TypeError):
        checked_event({"category": "gpu_usage", "sm_util": "high"})
