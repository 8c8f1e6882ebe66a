"""Connection fan-out per source: port scans, host sweeps and failed attempts (T1046, T1018).

Counts, per sandbox-side source address and over a sliding window, the connection attempts the
sandbox *opens* (NetworkEvent "open", initiated) and the ones that fail (NetworkEvent "close"
with Zeek conn_state S0, REJ, RSTOS0 or SH: no answer, or refused). Thresholds are far lower than
Zeek's scan scripts (15-25 ports, 250 local hosts) because a sandbox is quiet:

``detector:fanout-portscan`` (high, T1046)
    >= ``ports_per_host`` distinct TCP/UDP ports on one host within ``window_s``.
``detector:fanout-hostsweep`` (high, T1018)
    >= ``hosts`` distinct hosts within ``window_s`` that the sandbox reached *without* a DNS
    answer naming them, or whose attempt failed (a browser fetching a page from many CDN hosts
    resolves them first and is not counted), including ICMP echo.
``detector:fanout-failures`` (medium, T1046)
    >= ``failures`` distinct host:port attempts that failed within ``window_s``.

Each alert is raised once per source and kind per ``suppress_s`` (Zeek's scan script suppresses
a scanner for an hour). A scan slower than the window evades it; lower the thresholds or widen
the window for stricter sandboxes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors._netcommon import DnsNames, Suppressor, make_alert
from watchkeeper.events import Event, NetworkEvent

RULE_PORTSCAN = "detector:fanout-portscan"
RULE_HOSTSWEEP = "detector:fanout-hostsweep"
RULE_FAILURES = "detector:fanout-failures"
FAILED_STATES = frozenset({"S0", "REJ", "RSTOS0", "SH"})
_MAX_SOURCES = 1024
_MAX_ITEMS = 8192


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    """Fan-out thresholds.

    Attributes:
        window_s: Sliding window length in seconds.
        ports_per_host: Distinct ports on one host for a port scan.
        hosts: Distinct unresolved-or-failed hosts for a host sweep.
        failures: Distinct failed host:port attempts.
        suppress_s: Quiet period per source and alert kind after an alert.
    """

    window_s: float = 30.0
    ports_per_host: int = 10
    hosts: int = 8
    failures: int = 5
    suppress_s: float = 300.0


@dataclass(slots=True)
class _Source:
    attempts: deque[tuple[float, str, int, NetworkEvent]] = field(default_factory=deque)
    sweep: deque[tuple[float, str, NetworkEvent]] = field(default_factory=deque)
    failed: deque[tuple[float, str, int, NetworkEvent]] = field(default_factory=deque)


class FanoutDetector:
    """Scan-shaped fan-out of the sandbox's connection attempts."""

    name = "fanout"

    def __init__(self, config: FanoutConfig | None = None) -> None:
        self.config = config or FanoutConfig()
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._names = DnsNames()
        self._gate = Suppressor(self.config.suppress_s)

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event."""
        self._names.observe(event)
        if not isinstance(event, NetworkEvent) or not event.initiated:
            return []
        if event.activity == "open":
            return self._on_open(event)
        if event.activity == "close":
            state = _detail(event, "conn_state")
            if state in FAILED_STATES and event.protocol == "tcp":
                return self._on_failure(event)
        return []

    def _source(self, src: str) -> _Source:
        source = self._sources.get(src)
        if source is None:
            source = self._sources[src] = _Source()
            while len(self._sources) > _MAX_SOURCES:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(src)
        return source

    def _prune(self, source: _Source, now: float) -> None:
        horizon = now - self.config.window_s
        for q in (source.attempts, source.sweep, source.failed):
            while q and (q[0][0] < horizon or len(q) > _MAX_ITEMS):
                q.popleft()

    def _on_open(self, event: NetworkEvent) -> list[Alert]:
        source = self._source(event.src_ip)
        self._prune(source, event.ts)
        alerts: list[Alert] = []
        host = event.dst_ip
        if event.protocol in ("tcp", "udp") and event.dst_port is not None:
            source.attempts.append((event.ts, host, event.dst_port, event))
            ports = {p for _, h, p, _ in source.attempts if h == host}
            if len(ports) >= self.config.ports_per_host:
                alerts += self._raise(RULE_PORTSCAN, event, source.attempts, host, len(ports))
        if event.protocol == "icmp" or not (event.dst_hostname or self._names.name(host)):
            source.sweep.append((event.ts, host, event))
            alerts += self._check_sweep(event, source)
        return alerts

    def _on_failure(self, event: NetworkEvent) -> list[Alert]:
        source = self._source(event.src_ip)
        self._prune(source, event.ts)
        port = event.dst_port if event.dst_port is not None else 0
        source.failed.append((event.ts, event.dst_ip, port, event))
        alerts: list[Alert] = []
        targets = {(h, p) for _, h, p, _ in source.failed}
        if len(targets) >= self.config.failures:
            alerts += self._raise(RULE_FAILURES, event, source.failed, "", len(targets))
        if all(h != event.dst_ip for _, h, _ in source.sweep):
            source.sweep.append((event.ts, event.dst_ip, event))
            alerts += self._check_sweep(event, source)
        return alerts

    def _check_sweep(self, event: NetworkEvent, source: _Source) -> list[Alert]:
        hosts = {h for _, h, _ in source.sweep}
        if len(hosts) < self.config.hosts:
            return []
        items = [(t, h, 0, e) for t, h, e in source.sweep]
        return self._raise(RULE_HOSTSWEEP, event, items, "", len(hosts))

    def _raise(
        self,
        rule: str,
        event: NetworkEvent,
        items: deque[tuple[float, str, int, NetworkEvent]]
        | list[tuple[float, str, int, NetworkEvent]],
        host: str,
        count: int,
    ) -> list[Alert]:
        if not self._gate.first((rule, event.src_ip), event.ts):
            return []
        cfg = self.config
        window = f"{cfg.window_s:g} s"
        targets: list[str] = []
        evidence: list[Evidence] = []
        for _, h, p, e in items:
            if host and h != host:
                continue
            target = f"{h}:{p}" if p else h
            if target in targets:
                continue
            targets.append(target)
            if len(evidence) < 10:
                evidence.append(Evidence(event=e, field="dst", text=target))
        shown = ", ".join(targets[:10]) + (" ..." if len(targets) > 10 else "")
        if rule == RULE_PORTSCAN:
            title = f"Port scan: {count} ports on {host} within {window}"
            severity, attack = Severity.HIGH, ("T1046",)
        elif rule == RULE_HOSTSWEEP:
            title = f"Host sweep: {count} unresolved or failed hosts within {window}"
            severity, attack = Severity.HIGH, ("T1018",)
        else:
            title = f"{count} failed connection attempts within {window}"
            severity, attack = Severity.MEDIUM, ("T1046",)
        return [
            make_alert(
                event,
                rule_id=rule,
                title=title,
                severity=severity,
                attack=attack,
                confidence=0.85,
                evidence=tuple(evidence),
                description=f"Source {event.src_ip} fanned out to: {shown}.",
                tags=("recon", "network"),
            )
        ]


def _detail(event: NetworkEvent, key: str) -> str:
    for k, v in event.detail:
        if k == key:
            return v
    return ""
