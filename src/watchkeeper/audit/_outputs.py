"""Writers for ``watchkeeper audit --format table|jsonl|ocsf|parquet``.

Every writer writes to a temporary file next to the target and renames it on success, so an
interrupted or failed run never leaves a half-written output file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Protocol

from watchkeeper._files import special_file
from watchkeeper.alerts import Severity
from watchkeeper.audit._verdict import Finding, Verdict
from watchkeeper.errors import InputError


class VerdictWriter(Protocol):
    """Consumes verdicts one by one; ``close`` commits, ``abort`` discards."""

    def write(self, verdict: Verdict) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class _AtomicText:
    """A text stream to stdout, or to a temp file renamed onto ``path`` at close."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._tmp: str | None = None
        # A lone surrogate (a JSON "\\ud800" in an input id) is written as the escape it came
        # from instead of failing the run.
        if path is None:
            self.stream: IO[str] = sys.stdout
            reconfigure = getattr(sys.stdout, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")
        elif special_file(path):  # a device or pipe: written in place, never replaced
            self.stream = open(path, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        else:
            parent = path.resolve().parent
            if not parent.is_dir():
                raise InputError(f"output folder does not exist: {parent}")
            fd, self._tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
            self.stream = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace")

    def close(self) -> None:
        if self.path is None:
            self.stream.flush()
            return
        self.stream.close()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self.path is None:
            return
        self.stream.close()
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass


_string = json.encoder.encode_basestring
"""A JSON string literal, as ``json.dumps(..., ensure_ascii=False)`` writes it."""


_LABELS = {s: s.label for s in Severity}
_FINITE = (float("-inf"), float("inf"))


def _number(value: float) -> str | None:
    """A float as json.dumps writes it, or None for what it writes differently (NaN, inf)."""
    if type(value) is float and _FINITE[0] < value < _FINITE[1]:
        return repr(value)
    return None


_TAILS: dict[tuple[Any, ...], str] = {}
"""Finding JSON after its step and tool call id, by the fields it is made of: a memoised command's
findings repeat on every call that runs it."""
_TAILS_MAX = 4096


def _finding_json(f: Finding) -> str | None:
    """``json.dumps(f.to_dict(), ensure_ascii=False)`` for findings of the usual types, else None."""
    step = f.step
    if step is not None and type(step) is not int:
        return None
    number = _number(f.confidence)  # as text in the key: 0.0 and -0.0 are equal floats
    span = f.span
    if number is None or (span and not (len(span) == 2 and type(span[0]) is int and type(span[1]) is int)):
        return None
    try:
        key = (f.rule_id, f.title, f.severity, f.attack, f.evidence, span, number, f.behaviour)
        tail = _TAILS.get(key)
        if tail is None:
            tail = (
                f'"rule_id": {_string(f.rule_id)}, "title": {_string(f.title)}, "severity": "{_LABELS[f.severity]}", '
                f'"attack": [{", ".join(map(_string, f.attack))}], "evidence": {_string(f.evidence)}, '
                f'"span": {f"[{span[0]}, {span[1]}]" if span else "null"}, "confidence": {number}, '
                f'"behaviour": {_string(f.behaviour)}}}'
            )
            if len(_TAILS) >= _TAILS_MAX:
                _TAILS.clear()
            _TAILS[key] = tail
        return (
            f'{{"step": {"null" if step is None else step}, "tool_call_id": {_string(f.tool_call_id)}, '
            + tail
        )
    except (TypeError, KeyError):  # a field of another type (a foreign Finding): the slow path
        return None


class JsonlWriter:
    """Exactly one JSON object per trajectory (byte for byte what ``json.dumps`` writes)."""

    def __init__(self, path: Path | None) -> None:
        self._out = _AtomicText(path)

    def write(self, verdict: Verdict) -> None:
        self._out.stream.write(self.line(verdict))

    @staticmethod
    def line(verdict: Verdict) -> str:
        """The output line of ``verdict``, built without an intermediate dict where the values
        have the usual types (the same text as ``json.dumps(verdict.to_dict())``)."""
        head = f'{{"trajectory_id": {_string(verdict.trajectory_id)}, "source": {_string(verdict.source)}, '
        risk = verdict.risk
        if (not verdict.findings and verdict.max_severity is None and type(risk) is float and risk == 0.0
                and math.copysign(1.0, risk) > 0):  # json.dumps writes -0.0 and an int 0 otherwise
            return head + '"risk": 0.0, "max_severity": "none", "findings": []}\n'
        written = _number(round(risk, 4)) if type(risk) is float else None
        top = verdict.max_severity
        parts = [_finding_json(f) for f in verdict.findings]
        if written is None or (top is not None and top not in _LABELS) or None in parts:
            return json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"
        return (
            f'{head}"risk": {written}, "max_severity": "{_LABELS[top] if top is not None else "none"}", '
            f'"findings": [{", ".join(parts)}]}}\n'  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self._out.close()

    def abort(self) -> None:
        self._out.abort()


class OcsfWriter:
    """One OCSF Detection Finding per finding (JSONL)."""

    def __init__(self, path: Path | None) -> None:
        self._out = _AtomicText(path)

    def write(self, verdict: Verdict) -> None:
        for f in verdict.findings:
            self._out.stream.write(json.dumps(_finding_to_ocsf(verdict, f), ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._out.close()

    def abort(self) -> None:
        self._out.abort()


def _finding_to_ocsf(verdict: Verdict, f: Any) -> dict[str, Any]:
    from watchkeeper.export.ocsf import OCSF_VERSION, attacks_of, product

    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "activity_id": 1,
        "type_uid": 200401,
        "time": 0,
        "severity_id": int(f.severity),
        "severity": f.severity.name.capitalize(),
        "status_id": 1,
        "is_alert": f.severity >= Severity.MEDIUM,
        "confidence_score": round(f.confidence * 100),
        "risk_score": round(verdict.risk * 100),
        "finding_info": {
            "uid": f"{verdict.trajectory_id}:{f.step}:{f.tool_call_id}:{f.rule_id}",
            "title": f.title,
            "analytic": {"name": f.title, "uid": f.rule_id, "type_id": 1},
            "attacks": attacks_of(f.attack),
            "types": [f.behaviour] if f.behaviour else [],
        },
        "evidences": [{"data": {"field": f.field, "text": f.evidence}}],
        "metadata": {"version": OCSF_VERSION, "product": product(), "correlation_uid": verdict.trajectory_id},
        "unmapped": {
            "agent": {"trajectory_id": verdict.trajectory_id, "source": verdict.source,
                      "step": f.step, "tool_call_id": f.tool_call_id},
        },
    }


class TableWriter:
    """A human table of flagged trajectories (and a count of clean ones)."""

    def __init__(self, path: Path | None) -> None:
        self._out = _AtomicText(path)
        self._clean = 0

    def write(self, verdict: Verdict) -> None:
        if not verdict.findings:
            self._clean += 1
            return
        sev = verdict.max_severity.label if verdict.max_severity else "none"
        w = self._out.stream
        w.write(f"{verdict.trajectory_id}  risk={verdict.risk:.2f}  max={sev}  ({verdict.source})\n")
        for f in verdict.findings:
            ev = f.evidence.replace("\n", " ")
            if len(ev) > 100:
                ev = ev[:97] + "..."
            attack = ",".join(f.attack)
            w.write(f"  step {f.step}: [{f.severity.label}] {f.title} ({attack})\n      {ev}\n")

    def close(self) -> None:
        self._out.stream.write(f"{self._clean} trajectories with no finding\n")
        self._out.close()

    def abort(self) -> None:
        self._out.abort()


class ParquetWriter:
    """One row per trajectory with its findings as a list of structs, written with DuckDB."""

    def __init__(self, path: Path) -> None:
        self.path = path
        parent = path.resolve().parent
        if not parent.is_dir():
            raise InputError(f"output folder does not exist: {parent}")
        fd, self._tmp_jsonl = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".jsonl", dir=parent)
        # Parquet strings must be valid UTF-8: a lone surrogate from the input becomes "?"
        self._stream = os.fdopen(fd, "w", encoding="utf-8", errors="replace")

    def write(self, verdict: Verdict) -> None:
        self._stream.write(json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n")

    def close(self) -> None:
        import duckdb

        self._stream.close()
        tmp_parquet = self._tmp_jsonl + ".parquet"
        try:
            con = duckdb.connect()
            columns = (
                "{'trajectory_id': 'VARCHAR', 'source': 'VARCHAR', 'risk': 'DOUBLE', "
                "'max_severity': 'VARCHAR', 'findings': 'STRUCT(step BIGINT, tool_call_id VARCHAR, "
                "rule_id VARCHAR, title VARCHAR, severity VARCHAR, attack VARCHAR[], evidence VARCHAR, "
                "span BIGINT[], confidence DOUBLE, behaviour VARCHAR)[]'}"
            )
            con.execute(
                f"COPY (SELECT * FROM read_json(?, format='newline_delimited', columns={columns})) "
                "TO ? (FORMAT PARQUET)",
                [self._tmp_jsonl, tmp_parquet],
            )
            con.close()
            if special_file(self.path):  # a device or pipe: copy into it, never replace it
                with open(tmp_parquet, "rb") as src, open(self.path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                os.replace(tmp_parquet, self.path)
        finally:
            for p in (self._tmp_jsonl, tmp_parquet):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def abort(self) -> None:
        self._stream.close()
        try:
            os.unlink(self._tmp_jsonl)
        except FileNotFoundError:
            pass


def open_writer(fmt: str, output: Path | None) -> VerdictWriter:
    """The writer for a ``--format`` value."""
    if fmt == "jsonl":
        return JsonlWriter(output)
    if fmt == "ocsf":
        return OcsfWriter(output)
    if fmt == "parquet":
        assert output is not None
        return ParquetWriter(output)
    return TableWriter(output)
