"""DNS forwarder: wire format, policy, hostile packets, a loopback server, and a real sandbox."""

from __future__ import annotations

import json
import random
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import SandboxHost
from watchkeeper.sandbox.dns import (
    DnsFormatError,
    DnsForwarder,
    DnsQuery,
    StaticResolver,
    name_matches,
    parse_query,
)

PY = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


def query(name: str, qtype: int = 1, ident: int = 0x1234, flags: int = 0x0100) -> bytes:
    body = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    return struct.pack("!6H", ident, flags, 1, 0, 0, 0) + body + struct.pack("!HH", qtype, 1)


def decode(reply: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, A answers) of a response built by the forwarder."""
    ident, flags, qd, an, _, _ = struct.unpack_from("!6H", reply, 0)
    assert flags & 0x8000 and qd in (0, 1)
    pos = 12
    if qd:
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 5
    answers = []
    for _ in range(an):
        _ptr, rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHHIH", reply, pos)
        pos += 12
        assert rtype == 1 and rdlen == 4
        answers.append(socket.inet_ntoa(reply[pos : pos + 4]))
        pos += rdlen
    return ident, flags & 0xF, answers


@pytest.fixture
def seen() -> list[DnsQuery]:
    return []


@pytest.fixture
def fwd(seen: list[DnsQuery]) -> DnsForwarder:
    return DnsForwarder(
        "127.0.0.1",
        allow=["svc.test", "*.pool.test"],
        resolver=StaticResolver({"svc.test": ["10.0.0.7", "10.0.0.8"], "*.pool.test": ["10.0.0.9"]}),
        on_query=seen.append,
        port=0,
    )


def test_parse_query_lowercases_and_escapes() -> None:
    q = parse_query(query("WWW.Example.COM", qtype=28))
    assert (q.name, q.qtype_name, q.id) == ("www.example.com", "AAAA", 0x1234)
    raw = struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x05a.b\x00c\x04test\x00" + struct.pack("!HH", 1, 1)
    assert parse_query(raw).name == "a\\046b\\000c.test"  # a label cannot fake a dot


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"\x00" * 11, "shorter"),
        (query("a.test", flags=0x8000), "response"),
        (query("a.test", flags=0x2800), "opcode"),
        (struct.pack("!6H", 1, 0, 2, 0, 0, 0) + b"\0" + b"\0\1\0\1", "2 questions"),
        (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c" + b"\0\1\0\1", "compression loop"),
        (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x3fabc", "past the packet"),
        (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 5 + b"\0\0\1\0\1", "255"),
        (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x01a\x00\x00", "truncated"),
        (struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x80abc", "label type"),
    ],
)
def test_parse_query_rejects(packet: bytes, reason: str) -> None:
    with pytest.raises(DnsFormatError, match=reason):
        parse_query(packet)


@pytest.mark.parametrize(
    ("pattern", "name", "ok"),
    [
        ("svc.test", "svc.test", True),
        ("svc.test", "a.svc.test", False),
        ("*.pool.test", "eu.pool.test", True),
        ("*.pool.test", "pool.test", False),
        ("*.pool.test", "evilpool.test", False),
        ("SVC.test.", "svc.test", True),
    ],
)
def test_name_matches(pattern: str, name: str, ok: bool) -> None:
    assert name_matches(pattern, name) is ok


def test_allowed_name_is_answered(fwd: DnsForwarder, seen: list[DnsQuery]) -> None:
    reply = fwd.handle(query("SVC.test"), ("10.1.1.2", 5353))
    assert reply is not None and decode(reply) == (0x1234, 0, ["10.0.0.7", "10.0.0.8"])
    assert seen[-1].name == "svc.test" and seen[-1].allowed and seen[-1].rcode == "NOERROR"
    assert seen[-1].answers == ("10.0.0.7", "10.0.0.8") and seen[-1].client == ("10.1.1.2", 5353)
    reply = fwd.handle(query("x.eu.pool.test"), ("10.1.1.2", 1))
    assert reply is not None and decode(reply)[2] == ["10.0.0.9"]


def test_denied_and_other_cases(fwd: DnsForwarder, seen: list[DnsQuery]) -> None:
    cases = [
        (query("evil.test"), 3, False),  # not on the list: NXDOMAIN
        (query("svc.test", qtype=28), 0, True),  # AAAA: empty NOERROR (IPv6 is off inside)
        (query("svc.test", qtype=16), 0, True),  # TXT: empty NOERROR, no data channel
        (query("nothing.pool.test.x"), 3, False),
    ]
    for packet, rcode, allowed in cases:
        reply = fwd.handle(packet, ("10.1.1.2", 1))
        assert reply is not None
        assert decode(reply)[1:] == (rcode, [])
        assert seen[-1].allowed is allowed


def test_refused_mode_and_missing_static_entry(seen: list[DnsQuery]) -> None:
    fwd = DnsForwarder("127.0.0.1", allow=["known.test", "gone.test"], port=0,
                       resolver=StaticResolver({"known.test": ["10.0.0.1"]}),
                       on_query=seen.append, denied_rcode="REFUSED")
    assert decode(fwd.handle(query("other.test"), ("c", 1)) or b"")[1] == 5
    assert decode(fwd.handle(query("gone.test"), ("c", 1)) or b"")[1] == 3
    assert seen[-1].allowed and seen[-1].rcode == "NXDOMAIN"


def test_enforcement_failure_gives_servfail_and_observer_failure_is_ignored() -> None:
    def broken_allow(name: str, addrs: tuple[str, ...], ttl: int) -> None:
        raise RuntimeError("nft failed")

    def broken_observer(q: DnsQuery) -> None:
        raise RuntimeError("observer failed")

    fwd = DnsForwarder("127.0.0.1", allow=["svc.test"], port=0,
                       resolver=StaticResolver({"svc.test": ["10.0.0.1"]}),
                       on_allow=broken_allow, on_query=broken_observer)
    reply = fwd.handle(query("svc.test"), ("c", 1))
    assert reply is not None and decode(reply)[1:] == (2, [])


def test_on_allow_runs_before_answer(seen: list[DnsQuery]) -> None:
    opened: list[tuple[str, tuple[str, ...]]] = []
    fwd = DnsForwarder("127.0.0.1", allow=["svc.test"], port=0,
                       resolver=StaticResolver({"svc.test": ["10.0.0.1", "::1"]}),
                       on_allow=lambda n, a, t: opened.append((n, a)))
    fwd.handle(query("svc.test"), ("c", 1))
    fwd.handle(query("no.test"), ("c", 1))
    assert opened == [("svc.test", ("10.0.0.1",))]


def test_formerr_and_silence(fwd: DnsForwarder, seen: list[DnsQuery]) -> None:
    two = struct.pack("!6H", 7, 0, 2, 0, 0, 0) + b"\0\0\1\0\1" * 2
    reply = fwd.handle(two, ("c", 1))
    assert reply is not None and decode(reply) == (7, 1, [])
    assert seen[-1].rcode == "FORMERR"
    assert fwd.handle(b"\x01\x02", ("c", 1)) is None
    assert fwd.handle(query("svc.test", flags=0x8000), ("c", 1)) is None  # never answer answers


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_never_raises(packet: bytes) -> None:
    fwd = DnsForwarder("127.0.0.1", allow=["*.test"], port=0,
                       resolver=StaticResolver({"*.test": ["10.0.0.1"]}))
    reply = fwd.handle(packet, ("c", 1))
    assert reply is None or len(reply) >= 12


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=6))
def test_mutated_queries_never_raise(edits: list[tuple[int, int]]) -> None:
    packet = bytearray(query("a.b.pool.test"))
    for index, value in edits:
        if index < len(packet):
            packet[index] = value
    fwd = DnsForwarder("127.0.0.1", allow=["*.test"], port=0,
                       resolver=StaticResolver({"*.test": ["10.0.0.1"]}))
    fwd.handle(bytes(packet), ("c", 1))


@pytest.fixture
def server(fwd: DnsForwarder) -> Iterator[DnsForwarder]:
    fwd.start()
    try:
        yield fwd
    finally:
        fwd.stop()
        fwd.stop()


def test_udp_and_tcp_on_loopback(server: DnsForwarder, seen: list[DnsQuery]) -> None:
    addr = server.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\xff" * 5, addr)  # garbage first: no reply, no crash
        sock.sendto(struct.pack("!6H", 9, 0, 0, 0, 0, 0), addr)  # header only: FORMERR
        assert decode(sock.recv(512))[:2] == (9, 1)
        sock.sendto(query("svc.test", ident=42), addr)
        assert decode(sock.recv(512)) == (42, 0, ["10.0.0.7", "10.0.0.8"])
    with socket.create_connection(addr, 2) as conn:
        conn.settimeout(2)
        for ident, name in ((1, "a.pool.test"), (2, "evil.test")):
            packet = query(name, ident=ident)
            conn.sendall(struct.pack("!H", len(packet)) + packet)
            (length,) = struct.unpack("!H", conn.recv(2))
            data = b""
            while len(data) < length:
                data += conn.recv(length - len(data))
            ident_back, rcode, answers = decode(data)
            assert ident_back == ident
            assert (rcode, answers) == ((0, ["10.0.0.9"]) if ident == 1 else (3, []))
    assert [q.transport for q in seen][-2:] == ["tcp", "tcp"]


def test_bind_failure_is_a_sandbox_error() -> None:
    with pytest.raises(SandboxError, match="cannot listen"):
        DnsForwarder("192.0.2.254", allow=[], resolver=StaticResolver({}), port=0).start()


# ------------------------------------------------------------------ inside a sandbox

RESOLVE = """
import json, socket, sys
out = {}
for name in sys.argv[2:]:
    try:
        out[name] = socket.gethostbyname(name)
    except OSError as e:
        out[name] = type(e).__name__
