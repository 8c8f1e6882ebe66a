from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import InputError

Read = Callable[..., Any]  # the read fixture: (path, fmt, **options) -> (alerts, issues)

T0 = 1795773600.0  # 2026-11-27T10:00:00Z, base time of the sample logs


def test_syslog_kernel_lines(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "kern.log", year=2026)
    assert [a.source.rsplit(":", 1)[1] for a in alerts] == ["2", "4", "5"]
    out = alerts[0]
    assert (out.ts, out.src_ip, out.src_port, out.dst_ip, out.dst_port, out.proto) == (
        T0 + 8, "10.88.0.2", 40010, "203.0.113.7", 80, "tcp")
    assert out.kind == "iptables" and out.signature == "IPT-OUT-DROP"
    assert out.raw["out"] == "eth0" and out.raw["ttl"] == "64"
    echo, unreachable = alerts[1], alerts[2]
    assert (echo.proto, echo.src_port, echo.dst_port) == ("icmp", 8, 0)
    # the quoted inner header of an ICMP error does not override the outer addresses
    assert (unreachable.src_ip, unreachable.dst_ip, unreachable.src_port) == (
        "203.0.113.20", "10.88.0.3", 3)
    assert [(i.location.line, i.message) for i in issues] == [
        (3, "packet log line without SRC, DST and PROTO")]


def test_iso_stamps_and_own_prefixes(data: Path, read: Read) -> None:
    alerts, issues = read(data / "logs" / "nft.log")
    assert not issues
    deny, cut, v6 = alerts
    assert deny.ts == T0 + 90.25 and deny.kind == "nft" and deny.signature == "wk-deny"
    assert deny.raw["sandbox_id"] == "sbx-a" and deny.proto == "udp" and deny.dst_port == 53
    assert cut.signature == "wk-cut" and cut.raw["sandbox_id"] == "sbx-b"
    assert (v6.src_ip, v6.proto, v6.src_port) == ("fd00::2", "icmp6", 128)
    forced, _ = read(data / "logs" / "nft.log", fmt="iptables")
    assert {a.kind for a in forced} == {"iptables"}


def test_dmesg_needs_boot_time(data: Path, read: Read) -> None:
    with pytest.raises(InputError, match="--boot-time"):
        read(data / "logs" / "dmesg.txt")
    (alert,), _ = read(data / "logs" / "dmesg.txt", boot_time=T0 - 3600)
    assert alert.ts == T0 + 68 and alert.dst_ip == "10.88.0.2" and alert.signature == "IPT-DROP"


def test_rfc3164_year_from_mtime_and_time_zone(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "messages"
    path.write_text("Dec 31 23:59:59 host kernel: X: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 "
                    "PROTO=UDP SPT=1 DPT=2\n"
                    "Jan  1 00:00:01 host kernel: X: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 "
                    "PROTO=UDP SPT=1 DPT=2\n")
    jan = datetime(2027, 1, 1, 12, tzinfo=UTC).timestamp()
    os.utime(path, (jan, jan))
    alerts, _ = read(path)
    # a December line in a file last written in January is from the year before
    assert alerts[0].ts == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert alerts[1].ts == datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    plus2 = timezone(timedelta(hours=2))
    shifted, _ = read(path, year=2030, tz=plus2)
    assert shifted[1].ts == datetime(2030, 1, 1, 0, 0, 1, tzinfo=plus2).timestamp()


@pytest.mark.parametrize(
    ("line", "ts"),
    [
        ("1795773600.250000 host kernel: P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2",
         T0 + 0.25),
        ("[Fri Nov 27 10:00:01 2026] P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2",
         T0 + 1),
        ("Nov 27 10:00:02.500000 host kernel: P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP",
         T0 + 2.5),
        ("2026-11-27 10:00:03,5 host P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP", T0 + 3.5),
    ],
)
def test_other_stamp_forms(tmp_path: Path, line: str, ts: float, read: Read) -> None:
    path = tmp_path / "k.log"
    path.write_text(line + "\n")
    (alert,), issues = read(path, year=2026)
    assert not issues and alert.ts == pytest.approx(ts) and alert.signature == "P"


def test_lines_without_a_stamp_or_bad_values(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "k.log"
    path.write_text(
        "garbage P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2\n"
        "Nov 27 10:00:00 host kernel: P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=x\n"
        "Feb 30 10:00:00 host kernel: P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1\n"
        "Nov 27 10:00:00 host kernel: P: IN=a OUT= SRC=10.0.0.1 DST=nothing PROTO=TCP\n"
    )
    alerts, issues = read(path, fmt="iptables", year=2026)
    assert not alerts and [i.location.line for i in issues] == [1, 2, 3, 4]
