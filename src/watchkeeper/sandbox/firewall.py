"""The egress policy of one sandbox: an nftables table ``inet wk_<id>``.

Everything that arrives from the sandbox's veth is denied unless it matches the allowlist.
The filter runs in a ``prerouting`` chain (priority -180, after conntrack): with forwarding off,
packets for addresses beyond the host never reach the ``input`` or ``forward`` hooks, so only
prerouting sees (and logs) every attempt. A ``forward`` chain drops anything to or from the veth as
a second wall in case forwarding is ever enabled on the host.

Denied packets are logged to an NFLOG group (rate limited) with the prefix ``wk-deny:<id> ``,
counted in the named counter ``denied`` and refused: TCP with a reset, everything else with ICMP
admin-prohibited. DNS to the host end's port 53 (the sandbox's forwarder) is always allowed.
Allowed domain names enter per-entry timeout sets when the forwarder answers them.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from watchkeeper.errors import Location, SandboxError
from watchkeeper.sandbox import _cmd
from watchkeeper.sandbox.dns import name_matches

TABLE_PREFIX = "wk_"
DENY_PREFIX = "wk-deny:"
CUT_PREFIX = "wk-cut:"
FORWARD_PREFIX = "wk-fwd:"
_LABEL_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
Proto = Literal["tcp", "udp"]


class AllowSpecError(SandboxError):
    """An ``--allow`` entry that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One egress allowlist entry.

    Attributes:
        kind: ``"net"`` (address or CIDR), ``"host"`` (the host end) or ``"name"`` (DNS name;
            ``*.suffix`` matches subdomains only).
        target: The network (``"10.0.0.0/8"``), ``"host"`` or the lower-case name.
        ports: Inclusive port range, or None for every port.
        proto: ``"tcp"``/``"udp"``, or None for both (and, without ports, every protocol).
        spec: The text the entry was parsed from.
    """

    kind: Literal["net", "host", "name"]
    target: str
    ports: tuple[int, int] | None = None
    proto: Proto | None = None
    spec: str = ""

    def matches_name(self, name: str) -> bool:
        """True when DNS ``name`` (lower case, no trailing dot) is allowed by this entry."""
        return self.kind == "name" and name_matches(self.target, name)


def parse_allow(spec: str, *, source: str = "--allow") -> AllowEntry:
    """Parse one allow entry.

    Accepted forms: ``IP``, ``CIDR``, ``host`` (the host end), a DNS name or ``*.suffix``, each
    optionally followed by ``:PORT`` or ``:LOW-HIGH`` and then ``/tcp`` or ``/udp``
    (``example.com:443``, ``10.0.0.0/8``, ``host:8080/tcp``, ``10.1.2.3:53/udp``).

    Raises:
        AllowSpecError: With the reason, located at ``source`` (field = the entry).
    """
    text = spec.strip()

    def fail(reason: str) -> AllowSpecError:
        return AllowSpecError(f"invalid allow entry {spec!r}: {reason}", Location(source, field=spec))

    if not text or len(text) > 300:
        raise fail("empty or too long")
    proto: Proto | None = None
    lowered = text.lower()
    if lowered.endswith("/tcp") or lowered.endswith("/udp"):
        proto = "tcp" if lowered.endswith("/tcp") else "udp"
        text = text[:-4]
    ports: tuple[int, int] | None = None
    if text.count(":") > 1 or text.startswith("["):
        raise fail("IPv6 is not supported (IPv6 is off inside the sandbox)")
    if ":" in text:
        text, port_text = text.rsplit(":", 1)
        try:
            ports = _parse_ports(port_text)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    target = text.strip().lower().rstrip(".")
    if not target:
        raise fail("no address or name")
    if target == "host":
        return AllowEntry("host", "host", ports, proto, spec)
    if re.fullmatch(r"[0-9./]+", target):
        try:
            net = ipaddress.ip_network(target, strict=False)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        return AllowEntry("net", str(net), ports, proto, spec)
    name = target[2:] if target.startswith("*.") else target
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise fail("not an IPv4 address, CIDR, 'host' or DNS name")
    if target.startswith("*.") and len(labels) < 2:
        raise fail("a wildcard needs a suffix of two labels or more (*.example.com)")
    return AllowEntry("name", target, ports, proto, spec)


def parse_allow_list(specs: Sequence[str], *, source: str = "--allow") -> tuple[AllowEntry, ...]:
    """Parse every entry; report all bad ones in one error."""
    entries: list[AllowEntry] = []
    problems: list[str] = []
    for spec in specs:
        try:
            entries.append(parse_allow(spec, source=source))
        except AllowSpecError as exc:
            problems.append(exc.message)
    if problems:
        raise AllowSpecError("; ".join(problems), Location(source))
    return tuple(entries)


def _parse_ports(text: str) -> tuple[int, int]:
    """``"443"`` or ``"8000-8100"`` -> inclusive range; ValueError with the reason otherwise."""
    match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text.strip())
    if not match:
        raise ValueError(f"port {text!r} is not a number or LOW-HIGH range")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"port range {text!r} must lie within 1-65535, low <= high")
    return (low, high)


@dataclass(frozen=True, slots=True)
class FirewallCounters:
    """Packets and bytes refused by the sandbox's table so far."""

    denied_packets: int = 0
    denied_bytes: int = 0


