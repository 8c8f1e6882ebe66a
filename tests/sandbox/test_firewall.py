"""Egress policy: allow-spec parsing, rendering, and real traffic between a sandbox and its host end."""

from __future__ import annotations

import json
import random
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from watchkeeper.sandbox import SandboxHost
from watchkeeper.sandbox.firewall import (
    AllowEntry,
    AllowSpecError,
    Firewall,
    parse_allow,
    parse_allow_list,
)

PY = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("10.0.0.1", AllowEntry("net", "10.0.0.1/32", None, None)),
        ("10.0.0.0/8", AllowEntry("net", "10.0.0.0/8", None, None)),
        ("10.0.0.5/24", AllowEntry("net", "10.0.0.0/24", None, None)),
        ("10.1.2.3:443", AllowEntry("net", "10.1.2.3/32", (443, 443), None)),
        ("10.1.2.3:53/udp", AllowEntry("net", "10.1.2.3/32", (53, 53), "udp")),
        ("10.1.2.3/UDP", AllowEntry("net", "10.1.2.3/32", None, "udp")),
        ("10.0.0.0/8:8000-8100/tcp", AllowEntry("net", "10.0.0.0/8", (8000, 8100), "tcp")),
        ("host", AllowEntry("host", "host", None, None)),
        ("host:8080", AllowEntry("host", "host", (8080, 8080), None)),
        ("Example.COM.", AllowEntry("name", "example.com", None, None)),
        ("example.com:443", AllowEntry("name", "example.com", (443, 443), None)),
        ("*.pool.test:3333/tcp", AllowEntry("name", "*.pool.test", (3333, 3333), "tcp")),
    ],
)
def test_parse_allow(spec: str, expected: AllowEntry) -> None:
    entry = parse_allow(spec)
    assert (entry.kind, entry.target, entry.ports, entry.proto) == (
        expected.kind, expected.target, expected.ports, expected.proto
    )
    assert entry.spec == spec


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("", "empty"),
        ("10.0.0.1:0", "1-65535"),
        ("10.0.0.1:70000", "port"),
        ("10.0.0.1:90-80", "low <= high"),
        ("10.0.0.1:http", "not a number"),
        ("::1", "IPv6"),
        ("[::1]:80", "IPv6"),
        ("10.0.0.300", "does not appear"),
        ("exa mple.com", "not an IPv4"),
        ("*.com", "two labels"),
        ("a..b", "not an IPv4"),
        ("-bad.example", "not an IPv4"),
    ],
)
def test_parse_allow_errors(spec: str, reason: str) -> None:
    with pytest.raises(AllowSpecError, match=reason) as info:
        parse_allow(spec, source="policy.yml")
    assert info.value.location is not None and info.value.location.path == "policy.yml"


def test_parse_allow_list_reports_every_bad_entry() -> None:
    with pytest.raises(AllowSpecError) as info:
        parse_allow_list(["10.0.0.1", "bad name", "1.2.3.4:0"])
    assert "bad name" in str(info.value) and "1.2.3.4:0" in str(info.value)


def test_wildcard_matches_subdomains_only() -> None:
    entry = parse_allow("*.pool.test")
    assert entry.matches_name("eu.pool.test") and entry.matches_name("a.b.pool.test")
    assert not entry.matches_name("pool.test") and not entry.matches_name("xpool.test")
    assert parse_allow("pool.test").matches_name("pool.test")


def test_render_has_default_deny_and_entries() -> None:
    fw = Firewall(
        "t1",
        host_if="wkhabc",
        host_addr="10.213.0.1",
        allow=parse_allow_list(["host:8080/tcp", "10.0.0.0/8", "pool.test:3333", "10.9.9.9/udp"]),
        nflog_group=7,
    )
    text = fw.render()
    assert "table inet wk_t1 {" in text and "hook prerouting priority -180" in text
    assert "ip daddr 10.213.0.1 meta l4proto tcp th dport 8080 accept" in text
    assert "elements = { 10.0.0.0/8 }" in text
    assert "ip daddr @dyn2 meta l4proto { tcp, udp } th dport 3333 accept" in text
    assert "ip daddr 10.9.9.9/32 meta l4proto udp accept" in text
    assert 'log prefix "wk-deny:t1 " group 7' in text and "limit rate 20/second" in text
    assert text.index("th dport 53 accept") < text.index("counter name")
    assert text.rstrip().endswith("}")
    assert "log" not in Firewall("t2", host_if="x", host_addr="10.0.0.1", nflog_group=None).render()


