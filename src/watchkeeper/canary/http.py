"""The canary HTTP listener: records every request and the canary tokens it names.

It listens where the sandbox can reach it (the host end of its veth; tests use 127.0.0.1) and
answers every request with an access-denied error, shaped like AWS's when the request looks
like an AWS API call. Each request becomes a :class:`~watchkeeper.canary.CanaryHit` handed to
``on_hit`` *before* the answer is sent, so the runtime can find the requesting process while
its socket is still open. Plain HTTP only: TLS is not terminated here (the network sensor
still records the SNI and JA3/JA4 of a TLS attempt, and the detector matches canary names in
the SNI).

Everything is bounded: 16 KiB of request head, 32 headers, 4 KiB of body, 5 s per read,
64 connections at once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from watchkeeper.canary._hit import CanaryHit
from watchkeeper.canary._listener import Listener, bind
from watchkeeper.canary._registry import CanaryRegistry

log = logging.getLogger(__name__)

MAX_HEAD = 16384
MAX_BODY = 4096
MAX_HEADERS = 32
_AWS_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    b"<Code>InvalidClientTokenId</Code><Message>The security token included in the request is "
    b"invalid.</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n"
)

OnHit = Callable[[CanaryHit], None]


class CanaryHttp(Listener):
    """A small threaded HTTP server that reports requests.

    Args:
        host: Address to listen on.
        port: Port (0: any free one; see :attr:`port`).
        registry: Tokens to look for in each request (path, headers, body, Host).
        on_hit: Called with each request before it is answered (exceptions are logged).
        max_seconds: Stop accepting after this long (a safety bound), None for no bound.
    """

    thread_name = "wk-canary-http"

    def __init__(
        self,
        host: str,
        port: int = 0,
        *,
        registry: CanaryRegistry | None = None,
        on_hit: OnHit | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.registry = registry
        self.on_hit = on_hit
        self.hits: list[CanaryHit] = []
        self._max_seconds = max_seconds
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().__init__(bind(sock, host, port, backlog=64), host)
        self._slots = threading.BoundedSemaphore(64)
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _drain(self) -> None:
        """Wait for the requests in hand."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.join(5)

    def _loop(self) -> None:
        deadline = None if self._max_seconds is None else time.monotonic() + self._max_seconds
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                conn, client = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            worker = threading.Thread(target=self._serve, args=(conn, client), daemon=True,
                                      name="wk-canary-http-conn")  # fmt: skip
            with self._lock:
                self._workers = [w for w in self._workers if w.is_alive()] + [worker]
            worker.start()

    def _serve(self, conn: socket.socket, client: tuple[str, int]) -> None:
        try:
            with conn:
                conn.settimeout(5.0)
                server = conn.getsockname()
                hit = self._read(conn, (str(client[0]), int(client[1])),
                                 (str(server[0]), int(server[1])))  # fmt: skip
                if hit is None:
                    return
                with self._lock:
                    if len(self.hits) < 10000:
                        self.hits.append(hit)
                if self.on_hit is not None:
                    try:
                        self.on_hit(hit)
                    except Exception:  # noqa: BLE001 - an observer must not stop the listener
                        log.exception("canary on_hit callback failed")
                conn.sendall(_answer(hit))
        except OSError:
            pass
        finally:
            self._slots.release()

    def _read(
        self, conn: socket.socket, client: tuple[str, int], server: tuple[str, int]
    ) -> CanaryHit | None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            try:
                chunk = conn.recv(4096)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head[:MAX_HEAD].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return None  # not an HTTP request (a port scan, garbage)
        headers: list[tuple[str, str]] = []
        for line in lines[1 : MAX_HEADERS + 1]:
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        fields = {k.lower(): v for k, v in headers}
        try:
            length = min(int(fields.get("content-length", "0")), MAX_BODY)
        except ValueError:
            length = 0
        while len(body) < length:
            try:
                chunk = conn.recv(length - len(body))
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            body += chunk
        text = body[:MAX_BODY].decode("utf-8", "replace")
        method, path = parts[0][:16], parts[1][:4096]
        tokens: list[str] = []
        if self.registry is not None:
            haystack = "\n".join([path, text, *(f"{k}: {v}" for k, v in headers)])
            tokens = [t.id for t, _ in self.registry.find(haystack)]
            host_token = self.registry.by_hostname(fields.get("host", "").split(":", 1)[0])
            if host_token is not None and host_token.id not in tokens:
                tokens.append(host_token.id)
        return CanaryHit(
            listener="http", client=client, server=server, ts=time.time(), tokens=tuple(tokens),
            method=method, path=path, host=fields.get("host", "")[:256],
            user_agent=fields.get("user-agent", "")[:512], headers=tuple(headers), body=text,
        )  # fmt: skip


def _answer(hit: CanaryHit) -> bytes:
    if "Action=" in hit.path or "amazonaws" in hit.host or "AWS4-HMAC" in dict(hit.headers).get(
        "Authorization", ""
    ):
        body = _AWS_DENIED % str(abs(hash((hit.ts, hit.client)))).encode()
        kind = b"text/xml"
    else:
        body, kind = b'{"message":"Bad credentials"}\n', b"application/json"
    return (b"HTTP/1.1 403 Forbidden\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (kind, len(body))) + body  # fmt: skip
