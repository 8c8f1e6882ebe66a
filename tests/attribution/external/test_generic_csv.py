from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchkeeper.alerts import Severity

Read = Callable[..., Any]  # the read fixture: (path, fmt, **options) -> (alerts, issues)

T0 = 1795773600.0  # 2026-11-27T10:00:00Z, base time of the sample logs


def test_csv_rows(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "alerts.csv")
    first, second = alerts
    assert (first.ts, first.src_ip, first.src_port, first.dst_ip, first.dst_port, first.proto) == (
        T0 + 25, "10.88.0.2", 40020, "198.51.100.9", 3333, "tcp")
    assert first.message == "stratum login, xmrig agent" == first.signature
    assert first.severity is Severity.HIGH and first.raw == {"sensor": "edge-1"}
    assert second.ts == T0 + 30.5 and second.severity is Severity.MEDIUM
    assert [(i.location.line, i.message) for i in issues] == [
        (4, "not an ISO 8601 time: 'yesterday'"), (5, "not a port: 'notaport'")]


def test_aliases_minimal_columns_and_short_rows(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "fw.csv"
    path.write_text("timestamp,source_ip,destination_ip,rule,level\n"
                    "2026-11-27T10:00:00+01:00,10.0.0.1,10.0.0.2,R1,critical\n"
                    "2026-11-27T10:00:00\n"
                    "2026-11-27T10:00:00,10.0.0.1,10.0.0.2,R2,9\n")
    alerts, issues = read(path)
    (alert,) = alerts
    assert alert.ts == T0 - 3600 and alert.signature == "R1" and alert.severity is Severity.CRITICAL
    assert alert.src_port is None and alert.proto == ""
    assert [i.location.line for i in issues] == [3, 4]


def test_header_without_required_columns(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "x.csv"
    path.write_text("ts,src_ip,message\n1,10.0.0.1,x\n")
    alerts, issues = read(path, fmt="csv")
    assert not alerts and "dst_ip" in issues[0].message
