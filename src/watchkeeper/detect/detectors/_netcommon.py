"""Helpers shared by the network detectors: flow keys, DNS names, suppression, evidence."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Hashable, Iterable

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import DnsEvent, Event, NetworkEvent

_MAX_NAMES = 8192
_MAX_KEYS = 65536


def detail(event: NetworkEvent, key: str, default: str = "") -> str:
    """The first value of ``key`` in a NetworkEvent's detail pairs."""
    for k, v in event.detail:
        if k == key:
            return v
    return default


def flow_key(event: NetworkEvent) -> tuple[str, str, int | None, str, int | None]:
    """(protocol, local ip, local port, remote ip, remote port) of a flow event."""
    return (event.protocol, event.src_ip, event.src_port, event.dst_ip, event.dst_port)


def server_port(event: NetworkEvent) -> int | None:
    """The responder's port: the remote port when the sandbox opened the flow, else the local one."""
    return event.dst_port if event.initiated else event.src_port


def destination(event: Event) -> str:
    """ "ip:port" (or the host name) of a network event's remote side; the name of a DNS event."""
    if isinstance(event, DnsEvent):
        return event.query_name
    if isinstance(event, NetworkEvent):
        host = event.dst_hostname or (f"[{event.dst_ip}]" if ":" in event.dst_ip else event.dst_ip)
        return f"{host}:{event.dst_port}" if event.dst_port is not None else host
    return ""


def flow_evidence(event: NetworkEvent, field: str, text: str) -> Evidence:
    """Evidence naming one detail of a flow event."""
    return Evidence(event=event, field=field, text=text)


class DnsNames:
    """Which names resolved to which addresses (from DNS answers), bounded, most recent kept."""

    def __init__(self, limit: int = _MAX_NAMES) -> None:
        self._names: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def observe(self, event: Event) -> None:
        """Learn from a DnsEvent's answers; other events are ignored."""
        if not isinstance(event, DnsEvent) or not event.answers:
            return
        for answer in event.answers:
            if _is_ip(answer):
                self._names[answer] = event.query_name
                self._names.move_to_end(answer)
        while len(self._names) > self._limit:
            self._names.popitem(last=False)

    def name(self, ip: str) -> str:
        """The last name seen resolving to ``ip`` ("" if none)."""
        return self._names.get(ip, "")


class Suppressor:
    """Once-per-period gate for alerts, keyed by anything hashable; bounded."""

    def __init__(self, period: float, limit: int = _MAX_KEYS) -> None:
        self._last: OrderedDict[Hashable, float] = OrderedDict()
        self._period = period
        self._limit = limit

    def first(self, key: Hashable, ts: float) -> bool:
        """True if ``key`` was not let through within the period before ``ts`` (and record it)."""
        last = self._last.get(key)
        if last is not None and ts - last < self._period:
            return False
        self._last[key] = ts
        self._last.move_to_end(key)
        while len(self._last) > self._limit:
            self._last.popitem(last=False)
        return True


class AddressSet:
    """Addresses, networks and host names to match a destination against."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._names: set[str] = set()
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            try:
                self._nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                self._names.add(text.lower().rstrip("."))

    def __bool__(self) -> bool:
        return bool(self._nets or self._names)

    def matches(self, ip: str, name: str = "") -> bool:
        """True if ``ip`` is in one of the networks or ``name`` is (under) one of the names."""
        if name:
            name = name.lower().rstrip(".")
            if any(name == n or name.endswith("." + n) for n in self._names):
                return True
        if ip and self._nets:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                return False
            return any(addr in net for net in self._nets)
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def make_alert(
    event: Event,
    *,
    rule_id: str,
    title: str,
    severity: Severity,
    attack: tuple[str, ...],
    confidence: float,
    evidence: tuple[Evidence, ...],
    description: str = "",
    tags: tuple[str, ...] = ("network",),
) -> Alert:
    """An Alert stamped with the event's time and attribution."""
    return Alert(
        rule_id=rule_id,
        title=title,
        severity=severity,
        attack=attack,
        confidence=confidence,
        evidence=evidence,
        description=description,
        ts=event.ts,
        run_id=event.run_id,
        episode_id=event.episode_id,
        step=event.step,
        tool_call_id=event.tool_call_id,
        sandbox_id=event.sandbox_id,
        rule_source="detector",
        tags=tags,
    )
