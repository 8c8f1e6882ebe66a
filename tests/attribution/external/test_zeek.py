from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Read = Callable[..., Any]  # the read fixture: (path, fmt, **options) -> (alerts, issues)

T0 = 1795773600.0  # 2026-11-27T10:00:00Z, base time of the sample logs



def test_conn_tsv(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "conn.log")
    assert [a.source.rsplit(":", 1)[1] for a in alerts] == ["9", "10", "12"]
    ssl = alerts[0]
    assert (ssl.ts, ssl.src_ip, ssl.src_port, ssl.dst_ip, ssl.dst_port, ssl.proto) == (
        1795773905.123456, "10.88.0.3", 50000, "203.0.113.20", 443, "tcp")
    assert ssl.kind == "zeek-conn" and ssl.signature == "zeek conn ssl"
    assert ssl.message == "SF ShADadfF 517/4096 bytes" and ssl.raw["uid"] == "Cx1a2b3c4d5e6f7g8"
    assert alerts[1].signature == "zeek conn" and alerts[1].message == "S0 S"  # "-" is unset
    assert alerts[2].raw["service"] == "http,ssl"  # \x2c escape decoded
    assert [(i.location.line, i.message) for i in issues] == [(11, "4 values for 21 #fields")]


def test_conn_json_flat_and_nested(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "conn.json")
    assert not issues
    flat, nested = alerts
    assert flat.community_id == "1:Eab33348piyDyQ5u31UiiKENnNE=" and flat.dst_port == 4444
    assert nested.ts == T0 + 306 and (nested.src_ip, nested.dst_port) == ("10.88.0.3", 53)
    assert nested.signature == "zeek conn dns" and nested.proto == "udp"


def test_notice_tsv_and_json(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "notice.log")
    assert not issues
    scan, stratum = alerts
    assert scan.kind == "zeek-notice" and scan.signature == "Scan::Port_Scan"
    # no id.* fields: src/dst of the notice are used
    assert (scan.src_ip, scan.dst_ip, scan.src_port, scan.dst_port) == ("10.88.0.2", "203.0.113.99", None, None)
    assert stratum.message == "Stratum\tlogin seen" and stratum.dst_port == 3333
    (guess,), issues = read(data / "logs" / "notice.json")
    assert not issues and guess.kind == "zeek-notice"
    assert (guess.src_ip, guess.dst_ip, guess.dst_port) == ("203.0.113.50", "10.88.0.2", 22)
    assert guess.signature == "SSH::Password_Guessing"


def test_custom_separator_and_other_logs(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "dns.log"
    path.write_text(
        "#separator \\x2c\n#set_separator,;\n#empty_field,(empty)\n#unset_field,-\n#path,dns\n"
        "#fields,ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,query\n"
        "1795773600.5,C1,10.88.0.2,5353,10.88.0.1,53,udp,pool.minexmr.com\n"
        "x,C2,10.88.0.2,5353,10.88.0.1,53,udp,a\n"
    )
    alerts, issues = read(path)
    assert len(alerts) == 1 and alerts[0].kind == "zeek-dns" and alerts[0].message == "pool.minexmr.com"
    assert issues[0].location.line == 8 and "time" in issues[0].message


def test_forced_log_kind_and_record_before_fields(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "x.txt"
    path.write_text(
        '{"ts": 1795773600, "id.orig_h": "10.0.0.1", "id.resp_h": "10.0.0.2", "note": "X::Y"}\n')
    (alert,), _ = read(path, fmt="zeek-notice")
    assert alert.kind == "zeek-notice" and alert.signature == "X::Y"
    bad = tmp_path / "conn.log"
    bad.write_text("#separator \\x09\n1795773600\tC1\n")
    alerts, issues = read(bad)
    assert not alerts and "before any #fields" in issues[0].message
