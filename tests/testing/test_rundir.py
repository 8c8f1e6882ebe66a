from __future__ import annotations

import json
from pathlib import Path

from watchkeeper.store import DuckReader
from watchkeeper.testing.rundir import XSS_COMMAND, RunDirBuilder, alert_line, mining_scenario


def test_mining_scenario_writes_a_complete_run(tmp_path: Path) -> None:
    builder = mining_scenario()
    path = builder.write(tmp_path / "run", extra_lines=["junk"])
    lines = (path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == len(builder.alerts) + 1 and lines[-1] == "junk"
    first = json.loads(lines[0])
    assert first == json.loads(json.dumps(alert_line(builder.alerts[0])))
    assert {"pid", "exe", "cmdline", "destination"} <= set(first)
    with DuckReader(path) as reader:
        _, rows = reader.sql("SELECT count(*) FROM alerts")
        assert rows == [(len(builder.alerts),)]
        _, rows = reader.sql("SELECT count(*) FROM steps")
        assert rows == [(5,)]
        _, rows = reader.sql("SELECT max(cpu_share) FROM resources")
        assert rows[0][0] > 1.5
        _, rows = reader.sql("SELECT count(*) FROM events WHERE command_line LIKE ?",
                             [f"%{XSS_COMMAND}%"])  # fmt: skip
        assert rows == [(1,)]


def test_builder_without_alerts_jsonl(tmp_path: Path) -> None:
    path = RunDirBuilder().write(tmp_path / "run", alerts_jsonl=False)
    assert sorted(p.name for p in path.iterdir()) == ["events.duckdb"]
