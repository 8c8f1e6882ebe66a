from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.respond import CutNetworkResponder, ResponseError, Targets

needs = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None,
    reason="needs root, ip and nft",
)


@pytest.fixture
def sandbox_net() -> Iterator[tuple[object, object]]:
    from watchkeeper.sandbox.firewall import Firewall, parse_allow
    from watchkeeper.sandbox.netns import create_netns, destroy_netns

    info = create_netns(f"wkt-cut-{os.getpid() % 100000}")
    fw = Firewall(info.sandbox_if.replace("wks", "t"), host_if=info.host_if, host_addr=info.host_addr,
                  allow=[parse_allow("host/tcp")], nflog_group=None)  # fmt: skip
    try:
        fw.apply()
        yield info, fw
    finally:
        fw.remove()
        destroy_netns(info)


CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"before\\n")
sys.stdin.readline()
try:
    s.sendall(b"after\\n")
    s.settimeout(1)
    s.recv(1)
except OSError:
    pass
"""


@pytest.mark.root
@needs
def test_cut_network_stops_an_established_connection(sandbox_net: tuple[object, object]) -> None:
    info, fw = sandbox_net
    srv = socket.socket()
    srv.bind((info.host_addr, 0))  # type: ignore[attr-defined]
    srv.listen(1)
    srv.settimeout(5)
    port = srv.getsockname()[1]
    client = subprocess.Popen(
        ["ip", "netns", "exec", info.name, sys.executable, "-c", CLIENT, info.host_addr, str(port)],  # type: ignore[attr-defined]
        stdin=subprocess.PIPE,
    )
    try:
        conn, _ = srv.accept()
        conn.settimeout(2)
        assert conn.recv(100) == b"before\n"
        targets = Targets()
        targets.register("sbx", network=fw)  # type: ignore[arg-type]
        alert = Alert(rule_id="r", title="t", severity=Severity.HIGH, sandbox_id="sbx")
        response = CutNetworkResponder(targets).respond(alert)
        assert response.detail == "network cut" and fw.is_cut  # type: ignore[attr-defined]
        assert client.stdin is not None
        client.stdin.write(b"\n")
        client.stdin.close()
        client.wait(10)
        conn.settimeout(0.5)
        try:
            data = conn.recv(100)
        except TimeoutError:
            data = b""
        assert b"after" not in data
        conn.close()
    finally:
        client.kill()
        client.wait()
        srv.close()


def test_a_sandbox_without_a_network_handle_is_an_error() -> None:
    alert = Alert(rule_id="r", title="t", severity=Severity.HIGH, sandbox_id="sbx")
    with pytest.raises(ResponseError, match="no network handle"):
        CutNetworkResponder(Targets()).respond(alert)
