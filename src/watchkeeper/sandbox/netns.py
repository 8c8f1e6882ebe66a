"""A named network namespace per sandbox, joined to the host by one veth pair.

``wk-<id>`` holds the sandbox end ``wks<short>``; the host end ``wkh<short>`` stays in the root
namespace. The pair gets a private /30 (host end ``.1``, sandbox ``.2``) picked from a pool so it
collides with no address or route of the host. Inside, ``lo`` is up, IPv6 is off and the default
route points at the host end, which is the sandbox's only peer: the host end never forwards
(``net.ipv4.conf.<host end>.forwarding = 0``; watchkeeper never enables forwarding or NAT).
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import _cmd

#: Address pools tried in order; each sandbox takes one /30 from the first pool with room.
DEFAULT_POOLS: tuple[str, ...] = ("10.213.0.0/16", "172.29.0.0/16", "192.168.213.0/24")
NETNS_PREFIX = "wk-"
HOST_IF_PREFIX = "wkh"
SANDBOX_IF_PREFIX = "wks"
LOCK_PATH = Path("/run/watchkeeper/netns.lock")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True, slots=True)
class NetnsInfo:
    """The network side of one sandbox.

    Attributes:
        name: Namespace name (``wk-<id>``), usable with ``ip netns exec``.
        host_if: Host end of the veth pair (root namespace).
        sandbox_if: Sandbox end of the veth pair (inside the namespace).
        host_addr: Address of the host end: the sandbox's gateway, DNS server and only peer.
        sandbox_addr: Address of the sandbox end.
        prefixlen: Prefix length of the pair's subnet (30).
    """

    name: str
    host_if: str
    sandbox_if: str
    host_addr: str = ""
    sandbox_addr: str = ""
    prefixlen: int = 30

    @property
    def path(self) -> str:
        """The namespace's bind mount (for ``nsenter --net=``)."""
        return f"/run/netns/{self.name}"

    @property
    def subnet(self) -> str:
        """The pair's subnet in CIDR notation."""
        return str(ipaddress.ip_network(f"{self.host_addr}/{self.prefixlen}", strict=False))


def names_for(sandbox_id: str) -> NetnsInfo:
    """The namespace and interface names of a sandbox id (interface names fit in 15 bytes)."""
    if not _ID_RE.match(sandbox_id):
        raise SandboxError(
            f"invalid sandbox id {sandbox_id!r}: use 1-40 lowercase letters, digits and '-'"
        )
    short = hashlib.sha256(sandbox_id.encode()).hexdigest()[:10]
    return NetnsInfo(
        name=NETNS_PREFIX + sandbox_id,
        host_if=HOST_IF_PREFIX + short,
        sandbox_if=SANDBOX_IF_PREFIX + short,
    )


def create_netns(sandbox_id: str, *, pools: Sequence[str] = DEFAULT_POOLS) -> NetnsInfo:
    """Create the namespace, the veth pair and their addresses; undo everything on failure.

    Raises:
        SandboxError: The namespace or interface exists, no subnet is free, or ``ip`` failed.
    """
    names = names_for(sandbox_id)
    if Path(names.path).exists():
        raise SandboxError(f"network namespace {names.name} exists already (run `watchkeeper cleanup`)")
    if Path(f"/sys/class/net/{names.host_if}").exists():
        raise SandboxError(f"interface {names.host_if} exists already (run `watchkeeper cleanup`)")
    try:
        _cmd.run(["ip", "netns", "add", names.name])
        _cmd.run(
            ["ip", "link", "add", names.host_if, "type", "veth", "peer", "name", names.sandbox_if,
             "netns", names.name]
        )
        _host_end_sysctls(names.host_if)
        _cmd.run(
            ["ip", "netns", "exec", names.name, "sh", "-c",
             "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > \"$f\"; done"]
        )
        with _pool_lock():
            subnet = pick_subnet(pools, used_networks(), seed=sandbox_id)
            hosts = list(subnet.hosts())
            host_addr, sandbox_addr = str(hosts[0]), str(hosts[1])
            _cmd.run(["ip", "addr", "add", f"{host_addr}/30", "dev", names.host_if])
        _cmd.run(["ip", "link", "set", names.host_if, "up"])
        batch = "\n".join(
            [
                f"addr add {sandbox_addr}/30 dev {names.sandbox_if}",
                "link set lo up",
                f"link set {names.sandbox_if} up",
                f"route add default via {host_addr}",
                "",
            ]
        )
        _cmd.run(["ip", "-n", names.name, "-batch", "-"], input_text=batch)
    except BaseException:
        destroy_netns(names)
        raise
    return NetnsInfo(
        name=names.name,
        host_if=names.host_if,
        sandbox_if=names.sandbox_if,
        host_addr=host_addr,
        sandbox_addr=sandbox_addr,
    )


