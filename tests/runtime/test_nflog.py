"""The NFLOG reader: record decoding, and a live group bind."""

from __future__ import annotations

import os
import socket
import struct

import pytest

from watchkeeper.runtime.nflog import (
    NFULA_PAYLOAD,
    NFULA_PREFIX,
    NflogSensor,
    _attr,
    parse_record,
)


def _ipv4_tcp(src: str, dst: str, sport: int, dport: int) -> bytes:
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return header + struct.pack(">HHIIBBHHH", sport, dport, 0, 0, 0x50, 0x02, 0, 0, 0)


@pytest.mark.parametrize(
    ("prefix", "kind", "sandbox"),
    [("wk-deny:run1-a ", "wk-deny:", "run1-a"), ("wk-cut:x ", "wk-cut:", "x"),
     ("wk-fwd:y ", "wk-fwd:", "y")],  # fmt: skip
)
def test_parse_record(prefix: str, kind: str, sandbox: str) -> None:
    body = _attr(NFULA_PREFIX, prefix.encode() + b"\0") + _attr(
        NFULA_PAYLOAD, _ipv4_tcp("10.213.0.2", "10.213.0.1", 40000, 22)
    )
    record = parse_record(body)
    assert record is not None
    assert (record.prefix, record.sandbox_id, record.protocol) == (kind, sandbox, "tcp")
    assert (record.src_ip, record.src_port, record.dst_ip, record.dst_port) == (
        "10.213.0.2", 40000, "10.213.0.1", 22)  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00" * 3, _attr(NFULA_PREFIX, b"other-prefix\0"),
     _attr(NFULA_PREFIX, b"wk-deny:a \0") + _attr(NFULA_PAYLOAD, b"\x60" + b"\0" * 39),
     _attr(NFULA_PREFIX, b"wk-deny:a \0") + _attr(NFULA_PAYLOAD, b"\x45\0\0"),
     struct.pack("=HH", 2, 10) * 4],  # fmt: skip
)
def test_foreign_or_short_records_are_skipped(body: bytes) -> None:
    assert parse_record(body) is None


@pytest.mark.root
def test_binds_a_free_group_and_releases_it() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    first, second = NflogSensor(), NflogSensor()
    try:
        a, b = first.bind(), second.bind()
        assert a != b  # a bound group is busy for everyone else
        with open("/proc/net/netfilter/nfnetlink_log") as fh:
            groups = {int(line.split()[0]) for line in fh if line.strip()}
        assert {a, b} <= groups
    finally:
        first.stop()
        second.stop()
    assert first.group is None
