"""Output writers: the JSONL line of a clean trajectory is exactly what json.dumps writes."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("risk", [0.0, -0.0, 0])
def test_a_clean_verdict_keeps_how_its_risk_is_written(risk: Any) -> None:
    verdict = Verdict(trajectory_id="t", source="s", risk=risk, max_severity=None)
    assert JsonlWriter.line(verdict) == json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"


def test_verdict_with_findings_is_written_whole(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    finding = Finding(step=1, tool_call_id="c1", rule_id="r", title="t", severity=Severity.HIGH,
                      attack=("T1496",), confidence=1.0, evidence="xmrig")
    verdict = Verdict(trajectory_id="t", source="f", risk=0.7, max_severity=Severity.HIGH, findings=(finding,))
    writer = JsonlWriter(out)
    writer.write(verdict)
    writer.close()
    assert json.loads(out.read_text()) == verdict.to_dict()


_text = st.text(max_size=12)  # includes quotes, controls, non-ASCII and lone surrogates
_findings = st.builds(
    Finding,
    step=st.none() | st.integers(-3, 10**6),
    tool_call_id=_text,
    rule_id=_text,
    title=_text,
    severity=st.sampled_from(list(Severity)),
    attack=st.lists(_text, max_size=3).map(tuple),
    confidence=st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 0.5, 1.0, 1e-7]),
    evidence=_text,
    span=st.none() | st.tuples(st.integers(0, 10**5), st.integers(0, 10**5)),
    behaviour=_text,
)


@settings(max_examples=300, deadline=None)
@given(
    tid=_text,
    source=_text,
    risk=st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1),
    top=st.none() | st.sampled_from(list(Severity)),
    findings=st.lists(_findings, max_size=4).map(tuple),
)
def test_every_verdict_line_equals_json_dumps(
    tid: str, source: str, risk: float, top: Severity | None, findings: tuple[Finding, ...]
) -> None:
    verdict = Verdict(trajectory_id=tid, source=source, risk=risk, max_severity=top, findings=findings)
    assert JsonlWriter.line(verdict) == json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"
    # the same findings again, at another step and call (what a memoised command gives): the
    # writer reuses what it built for their other fields
    again = replace(verdict, findings=tuple(
        replace(f, step=None if f.step is None else f.step + 1, tool_call_id=f.tool_call_id + "'")
        for f in findings))
    assert JsonlWriter.line(again) == json.dumps(again.to_dict(), ensure_ascii=False) + "\n"


@pytest.mark.parametrize("first, second", [(0.0, -0.0), (1.0, True), (1.0, 1)])
def test_equal_but_differently_written_values_are_not_confused(first: Any, second: Any) -> None:
    def line(confidence: Any) -> str:
        finding = Finding(step=1, tool_call_id="c", rule_id="r", title="t", severity=Severity.LOW,
                          attack=("T1",), confidence=confidence, evidence="e")
        return JsonlWriter.line(Verdict(trajectory_id="t", source="s", risk=0.5,
                                        max_severity=Severity.LOW, findings=(finding,)))

    for confidence in (first, second, first):
        assert json.loads(line(confidence))["findings"][0]["confidence"] == confidence
        expected = json.dumps({"confidence": confidence})[len('{"confidence": '):-1]
        assert f'"confidence": {expected},' in line(confidence)


def test_corpus_verdict_lines_equal_json_dumps() -> None:
    from watchkeeper.audit import Auditor
    from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory

    auditor = Auditor.from_rules()
    corpus = Path(__file__).resolve().parents[1] / "data" / "corpus"
    flagged = 0
    for name in ("malicious.jsonl", "dual_use.jsonl", "benign.jsonl"):
        for i, line in enumerate((corpus / name).read_text(encoding="utf-8").splitlines()):
            command = json.loads(line)["command"]
            call = ToolCall(id=f"c{i}", name="bash", kind=ToolKind.SHELL, command=command, arguments_text=command)
            verdict = auditor.audit(Trajectory(id=f"{name}:{i}", source=name, format="t",
                                               steps=(Step(index=i, tool_calls=(call,)),)))
            flagged += bool(verdict.findings)
            assert JsonlWriter.line(verdict) == json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"
    assert flagged > 100


def test_a_fifo_output_is_written_in_place_not_replaced(tmp_path: Path, read_fifo: Any) -> None:
    """``-o /dev/null`` or a named pipe: renaming a temp file onto it would replace the node."""
    fifo, result = read_fifo("pipe")
    writer = JsonlWriter(fifo)
    verdict = Verdict(trajectory_id="t", source="f", risk=0.0, max_severity=None)
    writer.write(verdict)
    writer.close()
    assert result() == (json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n").encode()
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temp file left


def test_keep_clean_into_a_fifo(tmp_path: Path, read_fifo: Any) -> None:
    from watchkeeper.audit._keepclean import SourceIndex, write_clean_copy

    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "command": "ls"}\n{"id": "b", "command": "xmrig"}\n')
    index = SourceIndex()
    index.add(f"{data}:1", flagged=False)
    index.add(f"{data}:2", flagged=True)
    fifo, result = read_fifo("clean")
    assert write_clean_copy(index, fifo) == (1, 1)
    assert result() == b'{"id": "a", "command": "ls"}\n'
    assert stat.S_ISFIFO(fifo.stat().st_mode)
