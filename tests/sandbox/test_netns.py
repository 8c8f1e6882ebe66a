"""Network namespace + veth: names, subnet picking, and a real namespace."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox.netns import (
    create_netns,
    destroy_netns,
    forwarding_enabled,
    names_for,
    pick_subnet,
    used_networks,
)


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_names_fit_interface_limit() -> None:
    info = names_for("a" * 40)
    assert info.name == "wk-" + "a" * 40
    assert len(info.host_if) <= 15 and info.host_if.startswith("wkh")
    assert info.sandbox_if == "wks" + info.host_if[3:]
    assert names_for("x").host_if != names_for("y").host_if


@pytest.mark.parametrize("bad", ["", "Upper", "a_b", "-lead", "a" * 41, "a/b"])
def test_names_reject_bad_ids(bad: str) -> None:
    with pytest.raises(SandboxError, match="invalid sandbox id"):
        names_for(bad)


def test_pick_subnet_avoids_used_networks() -> None:
    used = [net("10.213.0.0/17"), net("192.0.2.0/24")]
    chosen = pick_subnet(["10.213.0.0/16"], used, seed="x")
    assert chosen.prefixlen == 30 and chosen.subnet_of(net("10.213.128.0/17"))


def test_pick_subnet_skips_a_pool_covered_by_a_route() -> None:
    chosen = pick_subnet(["10.213.0.0/16", "172.29.0.0/16"], [net("10.0.0.0/8")], seed="x")
    assert chosen.subnet_of(net("172.29.0.0/16"))


def test_pick_subnet_full_pool() -> None:
    with pytest.raises(SandboxError, match="no free"):
        pick_subnet(["10.213.0.0/30"], [net("10.213.0.0/30")])


def test_pick_subnet_ignores_default_route() -> None:
    assert pick_subnet(["10.213.0.0/16"], [net("0.0.0.0/0")]).subnet_of(net("10.213.0.0/16"))


pytestmark = pytest.mark.root


def test_real_namespace(live: None, new_id: Callable[[str], str]) -> None:
    sandbox_id = new_id("ns")
    info = create_netns(sandbox_id)
    try:
        assert Path(info.path).exists()
        subnet = ipaddress.ip_network(info.subnet)
        assert subnet.prefixlen == 30
        assert ipaddress.ip_address(info.sandbox_addr) in subnet
        # the pair's subnet overlaps nothing else on the host
        others = [n for n in used_networks() if n != subnet and n.prefixlen > 0]
        assert not any(subnet.overlaps(n) for n in others if n.prefixlen <= 30)
        links = json.loads(
            subprocess.run(["ip", "-n", info.name, "-j", "link"], capture_output=True,
                           text=True, check=True).stdout
        )
        assert sorted(link["ifname"] for link in links) == sorted(["lo", info.sandbox_if])
        assert all("UP" in link["flags"] for link in links)
        routes = subprocess.run(["ip", "-n", info.name, "route"], capture_output=True,
                                text=True, check=True).stdout
        assert f"default via {info.host_addr}" in routes
        ipv6 = subprocess.run(
            ["ip", "netns", "exec", info.name, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert ipv6 == "1"
        fwd = Path(f"/proc/sys/net/ipv4/conf/{info.host_if}/forwarding").read_text().strip()
        assert fwd == "0"
        with socket.socket() as server:  # no firewall yet: the host end is reachable
            server.bind((info.host_addr, 0))
            server.listen(1)
            port = server.getsockname()[1]
            code = f"import socket; socket.create_connection(({info.host_addr!r}, {port}), 2)"
            subprocess.run(["ip", "netns", "exec", info.name, sys.executable, "-c", code],
                           check=True, timeout=10)
        with pytest.raises(SandboxError, match="exists already"):
            create_netns(sandbox_id)
    finally:
        destroy_netns(info)
        destroy_netns(info)
    assert not Path(info.path).exists()
    assert not Path(f"/sys/class/net/{info.host_if}").exists()


def test_forwarding_state_is_reported(live: None) -> None:
    assert forwarding_enabled() == (Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1")
