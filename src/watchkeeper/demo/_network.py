"""The demo's network: fake internal and external hosts, all on the sandbox's host end.

A sandbox has exactly one peer, the host end of its veth pair (no route, no forwarding beyond
it), so every host of the story listens there, each on its own port, and the sandbox's DNS
forwarder answers every name of the story with that address. Nothing else is reachable: the
firewall allows exactly these ports, everything else is rejected and logged. Nothing leaves
the machine, and nothing listens on any other address.

=====================  =====  =========================================================
name                   port   what listens (``watchkeeper.testing.simulants``)
=====================  =====  =========================================================
``*.corp.internal``    5432, 6379, 8080, 2375, 9200: accept-and-close "internal services"
``dl.pkg-mirror.test`` 8000   ``HttpEndpoint`` serving the simulants script (the "toolkit")
``relay.vps-cloud.test`` 2222 ``SshBannerServer``: the attacker's SSH relay
``pool.hashrelay.test`` 3333  ``StratumPool``: a fake mining pool
``sts.amazonaws.com``  80     the canary HTTP listener (canary kit), posing as AWS STS
=====================  =====  =========================================================

A port already held by a program listening on *all* addresses of this host cannot be bound on
the host end (and the sandbox would reach that program): optional internal services are then
left out (they look closed), and a required one stops the demo with a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from watchkeeper.errors import PrerequisiteError
from watchkeeper.testing import simulants

CANARY_PORT = 80
INTERCEPT = ("sts.amazonaws.com",)
"""Names the canary listener answers for (a stolen AWS key is tried against STS)."""
_INTERNAL_ZONE = "*.corp.internal"
_MAX_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Service:
    """One fake host of the story.

    Attributes:
        name: The DNS name the episode uses.
        port: Its TCP port (on the sandbox's host end).
        role: "internal", "payload", "relay", "pool" or "canary".
        required: The story needs it (the demo stops when its port is taken).
    """

    name: str
    port: int
    role: str
    required: bool = True


SERVICES: tuple[Service, ...] = (
    Service(_INTERNAL_ZONE, 5432, "internal", required=False),
    Service(_INTERNAL_ZONE, 6379, "internal", required=False),
    Service(_INTERNAL_ZONE, 8080, "internal", required=False),
    Service(_INTERNAL_ZONE, 2375, "internal", required=False),
    Service(_INTERNAL_ZONE, 9200, "internal", required=False),
    Service("dl.pkg-mirror.test", 8000, "payload"),
    Service("relay.vps-cloud.test", 2222, "relay"),
    Service("pool.hashrelay.test", 3333, "pool"),
    *(Service(name, CANARY_PORT, "canary") for name in INTERCEPT),
)
"""The hosts of the demo's story."""


def wildcard_listeners() -> set[int]:
    """TCP ports with a listener on all addresses (0.0.0.0 or ::) in this network namespace."""
    ports: set[int] = set()
    for table, wildcard in (("/proc/net/tcp", "00000000"), ("/proc/net/tcp6", "0" * 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines[:100000]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # LISTEN
                continue
            address, _, port = fields[1].partition(":")
            if address == wildcard:
                ports.add(int(port, 16))
    return ports


class DemoNetwork:
    """The fake hosts of the demo, started on the sandbox's host end once it exists.

    Args:
        services: The hosts (default :data:`SERVICES`).

    Raises:
        PrerequisiteError: A required port is held by a program listening on all addresses.
    """

    def __init__(self, services: tuple[Service, ...] = SERVICES) -> None:
        taken = wildcard_listeners()
        blocked = sorted({s.port for s in services if s.required and s.port in taken})
        if blocked:
            raise PrerequisiteError(
                f"port(s) {', '.join(map(str, blocked))} are held by a program listening on all "
                "addresses; the demo needs them on the sandbox's host end",
                fix="stop that program for the demo, or run it on another machine",
            )
        self.services = tuple(s for s in services if s.port not in taken)
        self.skipped = tuple(s for s in services if s.port in taken)
        self.host = ""
        self._servers: list[simulants.StratumPool | simulants.SshBannerServer
                            | simulants.HttpEndpoint | simulants.MultiPortListener] = []  # fmt: skip
        self.pool: simulants.StratumPool | None = None
        self.relay: simulants.SshBannerServer | None = None
        self.payload: simulants.HttpEndpoint | None = None

    def ports(self, role: str) -> list[int]:
        """The ports of the services with ``role``."""
        return sorted({s.port for s in self.services if s.role == role})

    def allow(self) -> tuple[str, ...]:
        """Allow entries: each service's port on the host end, by address and by name (the
        names make the sandbox's DNS answer them). The canary's entries come from the kit."""
        entries: list[str] = []
        for s in self.services:
            if s.role == "canary":
                continue
            entries += [f"host:{s.port}/tcp", f"{s.name}:{s.port}/tcp"]
        return tuple(dict.fromkeys(entries))

    def dns(self) -> dict[str, tuple[str, ...]]:
        """Static DNS answers: every name of the story resolves to the host end."""
        return {s.name: ("host",) for s in self.services if s.role != "canary"}

    def start(self, host: str) -> DemoNetwork:
        """Start every fake host on ``host`` (the sandbox's host end address)."""
        self.host = host
        try:
            internal = self.ports("internal")
            if internal:
                self._servers.append(simulants.MultiPortListener(host, internal, _MAX_SECONDS).start())
            for port in self.ports("payload"):
                body = Path(simulants.__file__).read_bytes()
                self.payload = simulants.HttpEndpoint(host, port, body=body, max_seconds=_MAX_SECONDS)
                self._servers.append(self.payload.start())
            for port in self.ports("relay"):
                self.relay = simulants.SshBannerServer(host, port, max_seconds=_MAX_SECONDS)
                self._servers.append(self.relay.start())
            for port in self.ports("pool"):
                self.pool = simulants.StratumPool(host, port, max_seconds=_MAX_SECONDS)
                self._servers.append(self.pool.start())
        except OSError as exc:
            self.stop()
            raise PrerequisiteError(f"cannot listen on {host} for the demo's hosts: {exc.strerror}") from exc
        return self

    def stop(self) -> None:
        """Stop every fake host; idempotent."""
        servers, self._servers = self._servers, []
        for server in reversed(servers):
            server.stop()

    def __enter__(self) -> DemoNetwork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
