from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchkeeper.alerts import Severity

Read = Callable[..., Any]  # the read fixture: (path, fmt, **options) -> (alerts, issues)

T0 = 1795773600.0  # 2026-11-27T10:00:00Z, base time of the sample logs


def test_eve_alerts(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "eve.json")
    assert [a.source.rsplit(":", 1)[1] for a in alerts] == ["1", "4", "5", "8", "9", "10"]
    first = alerts[0]
    assert (first.ts, first.src_ip, first.src_port, first.dst_ip, first.dst_port, first.proto) == (
        T0 + 7.5, "10.88.0.2", 40000, "203.0.113.7", 80, "tcp")
    assert first.signature == "ET POLICY curl User-Agent Outbound"
    assert first.severity is Severity.MEDIUM and first.kind == "suricata"
    assert first.community_id == "1:0q5Z1hCnZ/fkqdX0XSlhS/GGaMU="
    assert first.raw["signature_id"] == 2013028 and first.raw["flow_id"] == 1001
    assert alerts[1].severity is Severity.HIGH and alerts[2].severity is Severity.LOW
    icmp = alerts[4]
    assert (icmp.proto, icmp.src_port, icmp.dst_port) == ("icmp", 8, 0)  # type, code
    v6 = alerts[5]
    assert (v6.src_ip, v6.dst_ip) == ("2001:db8::1", "2001:db8::2")  # compressed
    assert [(i.location.line, i.message) for i in issues] == [
        (6, "not an ISO 8601 time: 'not a time'"), (7, "not valid JSON")]


def test_eve_optional_event_types(data: Path, read: Read) -> None:
    alerts, _ = read(data / "logs" / "eve.json", eve_types=frozenset({"alert", "dns", "flow"}))
    by_line = {a.source.rsplit(":", 1)[1]: a for a in alerts}
    assert by_line["3"].message == "dns pool.minexmr.com" and by_line["3"].raw["rrname"] == "pool.minexmr.com"
    assert by_line["2"].signature == "suricata flow" and by_line["2"].message == "http closed"
    assert by_line["2"].severity is None


def test_eve_hostile_lines(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "eve.json"
    path.write_text(
        '{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1",'
        '"dest_ip":"10.0.0.2","proto":"TCP","alert":{"signature":"x","severity":1}}\n'
        '[1, 2, 3]\n'
        '{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1",'
        '"dest_ip":"10.0.0.2","src_port":99999,"proto":"TCP","alert":{"signature":"x"}}\n'
        '{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"999.1.1.1",'
        '"dest_ip":"10.0.0.2","proto":"TCP","alert":{"signature":"x"}}\n'
        '{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1"}\n'
        '{"timestamp":"2026-11-27T10:00:00Z","src_ip":"10.0.0.1"}\n'
        + "[" * 100_000 + "\n"
    )
    alerts, issues = read(path)
    assert len(alerts) == 1
    assert [i.location.line for i in issues] == [2, 3, 4, 5, 6, 7]
