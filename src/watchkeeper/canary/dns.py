"""The canary DNS listener: answers names under the canary zone and reports each query.

Inside a sandbox the sandbox's own DNS forwarder already reports every query (the detector
matches the zone there); this listener is for the other cases: a zone delegated to a host that
runs watchkeeper, or tests. UDP only; names outside the zone get REFUSED, so it is never an open
resolver. It reuses the hardened parser of :mod:`watchkeeper.sandbox.dns`.
"""

from __future__ import annotations

import logging
import socket
import time

from watchkeeper.canary._hit import CanaryHit
from watchkeeper.canary._listener import Listener, bind
from watchkeeper.canary._registry import CanaryRegistry
from watchkeeper.canary.http import OnHit
from watchkeeper.sandbox.dns import NOERROR, REFUSED, DnsFormatError, build_response, parse_query

log = logging.getLogger(__name__)


class CanaryDns(Listener):
    """A UDP DNS server for the canary zone.

    Args:
        host: Address to listen on.
        port: Port (0: any free one; see :attr:`port`).
        registry: Gives the zone and the tokens (a name's token goes on the hit).
        answer: The IPv4 address names under the zone resolve to (the canary HTTP listener, so
            a client that resolves goes on to make a request); None: the listening address.
        on_hit: Called with each query under the zone (exceptions are logged).
    """

    thread_name = "wk-canary-dns"

    def __init__(
        self,
        host: str,
        port: int = 0,
        *,
        registry: CanaryRegistry,
        answer: str | None = None,
        on_hit: OnHit | None = None,
    ) -> None:
        self.registry = registry
        self.answer = answer or host
        self.on_hit = on_hit
        self.hits: list[CanaryHit] = []
        super().__init__(bind(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), host, port), host)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                packet, client = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                reply = self.handle(packet, (str(client[0]), int(client[1])))
                if reply is not None:
                    self._sock.sendto(reply, client)
            except OSError:
                continue
            except Exception:  # noqa: BLE001 - one bad packet must not stop the listener
                log.exception("canary DNS query failed")

    def handle(self, packet: bytes, client: tuple[str, int]) -> bytes | None:
        """The answer to one query packet (None: send nothing); reports queries in the zone."""
        try:
            question = parse_query(packet)
        except DnsFormatError:
            return None
        name = question.name
        if question.qclass != 1 or not self.registry.in_zone(name):
            return build_response(question, REFUSED)
        token = self.registry.by_hostname(name)
        hit = CanaryHit(
            listener="dns", client=client, server=(self.host, self.port), ts=time.time(),
            tokens=(token.id,) if token else (), query_name=name, query_type=question.qtype_name,
        )  # fmt: skip
        if len(self.hits) < 10000:
            self.hits.append(hit)
        if self.on_hit is not None:
            try:
                self.on_hit(hit)
            except Exception:  # noqa: BLE001
                log.exception("canary on_hit callback failed")
        answers = (self.answer,) if question.qtype == 1 else ()
        return build_response(question, NOERROR, answers, ttl=0)
