from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.cli.main import cli
from watchkeeper.testing.mmdb import write_mmdb
from watchkeeper.testing.rundir import mining_run, mining_scenario


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mining_run(tmp_path_factory.mktemp("cli-report") / "run")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


def test_writes_report_html_into_the_run_dir(tmp_path: Path, run_dir: Path) -> None:
    work = shutil.copytree(run_dir, tmp_path / "run")
    code, out, err = invoke(str(work))
    assert code == 0 and err == ""
    assert out.strip() == str(work / "report.html")
    page = (work / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Stratum Mining URI On Command Line" in page
    assert sorted(p.name for p in work.iterdir()) == ["alerts.jsonl", "events.duckdb", "report.html"]


def test_output_and_mmdb(tmp_path: Path, run_dir: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", {"3.124.67.0/24": {
        "autonomous_system_number": 16509, "autonomous_system_organization": "Example Cloud"}})  # fmt: skip
    target = tmp_path / "r.html"
    code, out, _ = invoke(str(run_dir), "--output", str(target), "--mmdb", str(db))
    assert code == 0 and out.strip() == str(target)
    assert "AS16509 Example Cloud" in target.read_text()
    assert not (run_dir / "report.html").exists()


def test_partial_alerts_file_warns_per_line(tmp_path: Path) -> None:
    path = mining_scenario().write(tmp_path / "run", extra_lines=['{"rule_id": "x",', "[]"])
    code, out, err = invoke(str(path))
    assert code == 0 and out.strip() == str(path / "report.html")
    lines = err.splitlines()
    assert lines == [
        f"watchkeeper: warning: {path / 'alerts.jsonl'}:7: skipped a malformed alert "
        "(not JSON: Expecting property name enclosed in double quotes at column 17)",
        f"watchkeeper: warning: {path / 'alerts.jsonl'}:8: skipped a malformed alert "
        "(a line must be a JSON object)",
    ]
    assert "Skipped: " in (path / "report.html").read_text()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such run directory"),
        (lambda p: (p.mkdir(), p)[1], "not a watchkeeper run directory"),
        (lambda p: (p.mkdir(), (p / "events.duckdb").write_text("x"), p)[2], "not a DuckDB database"),
        (lambda p: (p.parent.mkdir(exist_ok=True), p.write_text("x"), p)[2], "is a file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, make: object, message: str) -> None:
    target = make(tmp_path / "bad")  # type: ignore[operator]
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(cli, ["report", str(target)], standalone_mode=False)
    assert result.exit_code != 0 and message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert sorted(tmp_path.rglob("*")) == before


def test_main_prints_one_line_errors(tmp_path: Path, run_dir: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "watchkeeper.cli.main", "report", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"watchkeeper: error: {tmp_path / 'nope'}: no such run directory\n"
    proc = subprocess.run(
        [sys.executable, "-m", "watchkeeper.cli.main", "report", str(run_dir), "--output",
         str(tmp_path / "missing" / "r.html")], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "output folder does not exist" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
