"""The simulants speak their protocols correctly (on loopback) and stop by themselves."""

import json
import socket
import time

import pytest

from watchkeeper.netproto import parse_http, parse_ssh, parse_stratum, ssh_role
from watchkeeper.testing import simulants as sim

LO = "127.0.0.1"


@pytest.mark.parametrize("variant", ["stratum", "cryptonote"])
def test_pool_and_miner(variant):
    with sim.StratumPool(LO) as pool:
        replies = sim.stratum_miner(LO, pool.port, variant=variant, submits=2, cpu_seconds=0.05)
    assert pool.methods[0] == ("login" if variant == "cryptonote" else "mining.subscribe")
    assert pool.methods.count("submit" if variant == "cryptonote" else "mining.submit") == 2
    first = json.dumps(replies[0]).encode() + b"\n"
    fp = parse_stratum(first)
    assert fp is not None and fp.get("role") == "server"


def test_ssh_pair_and_reverse_client():
    with sim.SshBannerServer(LO) as sshd:
        peer = sim.ssh_client(LO, sshd.port)
        time.sleep(0.1)
    assert parse_ssh(peer) is not None and ssh_role(peer) == "server"
    assert sshd.client_banners == [sim.OPENSSH.encode()]
    client_hello = sim.OPENSSH.encode() + b"\r\n" + sim.kexinit(server=True)
    assert ssh_role(client_hello) == "server"


def test_http_endpoint():
    with sim.HttpEndpoint(LO) as web:
        with socket.create_connection((LO, web.port)) as s:
            s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            reply = s.recv(4096)
    fp = parse_http(reply)
    assert fp is not None and fp.get("status") == "200" and web.requests == [b"GET /x HTTP/1.1"]


def test_scanner_storm_and_bulk():
    with sim.MultiPortListener(LO, [0, 0]) as listener:
        closed = _closed_port()
        assert sorted(sim.port_scanner(LO, [*listener.ports, closed])) == sorted(listener.ports)
        assert sim.connect_storm(LO, listener.ports[0], 20) > 0
        time.sleep(0.2)
        assert listener.servers[0].accepted >= 20
    with sim.SinkServer(LO) as sink:
        sent = sim.bulk_send(LO, sink.port, 0.1)
        time.sleep(0.2)
    assert sent > 0 and sink.received == sent


def test_servers_stop_by_themselves():
    pool = sim.StratumPool(LO, max_seconds=0.2).start()
    time.sleep(0.5)
    assert not pool._thread.is_alive()
    pool.stop()


def test_command_line(capsys):
    with sim.StratumPool(LO) as pool:
        assert sim.main(["miner", "--host", LO, "--port", str(pool.port)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "miner" and len(out["result"]) >= 4


def _closed_port() -> int:
    s = socket.socket()
    s.bind((LO, 0))
    port = s.getsockname()[1]
    s.close()
    return port