try:
    socket.create_connection(("svc.test", int(sys.argv[1])), 2).close(); out["connect"] = "ok"
except OSError as e:
    out["connect"] = type(e).__name__
print(json.dumps(out))
"""


@pytest.mark.root
def test_sandbox_resolves_through_forwarder(make_box: Callable[..., SandboxHost]) -> None:
    seen: list[DnsQuery] = []
    port = random.randint(20000, 60000)
    box = make_box(
        "dn",
        allow=(f"svc.test:{port}/tcp", "*.pool.test"),
        dns={"svc.test": ("host",), "*.pool.test": ("10.0.0.9",)},
        on_dns_query=seen.append,
        nflog_group=None,
    )
    assert box.info is not None
    with socket.socket() as listener:
        listener.bind((box.info.host_addr, port))
        listener.listen(1)
        result = box.run([PY, "-c", RESOLVE, str(port), "svc.test", "eu.pool.test", "evil.test"],
                         timeout=30)
    out = json.loads(result.stdout)
    assert out["svc.test"] == box.info.host_addr
    assert out["eu.pool.test"] == "10.0.0.9"
    assert out["evil.test"] == "gaierror"
    assert out["connect"] == "ok"  # the answer opened svc.test's port in the firewall
    by_name = {q.name: q for q in seen if q.qtype == "A"}
    assert by_name["evil.test"].allowed is False and by_name["evil.test"].rcode == "NXDOMAIN"
    assert by_name["svc.test"].answers == (box.info.host_addr,)
    assert {q.client[0] for q in seen} == {box.info.sandbox_addr}
