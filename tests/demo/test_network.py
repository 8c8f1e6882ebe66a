"""The demo's fake hosts: port plan, allow list, DNS map and the simulants (on loopback)."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from watchkeeper.demo import SERVICES, DemoNetwork, Service, wildcard_listeners
from watchkeeper.errors import PrerequisiteError
from watchkeeper.testing import simulants

LO = "127.0.0.1"


def _free() -> int:
    with socket.socket() as s:
        s.bind((LO, 0))
        return int(s.getsockname()[1])


def test_wildcard_listeners_and_required_ports() -> None:
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen(1)
        port = int(held.getsockname()[1])
        assert port in wildcard_listeners()
        optional = DemoNetwork((Service("*.corp.internal", port, "internal", required=False),))
        assert optional.services == () and optional.skipped[0].port == port
        with pytest.raises(PrerequisiteError, match=f"port.*{port}"):
            DemoNetwork((Service("pool.test", port, "pool"),))
    with socket.socket() as local:
        local.bind((LO, 0))
        local.listen(1)
        assert int(local.getsockname()[1]) not in wildcard_listeners()  # one address only


def test_plan_of_the_story() -> None:
    network = DemoNetwork(SERVICES)
    allow = network.allow()
    for entry in ("host:3333/tcp", "pool.hashrelay.test:3333/tcp", "host:2222/tcp", "host:8000/tcp"):
        if int(entry.split(":")[1].split("/")[0]) not in {s.port for s in network.skipped}:
            assert entry in allow
    assert not any(e.startswith("host:80/") for e in allow)  # the canary kit adds its own
    assert all(v == ("host",) for v in network.dns().values())
    assert "*.corp.internal" in network.dns() or all(s.role == "internal" for s in network.skipped)


def test_simulants_on_loopback() -> None:
    ports = {role: _free() for role in ("internal", "payload", "relay", "pool")}
    services = tuple(Service(f"{r}.test", p, r) for r, p in ports.items())
    with DemoNetwork(services).start(LO) as network:
        with socket.create_connection((LO, ports["internal"]), timeout=2):
            pass
        body = urllib.request.urlopen(f"http://{LO}:{ports['payload']}/tools/kworker", timeout=5).read()
        assert body.startswith(b'"""Simulants') and b"def stratum_miner" in body
        assert simulants.ssh_client(LO, ports["relay"], as_server=True).startswith(b"SSH-2.0-")
        replies = simulants.stratum_miner(LO, ports["pool"], submits=1)
        assert replies and network.pool is not None and "mining.subscribe" in network.pool.methods
    with pytest.raises(OSError):
        socket.create_connection((LO, ports["pool"]), timeout=1).close()
