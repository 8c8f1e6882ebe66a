"""The canary DNS listener on loopback: answers its zone only, reports each query."""

from __future__ import annotations

import socket
import struct

from watchkeeper.canary import CanaryDns, CanaryRegistry, TokenKind, make_token

LO = "127.0.0.1"
ZONE = "canary.example.test"


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!6H", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def _ask(port: int, packet: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (LO, port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


def test_zone_answers_and_hits() -> None:
    token = make_token(TokenKind.KUBECONFIG, zone=ZONE)
    registry = CanaryRegistry(ZONE, [token])
    hits = []
    with CanaryDns(LO, 0, registry=registry, answer="127.0.0.9", on_hit=hits.append) as dns:
        reply = _ask(dns.port, _query(token.hostnames[0]))
        refused = _ask(dns.port, _query("pypi.org"))
        garbage = _ask(dns.port, b"\x00\x01garbage", timeout=0.3)
    assert reply is not None
    ident, flags, _qd, ancount = struct.unpack_from("!4H", reply)
    assert ident == 0x1234 and flags & 0xF == 0 and ancount == 1
    assert reply.endswith(socket.inet_aton("127.0.0.9"))
    assert refused is not None and struct.unpack_from("!H", refused, 2)[0] & 0xF == 5  # REFUSED
    assert garbage is None
    (hit,) = hits
    assert hit.listener == "dns" and hit.query_name == token.hostnames[0] and hit.tokens == (token.id,)
    assert hit.query_type == "A" and hit.client[0] == LO
