"""A throw-away network namespace joined to the host by a veth pair (tests and benchmarks).

Everything created is named with a ``wk`` prefix and a random tag (parallel runs do not
collide), gets a 10.213.x.y/30 subnet, no IPv6, no route beyond the host end and no forwarding,
and is removed on exit even when the body fails.
"""

from __future__ import annotations

import random
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VethNamespace:
    """A namespace and its veth pair.

    Attributes:
        netns: Namespace name (``ip netns``).
        host_if / sandbox_if: The veth ends (host side, namespace side).
        host_ip / sandbox_ip: Their IPv4 addresses (one /30).
    """

    netns: str
    host_if: str
    sandbox_if: str
    host_ip: str
    sandbox_ip: str

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.netns, *command]

    def run(
        self, command: Sequence[str], timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside the namespace; raises CalledProcessError on failure."""
        return subprocess.run(
            self.argv(command), check=True, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, command: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``command`` inside the namespace."""
        return subprocess.Popen(
            self.argv(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _used_blocks() -> set[tuple[int, int]]:
    """(third octet, /30 block) of every 10.213.x.y address on the host."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=30)
    used: set[tuple[int, int]] = set()
    for word in out.stdout.split():
        if word.startswith("10.213."):
            parts = word.split("/")[0].split(".")
            if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
                used.add((int(parts[2]), int(parts[3]) // 4))
    return used


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(value)
    except OSError:
        pass


@contextmanager
def veth_namespace(offload: bool = True) -> Iterator[VethNamespace]:
    """Create a namespace, a veth pair and addresses; remove them all on exit (root only).

    Args:
        offload: Keep the veth's default segmentation offloads (False turns TSO/GSO/GRO off
            with ethtool, when it is installed).
    """
    tag = secrets.token_hex(3)
    ns, hif, sif = f"wkn{tag}", f"wkh{tag}", f"wks{tag}"
    used = _used_blocks()
    free = [(a, b) for a in range(256) for b in range(64) if (a, b) not in used]
    a, block = random.choice(free)
    host_ip, sbx_ip = f"10.213.{a}.{block * 4 + 1}", f"10.213.{a}.{block * 4 + 2}"
    created_ns = created_link = False
    try:
        _ip("netns", "add", ns)
        created_ns = True
        _ip("link", "add", hif, "type", "veth", "peer", "name", sif)
        created_link = True
        _ip("link", "set", sif, "netns", ns)
        _write(f"/proc/sys/net/ipv6/conf/{hif}/disable_ipv6", "1")
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv6.conf.all.disable_ipv6=1"], capture_output=True, timeout=30)  # fmt: skip
        _ip("addr", "add", f"{host_ip}/30", "dev", hif)
        _ip("link", "set", hif, "up")
        _ip("-n", ns, "addr", "add", f"{sbx_ip}/30", "dev", sif)
        _ip("-n", ns, "link", "set", sif, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "route", "add", "default", "via", host_ip)
        if not offload:
            for cmd in (["ethtool", "-K", hif], ["ip", "netns", "exec", ns, "ethtool", "-K", sif]):
                subprocess.run([*cmd, "tso", "off", "gso", "off", "gro", "off"],
                               capture_output=True, timeout=30)  # fmt: skip
        yield VethNamespace(ns, hif, sif, host_ip, sbx_ip)
    finally:
        if created_link:
            subprocess.run(["ip", "link", "del", hif], capture_output=True, timeout=30)
        if created_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