class Firewall:
    """The nftables table of one sandbox."""

    def __init__(
        self,
        sandbox_id: str,
        *,
        host_if: str,
        host_addr: str,
        allow: Sequence[AllowEntry] = (),
        nflog_group: int | None = 1,
        log_rate: int = 20,
        dns_timeout_s: int = 300,
    ) -> None:
        """Describe the table; nothing changes on the host until :meth:`apply`."""
        if nflog_group is not None and not 0 <= nflog_group <= 65535:
            raise SandboxError(f"NFLOG group {nflog_group} is out of range (0-65535)")
        self.sandbox_id = sandbox_id
        self.table = TABLE_PREFIX + sandbox_id.replace("-", "_")
        self.host_if = host_if
        self.host_addr = str(ipaddress.IPv4Address(host_addr))
        self.allow = tuple(allow)
        self.nflog_group = nflog_group
        self.log_rate = log_rate
        self.dns_timeout_s = dns_timeout_s
        self.is_cut = False
        self._lock = threading.Lock()
        self._dyn_expiry: dict[tuple[int, str], float] = {}

    # ----------------------------------------------------------------- rendering

    def render(self) -> str:
        """The complete table in nft syntax (replaces any table of the same name atomically)."""
        addr_elems: list[str] = []
        rules: list[str] = []
        for entry in self.allow:
            if entry.kind == "name":
                continue
            target = self.host_addr if entry.kind == "host" else entry.target
            if entry.ports is None and entry.proto is None:
                addr_elems.append(target)
            else:
                rules.append(f"ip daddr {target} {_l4_match(entry)} accept")
        for index, entry in enumerate(self.allow):
            if entry.kind == "name":
                rules.append(f"ip daddr @dyn{index} {_l4_match(entry)} accept".replace("  ", " "))
        sets = [
            "  set allow_addr { type ipv4_addr; flags interval; auto-merge;"
            + (f" elements = {{ {', '.join(addr_elems)} }}" if addr_elems else "")
            + " }"
        ]
        for index, entry in enumerate(self.allow):
            if entry.kind == "name":
                sets.append(f"  set dyn{index} {{ type ipv4_addr; flags timeout; }}")
        body = [
            f"add table inet {self.table}",
            f"delete table inet {self.table}",
            f"table inet {self.table} {{",
            "  counter denied { }",
            *sets,
            "  chain prerouting {",
            "    type filter hook prerouting priority -180; policy accept;",
            f'    iifname != "{self.host_if}" accept',
            *(f"    {line}" for line in self._allow_rules(rules)),
            *(f"    {line}" for line in self._deny_rules(DENY_PREFIX)),
            "  }",
            "  chain forward {",
            "    type filter hook forward priority -180; policy accept;",
            *(f"    {line}" for line in self._forward_rules()),
            "  }",
            "}",
        ]
        return "\n".join(body) + "\n"

    def _allow_rules(self, rules: list[str]) -> list[str]:
        return [
            "ct state established,related accept",
            "ct state invalid drop",
            "meta nfproto != ipv4 drop",
            f"ip daddr {self.host_addr} meta l4proto {{ tcp, udp }} th dport 53 accept",
            "ip daddr @allow_addr accept",
            *rules,
        ]

    def _deny_rules(self, prefix: str) -> list[str]:
        lines = []
        if self.nflog_group is not None:
            lines.append(
                f"limit rate {self.log_rate}/second log prefix "
                f'"{prefix}{self.sandbox_id} " group {self.nflog_group}'
            )
        lines += [
            'counter name "denied"',
            "meta l4proto tcp reject with tcp reset",
            "reject with icmpx admin-prohibited",
        ]
        return lines

    def _forward_rules(self) -> list[str]:
        lines = []
        if self.nflog_group is not None:
            lines.append(
                f'iifname "{self.host_if}" limit rate {self.log_rate}/second log prefix '
                f'"{FORWARD_PREFIX}{self.sandbox_id} " group {self.nflog_group}'
            )
        lines += [f'iifname "{self.host_if}" drop', f'oifname "{self.host_if}" drop']
        return lines

    # ----------------------------------------------------------------- host changes

    def apply(self) -> None:
        """Load (or atomically replace) the table; the sandbox is allowed what the list says."""
        _cmd.require_tool("nft")
        with self._lock:
            _cmd.run(["nft", "-f", "-"], input_text=self.render())
            self.is_cut = False
            self._dyn_expiry.clear()

    def cut_network(self) -> None:
        """Deny everything from the sandbox from now on, established connections included.

        The swap is one nft transaction. Attempts are still logged (prefix ``wk-cut:<id>``).
        """
        chain = f"inet {self.table} prerouting"
        lines = [
            f"flush chain {chain}",
            f'add rule {chain} iifname != "{self.host_if}" accept',
            *(f"add rule {chain} {rule}" for rule in self._deny_rules(CUT_PREFIX)),
        ]
        with self._lock:
            _cmd.run(["nft", "-f", "-"], input_text="\n".join(lines) + "\n")
            self.is_cut = True

    def allow_resolved(self, name: str, addresses: Sequence[str], ttl_s: int | None = None) -> int:
        """Let the sandbox reach ``addresses`` that DNS ``name`` resolved to, for a while.

        Called by the DNS forwarder before it answers. Adds each IPv4 address to the timeout set
        of every name entry that matches; an address already present is refreshed when more than
        half its time has passed. Returns the number of elements added or refreshed.
        """
        timeout = max(30, ttl_s if ttl_s is not None else self.dns_timeout_s)
        v4 = [a for a in addresses if _is_ipv4(a)]
        indexes = [i for i, e in enumerate(self.allow) if e.matches_name(name)]
        if not v4 or not indexes:
            return 0
        now = time.monotonic()
        lines: list[str] = []
        with self._lock:
            for index in indexes:
                for addr in v4:
                    key = (index, addr)
                    if self._dyn_expiry.get(key, 0.0) - now > timeout / 2:
                        continue
                    elem = f"inet {self.table} dyn{index} {{ {addr} timeout {timeout}s }}"
                    lines += [f"add element {elem}", f"delete element inet {self.table} dyn{index} "
                              f"{{ {addr} }}", f"add element {elem}"]
                    self._dyn_expiry[key] = now + timeout
            if lines:
                _cmd.run(["nft", "-f", "-"], input_text="\n".join(lines) + "\n")
        return len(lines) // 3

    def counters(self) -> FirewallCounters:
        """Read the ``denied`` counter."""
        text = _cmd.run(["nft", "-j", "list", "counter", "inet", self.table, "denied"], check=False)
        try:
            items = json.loads(text or "{}").get("nftables", [])
        except (json.JSONDecodeError, AttributeError):
            return FirewallCounters()
        for item in items:
            counter = item.get("counter") if isinstance(item, dict) else None
            if isinstance(counter, dict):
                return FirewallCounters(
                    int(counter.get("packets", 0)), int(counter.get("bytes", 0))
                )
        return FirewallCounters()

    def exists(self) -> bool:
        """True while the table is loaded."""
        return _cmd.ok(["nft", "list", "table", "inet", self.table])

    def remove(self) -> None:
        """Delete the table (idempotent)."""
        delete_table(self.table)


def delete_table(table: str) -> None:
    """Delete ``inet <table>`` if it exists."""
    if _cmd.ok(["nft", "list", "table", "inet", table]):
        _cmd.ok(["nft", "delete", "table", "inet", table])


def list_tables() -> list[str]:
    """Names of the ``inet`` tables whose name starts with ``wk_``."""
    text = _cmd.run(["nft", "-j", "list", "tables", "inet"], check=False)
    try:
        items = json.loads(text or "{}").get("nftables", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    names = []
    for item in items:
        table = item.get("table") if isinstance(item, dict) else None
        if isinstance(table, dict) and str(table.get("name", "")).startswith(TABLE_PREFIX):
            names.append(str(table["name"]))
    return sorted(names)


def _l4_match(entry: AllowEntry) -> str:
    if entry.ports is None and entry.proto is None:
        return ""
    low, high = entry.ports or (0, 65535)
    port = str(low) if low == high else f"{low}-{high}"
    proto = entry.proto or "{ tcp, udp }"
    if entry.ports is None:
        return f"meta l4proto {proto}"
    return f"meta l4proto {proto} th dport {port}"


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
