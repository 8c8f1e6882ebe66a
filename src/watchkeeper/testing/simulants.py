"""Simulants: small programs that speak the protocols the network detectors look for.

They talk only to the address they are given (tests use loopback or a veth pair inside a
network namespace the test created), run bounded loops and stop by themselves. None of them
mines, scans or tunnels anything real: the "pool" hands out fake jobs, the "miner" submits
made-up shares, the SSH pair exchanges banners and a key-exchange init and hangs up.

Servers are threads (``start()``/``stop()``, also context managers); clients are functions
that return when done. Every simulant is also a command, for running inside a namespace::

    ip netns exec wkns python -m watchkeeper.testing.simulants miner --host 10.213.0.1 --port 3333

This file is also copied into sandboxes and run there as a standalone script (under a renamed,
innocent-looking name), where the package is not installed: it imports the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

WALLET = "4" + "A" * 94  # shaped like a Monero address, not a real one
AGENT = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"
OPENSSH = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"


class _Server:
    """A bounded TCP server thread: accepts until ``stop()`` or ``max_seconds``."""

    def __init__(self, host: str, port: int, max_seconds: float = 60.0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self._sock.settimeout(0.1)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.max_seconds = max_seconds
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=type(self).__name__)
        self._workers: list[threading.Thread] = []

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for w in self._workers:
            w.join(5)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if type(self).serve is _Server.serve:  # accept-and-close: no thread needed
                conn.close()
                continue
            conn.settimeout(5.0)
            w = threading.Thread(target=self._serve_safe, args=(conn,), daemon=True)
            w.start()
            self._workers = [t for t in self._workers if t.is_alive()] + [w]

    def _serve_safe(self, conn: socket.socket) -> None:
        try:
            with conn:
                self.serve(conn)
        except OSError:
            pass

    def serve(self, conn: socket.socket) -> None:
        """Handle one connection."""


def _lines(conn: socket.socket, limit: int = 64) -> Any:
    """Yield JSON messages read line by line (at most ``limit``)."""
    buf = b""
    count = 0
    while count < limit:
        while b"\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
            if len(buf) > 65536:
                return
        line, buf = buf.split(b"\n", 1)
        count += 1
        try:
            yield json.loads(line)
        except ValueError:
            return


def _send(conn: socket.socket, msg: dict[str, Any]) -> None:
    conn.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")


class StratumPool(_Server):
    """A fake mining pool: stratum v1 (``mining.*``) and CryptoNote (``login``/``job``) JSON-RPC."""

    def __init__(self, host: str, port: int = 0, max_seconds: float = 60.0) -> None:
        super().__init__(host, port, max_seconds)
        self.methods: list[str] = []

    def serve(self, conn: socket.socket) -> None:
        for msg in _lines(conn):
            method = str(msg.get("method", ""))
            self.methods.append(method)
            mid = msg.get("id")
            if method == "mining.subscribe":
                _send(conn, {"id": mid, "error": None, "result": [
                    [["mining.set_difficulty", "1"], ["mining.notify", "1"]], "08000002", 4]})  # fmt: skip
            elif method == "mining.authorize":
                _send(conn, {"id": mid, "error": None, "result": True})
                _send(conn, {"id": None, "method": "mining.set_difficulty", "params": [1]})
                _send(conn, {"id": None, "method": "mining.notify",
                             "params": ["j1", "00" * 32, "01", "02", [], "20000000", "1d00ffff",
                                        "5f5e1000", True]})  # fmt: skip
            elif method == "login":
                _send(conn, {"id": mid, "jsonrpc": "2.0", "error": None, "result": {
                    "id": "w1", "status": "OK",
                    "job": {"blob": "07" * 38, "job_id": "j1", "target": "b88d0600", "algo": "rx/0"}}})  # fmt: skip
            elif method in ("mining.submit", "submit"):
                _send(
                    conn, {"id": mid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}
                )
            elif method == "keepalived":
                _send(
                    conn,
                    {
                        "id": mid,
                        "jsonrpc": "2.0",
                        "error": None,
                        "result": {"status": "KEEPALIVED"},
                    },
                )


def stratum_miner(
    host: str,
    port: int,
    *,
    variant: str = "stratum",
    wallet: str = WALLET,
    agent: str = AGENT,
    submits: int = 3,
    cpu_seconds: float = 0.0,
    timeout: float = 5.0,
) -> list[dict[str, Any]]:
    """A fake miner: logs in, takes a job, optionally burns CPU, submits shares; returns replies."""
    replies: list[dict[str, Any]] = []
    with socket.create_connection((host, port), timeout=timeout) as conn:
        msgs = _lines(conn)
        if variant == "cryptonote":
            _send(conn, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
                "login": wallet, "pass": "x", "agent": agent, "algo": ["rx/0", "cn/r"]}})  # fmt: skip
            replies.append(next(msgs))
        else:
            _send(conn, {"id": 1, "method": "mining.subscribe", "params": [agent]})
            replies.append(next(msgs))
            _send(conn, {"id": 2, "method": "mining.authorize", "params": [wallet + ".rig1", "x"]})
            for _ in range(3):  # authorize result, set_difficulty, notify
                replies.append(next(msgs))
        _burn(cpu_seconds)
        for i in range(submits):
            nonce = f"{i:08x}"
            if variant == "cryptonote":
                _send(conn, {"id": 10 + i, "jsonrpc": "2.0", "method": "submit", "params": {
                    "id": "w1", "job_id": "j1", "nonce": nonce, "result": "00" * 32}})  # fmt: skip
            else:
                _send(conn, {"id": 10 + i, "method": "mining.submit",
                             "params": [wallet + ".rig1", "j1", "00000000", "5f5e1000", nonce]})  # fmt: skip
            replies.append(next(msgs))
    return replies


def _burn(seconds: float) -> int:
    """Hash in a loop for ``seconds`` of wall time (bounded CPU use); returns the hash count."""
    deadline = time.monotonic() + min(seconds, 120.0)
    count = 0
    data = b"\0" * 76
    while time.monotonic() < deadline:
        for _ in range(1000):
            data = hashlib.sha256(data).digest() + data[32:76]
        count += 1000
    return count


def _ssh_packet(payload: bytes) -> bytes:
    pad = 8 - (len(payload) + 5) % 8
    pad += 8 if pad < 4 else 0
    return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + b"\0" * pad


def kexinit(server: bool) -> bytes:
    """An SSH_MSG_KEXINIT packet shaped like OpenSSH's (client or server variant)."""
    strict = "kex-strict-s-v00@openssh.com" if server else "ext-info-c,kex-strict-c-v00@openssh.com"
    lists = [f"curve25519-sha256,{strict}", "ssh-ed25519", "chacha20-poly1305@openssh.com",
             "chacha20-poly1305@openssh.com", "hmac-sha2-256", "hmac-sha2-256", "none", "none",
             "", ""]  # fmt: skip
    body = b"\x14" + os.urandom(16)
    for item in lists:
        body += struct.pack("!I", len(item)) + item.encode()
    return _ssh_packet(body + b"\0" + b"\0\0\0\0")


