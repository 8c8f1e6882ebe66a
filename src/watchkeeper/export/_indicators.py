"""Indicators of a run: the destinations, URLs, command lines and hashes behind its alerts.

Shared by the STIX and MISP exports. Only what an alert points at becomes an indicator (the
benign traffic of a run is context, not intelligence). Each observable keeps the alerts that
name it, when it was seen, how often, and the role its destination played (mining pool,
tunnel endpoint, command and control, exfiltration, download source).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from watchkeeper.events import DnsEvent, NetworkEvent, ProcessEvent
from watchkeeper.export._attack import techniques
from watchkeeper.export._enrich import HostIntel, NetIntel
from watchkeeper.export._rundir import AlertRecord, FlowRecord

MAX_OBSERVABLES = 5000
MAX_VALUE = 4096
"""Longer command lines and URLs are not turned into indicators (an exact pattern would be
useless and huge)."""

_URL = re.compile(
    r"(?i)\b(?:https?|stratum\+(?:tcp|ssl|tls)|stratum[12]?\+tcp|ftp|wss?|ssh)://[^\s'\"<>`|;)]+"
)
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*$")

ROLES: dict[str, str] = {
    "mining-pool": "Mining pool",
    "tunnel": "Tunnel endpoint",
    "c2": "Command and control",
    "exfiltration": "Exfiltration destination",
    "ingress": "Download source",
}
"""Roles a destination can play, with their titles."""


@dataclass(frozen=True, slots=True)
class Observable:
    """One indicator value with everything the exports need.

    Attributes:
        kind: "ipv4-addr", "ipv6-addr", "domain-name", "url", "process" (a command line) or
            "file" (a SHA-256).
        value: The address, name, URL, command line or hash.
        port / protocol: For destinations, the port and transport ("tcp"...), when known.
        alerts: The alerts that name it.
        first_seen / last_seen: Epoch seconds (from the flows and the alerts).
        count: How often it was seen (flow events, else alerts).
        roles: Keys of :data:`ROLES`.
        intel: Offline enrichment of a destination.
        resolved: Addresses a domain resolved to in this run.
    """

    kind: str
    value: str
    port: int | None = None
    protocol: str = ""
    alerts: tuple[AlertRecord, ...] = ()
    first_seen: float = 0.0
    last_seen: float = 0.0
    count: int = 0
    roles: tuple[str, ...] = ()
    intel: HostIntel | None = None
    resolved: tuple[str, ...] = ()

    @property
    def is_destination(self) -> bool:
        """True for addresses and names."""
        return self.kind in ("ipv4-addr", "ipv6-addr", "domain-name")

    def label(self) -> str:
        """Human text: "pool.example:3333", "[2001:db8::1]:443", a URL or a command line."""
        if self.port is None or not self.is_destination:
            return self.value
        host = f"[{self.value}]" if self.kind == "ipv6-addr" else self.value
        return f"{host}:{self.port}"


@dataclass(slots=True)
class _Acc:
    kind: str
    value: str
    port: int | None
    protocol: str = ""
    alerts: dict[int, AlertRecord] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    count: int = 0
    roles: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)


def roles_of(record: AlertRecord, intel: HostIntel | None = None, app_protocol: str = "",
             url: str = "") -> set[str]:  # fmt: skip
    """The roles a destination named by this alert played.

    From the destination's own traits (list hits, a stratum flow or URL) first, then from the
    alert (ATT&CK ids, rule id, title, tags). Resource hijacking alone does not make a host a
    pool: a miner download (T1105) names the download host, not the pool.
    """
    alert = record.alert
    ids = techniques(list(alert.attack))
    text = f"{alert.rule_id} {alert.title} {' '.join(alert.tags)}".lower()
    roles: set[str] = set()
    ingress = "T1105" in ids or "download" in text
    if ingress:
        roles.add("ingress")
    cats = intel.categories() if intel is not None else set()
    if (
        "miner-pool" in cats
        or app_protocol == "stratum"
        or url.lower().startswith("stratum")
        or "stratum" in text
        or " pool" in text
        or (not ingress and any(t.startswith("T1496") for t in ids))
    ):
        roles.add("mining-pool")
    if "tunnel-service" in cats or "tunnel" in text or (
        any(t.startswith(("T1572", "T1090", "T1219")) for t in ids)
    ):
        roles.add("tunnel")
    if any(t == "T1041" or t.startswith(("T1048", "T1567")) for t in ids) or "exfil" in text:
        roles.add("exfiltration")
    if "revshell" in text or "reverse shell" in text or "reverse-shell" in text:
        roles.add("c2")
    return roles


def collect(
    alerts: Iterable[AlertRecord],
    flows: Iterable[FlowRecord] = (),
    intel: NetIntel | None = None,
) -> list[Observable]:
    """The observables behind ``alerts``, in first-seen order (at most MAX_OBSERVABLES)."""
    accs: dict[tuple[str, str, int | None], _Acc] = {}
    flow_index: dict[tuple[str, int | None], list[FlowRecord]] = {}
    for flow in flows:
        for host in {flow.dst_ip, flow.dst_hostname.lower()} - {""}:
            flow_index.setdefault((host, flow.dst_port), []).append(flow)

    def add(kind: str, value: str, record: AlertRecord, port: int | None = None,
            protocol: str = "", ts: float = 0.0) -> _Acc | None:  # fmt: skip
        if not value or len(value) > MAX_VALUE:
            return None
        key = (kind, value, port)
        acc = accs.get(key)
        if acc is None:
            if len(accs) >= MAX_OBSERVABLES:
                return None
            acc = accs[key] = _Acc(kind, value, port)
        acc.alerts[record.index] = record
        acc.protocol = acc.protocol or protocol
        for stamp in (ts, record.alert.ts):
            if stamp > 0:
                acc.times.append(stamp)
        return acc

    for record in alerts:
        dests: list[tuple[str, str, int | None, str, float, str]] = []  # ip, host, port, proto, ts, app
        cmdlines: list[tuple[str, float]] = []
        urls: list[tuple[str, float]] = []
        for evidence in record.alert.evidence:
            event = evidence.event
            if isinstance(event, NetworkEvent):
                dests.append((event.dst_ip, event.dst_hostname, event.dst_port, event.protocol,
                              event.ts, event.app_protocol))  # fmt: skip
                detail = dict(event.detail)
                host = detail.get("host") or event.dst_hostname
                if event.app_protocol == "http" and host and detail.get("path", "").startswith("/"):
                    urls.append((f"http://{host}{detail['path']}", event.ts))
                if event.command_line:
                    cmdlines.append((event.command_line, event.ts))
            elif isinstance(event, DnsEvent):
                dests.append(("", event.query_name, None, "", event.ts, "dns"))
                for answer in event.answers:
                    if _is_ip(answer):
                        dests.append((answer, "", None, "", event.ts, "dns"))
                if event.command_line:
                    cmdlines.append((event.command_line, event.ts))
            elif isinstance(event, ProcessEvent):
                if event.command_line:
                    cmdlines.append((event.command_line, event.ts))
            if evidence.text:
                urls.extend((u, event.ts) for u in _URL.findall(evidence.text))
        if not dests and record.destination:
            host, port = split_destination(record.destination)
            dests.append((host if _is_ip(host) else "", "" if _is_ip(host) else host, port, "",
                          record.alert.ts, ""))  # fmt: skip
        if record.cmdline:
            cmdlines.append((record.cmdline, record.alert.ts))
        for line, ts in cmdlines:
            urls.extend((u, ts) for u in _URL.findall(line))
        for ip, host, port, proto, ts, app in dests:
            host = host.strip().rstrip(".").lower()
            host_intel = intel.host(ip=ip, domain=host, port=port) if intel else None
            roles = roles_of(record, host_intel, app)
            if host and not _is_ip(host) and _HOST.match(host):
                acc = add("domain-name", host, record, port, proto, ts)
                if acc is not None:
                    acc.roles |= roles
                    if ip:
                        acc.resolved.add(ip)
            if ip and _is_ip(ip):
                kind = "ipv6-addr" if ":" in ip else "ipv4-addr"
                acc = add(kind, str(ipaddress.ip_address(ip)), record, port, proto, ts)
                if acc is not None:
                    acc.roles |= roles
        for url, ts in urls:
            acc = add("url", url.rstrip(".,"), record, ts=ts)
            if acc is not None:
                acc.roles |= roles_of(record, url=url)
        for line, ts in cmdlines:
            add("process", line, record, ts=ts)
        if record.sha256:
            add("file", record.sha256, record)

    out: list[Observable] = []
    for acc in accs.values():
        times = list(acc.times)
        count = 0
        if acc.kind in ("ipv4-addr", "ipv6-addr", "domain-name"):
            for flow in flow_index.get((acc.value, acc.port), []):
                count += max(flow.events, 1)
                times += [t for t in (flow.first_seen, flow.last_seen) if t > 0]
        host_intel = None
        if intel is not None and acc.kind in ("ipv4-addr", "ipv6-addr"):
            host_intel = intel.host(ip=acc.value, port=acc.port)
        elif intel is not None and acc.kind == "domain-name":
            host_intel = intel.host(domain=acc.value, port=acc.port)
        out.append(
            Observable(
                kind=acc.kind, value=acc.value, port=acc.port, protocol=acc.protocol,
                alerts=tuple(acc.alerts[k] for k in sorted(acc.alerts)),
                first_seen=min(times) if times else 0.0, last_seen=max(times) if times else 0.0,
                count=count or len(acc.alerts), roles=tuple(sorted(acc.roles)), intel=host_intel,
                resolved=tuple(sorted(acc.resolved)),
            )
        )  # fmt: skip
    out.sort(key=lambda o: (o.first_seen, o.kind, o.value))
    return out


def split_destination(text: str) -> tuple[str, int | None]:
    """("host", port) from "host:port", "[v6]:port", "v6" or "host"."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() and int(port) <= 0xFFFF else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port) if port.isdigit() and int(port) <= 0xFFFF else None
    return text, None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
