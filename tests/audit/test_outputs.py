"""Output writers: the JSONL line of a clean trajectory is exactly what json.dumps writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.audit import Finding, Verdict
from watchkeeper.audit._outputs import JsonlWriter


@pytest.mark.parametrize("tid", ["t1", "", 'quote " and \\ back', "ünïcødé ✓", "ctl \x00\x1f\n\t", "\ud800"])
def test_clean_verdict_line_equals_json_dumps(tmp_path: Path, tid: str) -> None:
    out = tmp_path / "o.jsonl"
    verdict = Verdict(trajectory_id=tid, source=f"f.jsonl:{tid}", risk=0.0, max_severity=None)
    writer = JsonlWriter(out)
    writer.write(verdict)
    writer.close()
    expected = json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"
    assert out.read_bytes() == expected.encode("utf-8", "backslashreplace")
    assert json.loads(out.read_text(encoding="utf-8")) == verdict.to_dict()


def test_verdict_with_findings_is_written_whole(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    finding = Finding(step=1, tool_call_id="c1", rule_id="r", title="t", severity=Severity.HIGH,
                      attack=("T1496",), confidence=1.0, evidence="xmrig")
    verdict = Verdict(trajectory_id="t", source="f", risk=0.7, max_severity=Severity.HIGH, findings=(finding,))
    writer = JsonlWriter(out)
    writer.write(verdict)
    writer.close()
    assert json.loads(out.read_text()) == verdict.to_dict()
