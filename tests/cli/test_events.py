from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.cli.events import command
from watchkeeper.errors import InputError
from watchkeeper.events import FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.store import DuckStore


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run")
    launch = ProcessEvent(
        ts=1.0, step=0, pid=10, image="/bin/sh", command_line="sh -c 'cat ~/.ssh/id_rsa'"
    )
    read = FileEvent(ts=2.0, step=0, activity="read", path="/root/.ssh/id_rsa")
    flow = NetworkEvent(ts=3.0, step=1, pid=11, src_ip="10.0.0.2", src_port=5000, dst_ip="10.9.9.9",
                        dst_port=443, bytes_out=900, activity="close")  # fmt: skip
    with DuckStore(path) as store:
        for event in (launch, read, flow):
            store.add_event(event)
        store.add_alert(Alert(rule_id="detector:exfil", title="Upload after a credential read",
                              severity=Severity.HIGH, step=1, ts=3.0, action="kill",
                              evidence=(Evidence(event=flow),)))  # fmt: skip
        store.add_alert(
            Alert(
                rule_id="sigma-abc", title="Curl upload", severity=Severity.MEDIUM, step=1, ts=3.1
            )
        )
    return path


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.output, result.exception


def test_table_of_all_events(run_dir: Path) -> None:
    code, out, _ = invoke(str(run_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ts", "category", "step", "pid", "activity", "summary"]
    assert "cat ~/.ssh/id_rsa" in lines[1] and "/root/.ssh/id_rsa" in lines[2]
    assert "10.9.9.9:443" in lines[3] and "out=900" in lines[3]
    assert lines[-1] == "(3 rows)"


def test_category_and_step_filters(run_dir: Path) -> None:
    code, out, _ = invoke(str(run_dir), "--category", "file", "--step", "0", "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["path"] for r in rows] == ["/root/.ssh/id_rsa"]
    assert rows[0]["data"]["category"] == "file_event"  # JSON columns come back as objects
    _, out, _ = invoke(
        str(run_dir), "--category", "process_creation", "--category", "network", "--format", "jsonl"
    )
    assert [json.loads(line)["category"] for line in out.splitlines()] == [
        "process_creation",
        "network_connection",
    ]


def test_alert_filters_by_rule_glob_and_severity(run_dir: Path) -> None:
    code, out, _ = invoke(str(run_dir), "--rule", "detector:*")
    assert code == 0 and "detector:exfil" in out and "sigma-abc" not in out and "kill" in out
    _, out, _ = invoke(str(run_dir), "--severity", "medium", "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["rule_id"] for r in rows] == ["detector:exfil", "sigma-abc"]
    assert rows[0]["destination"] == "10.9.9.9:443" and rows[0]["attack"] == []
    _, out, _ = invoke(str(run_dir), "--severity", "high", "--step", "1")
    assert "detector:exfil" in out and "sigma-abc" not in out


def test_raw_sql_over_the_flows_view(run_dir: Path) -> None:
    code, out, _ = invoke(
        str(run_dir), "--sql", "SELECT dst_ip, bytes_out FROM flows", "--format", "jsonl"
    )
    assert code == 0 and json.loads(out) == {"dst_ip": "10.9.9.9", "bytes_out": 900}
    code, out, _ = invoke(str(run_dir), "--sql", "SELECT count(*) AS n FROM events")
    assert out.splitlines() == ["n", "3", "(1 row)"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sql", "DELETE FROM events"], "query failed"),  # the database is opened read-only
        (["--sql", "SELECT x FROM nowhere"], "query failed"),
        (["--category", "gpu"], "unknown category"),
        (["--severity", "severe"], "unknown severity"),
        (["--sql", "SELECT 1", "--step", "2"], "cannot be combined"),
    ],
)
def test_user_errors_are_one_line(run_dir: Path, args: list[str], words: str) -> None:
    code, _, exc = invoke(str(run_dir), *args)
    assert code != 0 and isinstance(exc, InputError)
    assert words in str(exc) and "\n" not in str(exc)


def test_missing_and_foreign_directories(tmp_path: Path) -> None:
    _, _, exc = invoke(str(tmp_path / "nope"))
    assert isinstance(exc, InputError) and "not a watchkeeper run directory" in str(exc)
    (tmp_path / "events.duckdb").write_text("not a database")
    _, _, exc = invoke(str(tmp_path))
    assert isinstance(exc, InputError) and "\n" not in str(exc)