def destroy_netns(info: NetnsInfo) -> None:
    """Delete the veth pair and the namespace; missing parts are skipped (idempotent)."""
    if info.host_if and Path(f"/sys/class/net/{info.host_if}").exists():
        _cmd.ok(["ip", "link", "del", info.host_if])
    if info.name and Path(info.path).exists():
        if not _cmd.ok(["ip", "netns", "del", info.name]) and Path(info.path).exists():
            raise SandboxError(f"cannot delete network namespace {info.name}")


def forwarding_enabled() -> bool:
    """True when the host forwards IPv4 globally (watchkeeper never turns it on)."""
    return _read_sysctl("/proc/sys/net/ipv4/ip_forward") == "1"


def pick_subnet(
    pools: Sequence[str], used: Sequence[ipaddress.IPv4Network], *, seed: str = ""
) -> ipaddress.IPv4Network:
    """Pick a free /30 from ``pools`` that overlaps none of ``used``.

    The search starts at an offset derived from ``seed`` so parallel sandboxes rarely probe the
    same subnets.
    """
    for pool_text in pools:
        pool = ipaddress.ip_network(pool_text)
        if not isinstance(pool, ipaddress.IPv4Network) or pool.prefixlen > 30:
            raise SandboxError(f"address pool {pool_text!r} must be an IPv4 network of /30 or larger")
        if any(pool.subnet_of(net) for net in used if net.prefixlen > 0):
            continue
        count = 1 << (30 - pool.prefixlen)
        start = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) % count
        base = int(pool.network_address)
        for step in range(count):
            index = (start + step) % count
            candidate = ipaddress.IPv4Network((base + index * 4, 30))
            if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
                return candidate
    raise SandboxError(f"no free /30 left in the address pools {list(pools)}")


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host has an address in or a route to (default route excluded)."""
    used: list[ipaddress.IPv4Network] = []
    for entry in _ip_json(["ip", "-j", "-4", "addr"]):
        infos = entry.get("addr_info")
        for info in infos if isinstance(infos, list) else []:
            if not isinstance(info, dict):
                continue
            local, plen = info.get("local"), info.get("prefixlen")
            if isinstance(local, str) and isinstance(plen, int):
                used.append(ipaddress.IPv4Network(f"{local}/{plen}", strict=False))
    for route in _ip_json(["ip", "-j", "-4", "route", "show", "table", "all"]):
        dst = route.get("dst")
        if isinstance(dst, str) and dst != "default":
            try:
                used.append(ipaddress.IPv4Network(dst, strict=False))
            except ValueError:
                continue
    return used


def list_namespaces() -> list[str]:
    """Names of every named network namespace whose name starts with ``wk-``."""
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(NETNS_PREFIX))
    except OSError:
        return []


# --------------------------------------------------------------------- helpers


def _host_end_sysctls(host_if: str) -> None:
    base = "/proc/sys/net"
    _write_sysctl(f"{base}/ipv6/conf/{host_if}/disable_ipv6", "1", optional=True)
    _write_sysctl(f"{base}/ipv4/conf/{host_if}/forwarding", "0")
    _write_sysctl(f"{base}/ipv4/conf/{host_if}/rp_filter", "1", optional=True)
    _write_sysctl(f"{base}/ipv4/conf/{host_if}/accept_redirects", "0", optional=True)
    if _read_sysctl(f"{base}/ipv4/conf/{host_if}/forwarding") != "0":
        raise SandboxError(f"forwarding stays enabled on {host_if}; refusing to continue")


def _write_sysctl(path: str, value: str, *, optional: bool = False) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as exc:
        if not optional:
            raise SandboxError(f"cannot set {path} to {value}: {exc.strerror}") from exc


def _read_sysctl(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _ip_json(argv: list[str]) -> list[dict[str, object]]:
    text = _cmd.run(argv)
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise SandboxError(f"{' '.join(argv)} printed no JSON") from exc
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


@contextmanager
def _pool_lock() -> Iterator[None]:
    """Serialise subnet picking between watchkeeper processes on this host."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
