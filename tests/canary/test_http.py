"""The canary HTTP listener on loopback: requests are reported before they are answered."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request

from watchkeeper.canary import (
    CanaryDetector,
    CanaryHit,
    CanaryHttp,
    CanaryRegistry,
    TokenKind,
    hit_event,
    make_token,
)

LO = "127.0.0.1"


def test_request_with_a_canary_key() -> None:
    registry = CanaryRegistry(tokens=[make_token(TokenKind.AWS)])
    key_id = registry.tokens()[0].secrets[0]
    seen: list[CanaryHit] = []
    answered = threading.Event()

    def on_hit(hit: CanaryHit) -> None:
        assert not answered.is_set()  # reported before the answer goes out
        seen.append(hit)

    with CanaryHttp(LO, 0, registry=registry, on_hit=on_hit) as listener:
        request = urllib.request.Request(
            f"http://{LO}:{listener.port}/?Action=GetCallerIdentity&X-Amz-Credential={key_id}%2Fx",
            headers={"User-Agent": "aws-cli/2.15 Python/3.11", "X-Trace": "t1"},
        )
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as exc:
            answered.set()
            status, body = exc.code, exc.read()
    assert status == 403 and b"InvalidClientTokenId" in body
    (hit,) = seen
    assert hit.tokens == (registry.tokens()[0].id,) and hit.method == "GET"
    assert hit.user_agent == "aws-cli/2.15 Python/3.11" and ("X-Trace", "t1") in hit.headers
    assert hit.client[0] == LO and hit.server == (LO, listener.port)
    (alert,) = CanaryDetector(registry).observe(hit_event(hit, sandbox_id="sb"))
    assert alert.rule_id == "canary:http" and "aws-cli/2.15" in alert.description


def test_body_and_host_name_tokens() -> None:
    env = make_token(TokenKind.ENV, zone="canary.example.test")
    registry = CanaryRegistry("canary.example.test", [env])
    with CanaryHttp(LO, 0, registry=registry) as listener:
        body = f'{{"token": "{env.secrets[1]}"}}'.encode()
        with socket.create_connection((LO, listener.port), timeout=5) as s:
            s.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s"
                      % (env.hostnames[0].encode(), len(body), body))  # fmt: skip
            reply = s.recv(4096)
        with socket.create_connection((LO, listener.port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")  # a scanner, TLS, garbage
            assert s.recv(4096) == b""
    assert reply.startswith(b"HTTP/1.1 403") and b"Bad credentials" in reply
    (hit,) = listener.hits
    assert hit.tokens == (env.id,) and hit.method == "POST" and env.secrets[1] in hit.body