class SshBannerServer(_Server):
    """Sends an SSH server banner and a server KEXINIT, reads the client's, hangs up."""

    def __init__(self, host: str, port: int = 0, banner: str = OPENSSH, max_seconds: float = 60.0):
        super().__init__(host, port, max_seconds)
        self.banner = banner
        self.client_banners: list[bytes] = []

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(self.banner.encode() + b"\r\n" + kexinit(server=True))
        data = conn.recv(4096)
        self.client_banners.append(data.split(b"\r\n", 1)[0])
        time.sleep(0.05)


def ssh_client(
    host: str, port: int, *, banner: str = OPENSSH, as_server: bool = False, timeout: float = 5.0,
    hold: float = 0.05,
) -> bytes:  # fmt: skip
    """Connect, send a banner and a KEXINIT (a server's when ``as_server``: the reverse shape)."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(banner.encode() + b"\r\n" + kexinit(server=as_server))
        try:
            peer = conn.recv(4096)
        except TimeoutError:
            peer = b""
        time.sleep(hold)
    return peer


class MultiPortListener:
    """Listens on several ports; accepts and closes (targets for a port scanner)."""

    def __init__(self, host: str, ports: Sequence[int], max_seconds: float = 60.0) -> None:
        self.servers = [_Server(host, p, max_seconds) for p in ports]

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def start(self) -> MultiPortListener:
        for s in self.servers:
            s.start()
        return self

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def __enter__(self) -> MultiPortListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HttpEndpoint(_Server):
    """Answers every HTTP request with 200 and a small body, then closes."""

    def __init__(self, host: str, port: int = 0, body: bytes = b"ok\n", max_seconds: float = 60.0):
        super().__init__(host, port, max_seconds)
        self.body = body
        self.requests: list[bytes] = []

    def serve(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        self.requests.append(data.split(b"\r\n", 1)[0])
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                     % len(self.body) + self.body)  # fmt: skip


class SinkServer(_Server):
    """Reads and discards everything; counts bytes (a bulk-transfer target)."""

    def __init__(self, host: str, port: int = 0, max_seconds: float = 120.0) -> None:
        super().__init__(host, port, max_seconds)
        self.received = 0

    def serve(self, conn: socket.socket) -> None:
        buf = bytearray(1 << 20)
        conn.settimeout(30.0)
        while True:
            n = conn.recv_into(buf)
            if not n:
                return
            self.received += n


def port_scanner(
    host: str, ports: Sequence[int], timeout: float = 0.3, limit: int = 4096
) -> list[int]:
    """A plain connect() scanner (as an agent would write one); returns the open ports."""
    found: list[int] = []
    for port in list(ports)[:limit]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            if s.connect_ex((host, port)) == 0:
                found.append(port)
    return found


def connect_storm(host: str, port: int, count: int, limit: int = 100000) -> float:
    """Open ``count`` TCP connections as fast as possible, closing each with an RST (no
    TIME_WAIT); returns the seconds taken."""
    start = time.perf_counter()
    for _ in range(min(count, limit)):
        with socket.create_connection((host, port), timeout=5.0) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    return time.perf_counter() - start


def bulk_send(host: str, port: int, seconds: float, chunk: int = 1 << 20) -> int:
    """Send zeros for ``seconds`` (at most 120); returns bytes sent."""
    data = b"\0" * chunk
    sent = 0
    deadline = time.monotonic() + min(seconds, 120.0)
    with socket.create_connection((host, port), timeout=10.0) as s:
        while time.monotonic() < deadline:
            s.sendall(data)
            sent += chunk
    return sent


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m watchkeeper.testing.simulants NAME --host H --port P``."""
    ap = argparse.ArgumentParser(prog="watchkeeper.testing.simulants")
    ap.add_argument(
        "name",
        choices=["miner", "ssh-client", "scan", "storm", "bulk", "http-get", "sink", "accept"],
    )
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--variant", default="stratum", choices=["stratum", "cryptonote"])
    ap.add_argument("--cpu-seconds", type=float, default=0.0)
    ap.add_argument("--as-server", action="store_true")
    ap.add_argument("--ports", default="", help="scan: comma-separated ports and a-b ranges")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--path", default="/")
    args = ap.parse_args(argv)
    out: Any
    if args.name in ("sink", "accept"):  # servers: print the port, serve for --seconds
        server = (
            SinkServer(args.host, args.port, args.seconds)
            if args.name == "sink"
            else _Server(args.host, args.port, args.seconds)
        )
        print(json.dumps({"port": server.port}), flush=True)
        server.start()
        server._thread.join()
        server.stop()
        out = {"accepted": server.accepted, "received": getattr(server, "received", 0)}
    elif args.name == "miner":
        out = stratum_miner(
            args.host, args.port, variant=args.variant, cpu_seconds=args.cpu_seconds
        )
    elif args.name == "ssh-client":
        out = ssh_client(args.host, args.port, as_server=args.as_server).decode("latin-1")
    elif args.name == "scan":
        ports: list[int] = []
        for item in args.ports.split(","):
            lo, _, hi = item.partition("-")
            if lo:
                ports += range(int(lo), int(hi or lo) + 1)
        out = port_scanner(args.host, ports)
    elif args.name == "storm":
        out = connect_storm(args.host, args.port, args.count)
    elif args.name == "bulk":
        out = bulk_send(args.host, args.port, args.seconds)
    else:
        with socket.create_connection((args.host, args.port), timeout=5.0) as s:
            s.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
                      "User-Agent: wk-simulant\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
            out = s.recv(4096).decode("latin-1")
    print(json.dumps({"name": args.name, "result": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