# ------------------------------------------------------------------ real traffic

pytestmark = pytest.mark.root


class NflogListener:
    """Minimal NFLOG reader (NETLINK_NETFILTER) returning the prefixes of logged packets."""

    def __init__(self, group: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
        self.sock.bind((0, 0))
        self.sock.settimeout(0.2)
        self._config(group, struct.pack("=HHB3x", 5, 1, 1))  # CFG_CMD BIND
        self._config(group, struct.pack("=HH", 10, 2) + struct.pack("!IBx2x", 256, 2))  # MODE packet
        self._config(group, struct.pack("=HH", 8, 5) + struct.pack("!I", 1))  # QTHRESH 1

    def _config(self, group: int, attrs: bytes) -> None:
        body = struct.pack("=BBH", 0, 0, socket.htons(group)) + attrs
        header = struct.pack("=IHHII", 16 + len(body), (4 << 8) | 1, 1 | 4, 0, 0)
        self.sock.send(header + body)
        ack = self.sock.recv(4096)
        error = struct.unpack_from("=i", ack, 16)[0]
        if error:
            raise OSError(-error, "NFLOG config failed")

    def prefixes(self, wait: float, until: str = "") -> list[str]:
        found: list[str] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not (until and until in found):
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            offset = 0
            while offset + 16 <= len(data):
                length, _type = struct.unpack_from("=IH", data, offset)
                pos = offset + 20
                while pos + 4 <= offset + length:
                    alen, atype = struct.unpack_from("=HH", data, pos)
                    if alen < 4:
                        break
                    if atype & 0x7FFF == 10:
                        found.append(data[pos + 4 : pos + alen].rstrip(b"\0").decode())
                    pos += (alen + 3) & ~3
                offset += max(16, (length + 3) & ~3)
        return found

    def close(self) -> None:
        self.sock.close()


class Server:
    """A host-end TCP server that greets and counts each connection (a thread)."""

    def __init__(self, addr: str, port: int, banner: bytes) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.accepted = 0
        self.banner = banner
        self._stop = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.sendall(self.banner)
            self._conns.append(conn)

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[Callable[[str, int, bytes], Server]]:
    made: list[Server] = []

    def factory(addr: str, port: int, banner: bytes = b"hi") -> Server:
        made.append(Server(addr, port, banner))
        return made[-1]

    yield factory
    for server in made:
        server.close()


def ports(n: int) -> list[int]:
    return random.sample(range(20000, 60000), n)


CLIENT = """
import json, socket, sys, time, errno
out = {}
def tcp(host, port):
    start = time.monotonic()
    try:
        s = socket.create_connection((host, port), 3)
        s.settimeout(3)
        return s.recv(100).decode(), time.monotonic() - start
    except OSError as e:
        return type(e).__name__, time.monotonic() - start
def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    s.connect((host, port))
    try:
        s.send(b"ping"); s.recv(100); return "answered"
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__)
for kind, host, port in json.loads(sys.argv[1]):
    out[f"{kind}:{host}:{port}"] = tcp(host, port) if kind == "tcp" else udp(host, port)
print(json.dumps(out))
"""


def probe(box: SandboxHost, targets: list[tuple[str, str, int]]) -> dict[str, object]:
    result = box.run([PY, "-c", CLIENT, json.dumps(targets)], timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_allowed_port_denied_port_and_udp(
    make_box: Callable[..., SandboxHost], servers: Callable[..., Server]
) -> None:
    group = random.randint(30000, 39999)
    listener = NflogListener(group)
    try:
        a, b = ports(2)
        box = make_box("fw", allow=(f"host:{a}/tcp",), nflog_group=group)
        assert box.info is not None and box.firewall is not None
        host = box.info.host_addr
        servers(host, a, b"hello-a")
        srv_b = servers(host, b, b"hello-b")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_b:
            udp_b.bind((host, b))
            udp_b.setblocking(False)
            before = box.firewall.counters().denied_packets
            out = probe(box, [("tcp", host, a), ("tcp", host, b), ("udp", host, b)])
            assert out[f"tcp:{host}:{a}"][0] == "hello-a"  # type: ignore[index]
            refused, seconds = out[f"tcp:{host}:{b}"]  # type: ignore[misc]
            assert refused == "ConnectionRefusedError" and seconds < 1.0  # RST, not a timeout
            assert out[f"udp:{host}:{b}"] in ("EHOSTUNREACH", "ECONNREFUSED")
            assert srv_b.accepted == 0
            with pytest.raises(BlockingIOError):
                udp_b.recv(100)
        assert box.firewall.counters().denied_packets - before >= 2
        prefixes = listener.prefixes(wait=3, until=f"wk-deny:{box.spec.id} ")
        assert f"wk-deny:{box.spec.id} " in prefixes
    finally:
        listener.close()


def test_host_entry_allows_every_port(
    make_box: Callable[..., SandboxHost], servers: Callable[..., Server]
) -> None:
    a, b = ports(2)
    box = make_box("fh", allow=("host",), nflog_group=None)
    assert box.info is not None
    host = box.info.host_addr
    servers(host, a, b"one")
    servers(host, b, b"two")
    out = probe(box, [("tcp", host, a), ("tcp", host, b)])
    assert [v[0] for v in out.values()] == ["one", "two"]  # type: ignore[index]


def test_sandboxes_cannot_reach_each_other(make_box: Callable[..., SandboxHost]) -> None:
    (port,) = ports(1)
    first = make_box("fa", allow=("host",), nflog_group=None)
    second = make_box("fb", nflog_group=None)
    assert first.info is not None and second.info is not None and first.firewall is not None
    server_code = (
        "import socket,sys\ns=socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1)\n"
        "s.setblocking(False); print('ready', flush=True); sys.stdin.readline()\n"
        "try:\n    s.accept(); print('accepted')\nexcept OSError:\n    print('none')\n"
    )
    server = second.popen(
        [PY, "-c", server_code, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    before = first.firewall.counters().denied_packets
    out = probe(first, [("tcp", second.info.sandbox_addr, port), ("tcp", second.info.host_addr, port)])
    assert all(v[0] == "ConnectionRefusedError" for v in out.values()), out  # type: ignore[index]
    assert first.firewall.counters().denied_packets - before >= 2
    assert server.communicate(b"check\n", timeout=10)[0] == b"none\n"


def test_allow_resolved_opens_a_name_entry(
    make_box: Callable[..., SandboxHost], servers: Callable[..., Server]
) -> None:
    (port,) = ports(1)
    box = make_box("fd", allow=(f"svc.test:{port}/tcp",), nflog_group=None)
    assert box.info is not None and box.firewall is not None
    host = box.info.host_addr
    servers(host, port, b"svc")
    assert probe(box, [("tcp", host, port)])[f"tcp:{host}:{port}"][0] == "ConnectionRefusedError"  # type: ignore[index]
    assert box.firewall.allow_resolved("other.test", [host]) == 0
    assert box.firewall.allow_resolved("svc.test", [host, "::1"]) == 1
    assert box.firewall.allow_resolved("svc.test", [host]) == 0  # still fresh: no nft call
    assert probe(box, [("tcp", host, port)])[f"tcp:{host}:{port}"][0] == "svc"  # type: ignore[index]


CUT_CLIENT = """
import socket, sys, json
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)
s.settimeout(3)
first = s.recv(100).decode()
print("up", flush=True)
sys.stdin.readline()
out = {"first": first}
try:
    s.sendall(b"more"); data = s.recv(100)
    out["after"] = "eof" if not data else data.decode()
except OSError as e:
    out["after"] = type(e).__name__
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 2); out["new"] = "connected"
except OSError as e:
    out["new"] = type(e).__name__
print(json.dumps(out), flush=True)
"""


def test_cut_network_stops_an_open_connection(
    make_box: Callable[..., SandboxHost], servers: Callable[..., Server]
) -> None:
    (port,) = ports(1)
    box = make_box("fc", allow=(f"host:{port}",), nflog_group=None)
    assert box.info is not None and box.firewall is not None
    servers(box.info.host_addr, port, b"banner")
    proc = box.popen(
        [PY, "-c", CUT_CLIENT, box.info.host_addr, str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == b"up\n"
    box.cut_network()
    assert box.firewall.is_cut
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    out = json.loads(proc.stdout.readline())
    proc.wait(10)
    assert out["first"] == "banner"
    assert out["after"] in ("ConnectionResetError", "BrokenPipeError", "TimeoutError")
    assert out["new"] == "ConnectionRefusedError"
