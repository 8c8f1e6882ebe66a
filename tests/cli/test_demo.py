"""``watchkeeper demo``: the offline path, the fallback when the live one cannot run, the table.

The live demo end to end (twice in a row, through this command too) is tests/demo/test_run.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import watchkeeper.sandbox
from watchkeeper.alerts import Alert, Severity
from watchkeeper.cli.demo import command, summary_table
from watchkeeper.demo import StepRow
from watchkeeper.errors import PrerequisiteError


def test_offline_audits_the_bundled_episodes(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["--offline", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(x) for x in (tmp_path / "o" / "verdicts.jsonl").read_text().splitlines()]
    ids = {v.get("trajectory_id", v.get("id")) for v in verdicts}
    assert {"rome-demo-0001", "rome-episode-0042", "benign-refactor-1"} <= ids
    assert "offline" in result.output


def test_falls_back_to_offline_without_prerequisites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise PrerequisiteError("bwrap (bubblewrap) is not installed", fix="apt-get install bubblewrap")

    monkeypatch.setattr(watchkeeper.sandbox, "check_prerequisites", missing)
    result = CliRunner().invoke(command, ["--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "the live demo cannot run here: bwrap (bubblewrap) is not installed" in result.output
    assert "running the offline audit" in result.output
    assert (tmp_path / "o" / "verdicts.jsonl").is_file()


def test_summary_table() -> None:
    kill = Alert(rule_id="detector:stratum", title="t", severity=Severity.CRITICAL,
                 attack=("T1496",), action="kill", step=8)  # fmt: skip
    scan = Alert(rule_id="detector:fanout-portscan", title="t", severity=Severity.HIGH,
                 attack=("T1046",), step=4)  # fmt: skip
    rows = [StepRow(0, "call_0", "ls -la", 0), StepRow(4, "call_4", "python: scan", 0, (scan,)),
            StepRow(8, "call_8", "fetch && python3 /tmp/.kworker miner", 137, (kill, scan), True),
            StepRow(9, "call_9", "python3 -m unittest -q", 126, denied="killed")]  # fmt: skip
    table = summary_table(rows, [scan])
    lines = table.splitlines()
    assert any("│    8 │ fetch && python3 /tmp/.kworker miner" in x and "critical" in x
               and "T1496, T1046" in x and "kill" in x for x in lines)  # fmt: skip
    assert any("│    9 │" in x and "denied" in x for x in lines)
    assert any("│    0 │ ls -la" in x and x.count(" - ") >= 3 for x in lines)
    assert any("no step" in x and "high" in x for x in lines)
