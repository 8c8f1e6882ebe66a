"""What the HTML report shows, derived from a run directory (no HTML here)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from watchkeeper.alerts import Severity
from watchkeeper.events import DnsEvent, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.export._attack import techniques
from watchkeeper.export._enrich import HostIntel, NetIntel
from watchkeeper.export._indicators import split_destination
from watchkeeper.export._rundir import (
    AlertRecord,
    FlowRecord,
    ResourcePoint,
    RunDir,
    RunInfo,
    StepInfo,
)

MAX_PROCESSES = 20_000
MAX_ROWS = 5_000
MAX_DEPTH = 48
"""Deeper process trees are drawn flat from this depth on."""


@dataclass(slots=True)
class ProcNode:
    """A process in a step's tree."""

    pid: int | None
    ppid: int | None
    image: str
    cmdline: str
    start: float
    step: int | None
    user: str = ""
    cwd: str = ""
    end: float | None = None
    exit_code: int | None = None
    alerts: list[AlertRecord] = field(default_factory=list)
    children: list[ProcNode] = field(default_factory=list)
    is_exec: bool = False


@dataclass(frozen=True, slots=True)
class FlowRow:
    """A flow with its enrichment and the alerts that name its destination."""

    flow: FlowRecord
    intel: HostIntel
    community_id: str
    alerts: tuple[AlertRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class DnsRow:
    """A DNS query with the list hits of its name."""

    event: DnsEvent
    intel: HostIntel
    alerts: tuple[AlertRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class StepRow:
    """A step with its alerts and process count."""

    info: StepInfo
    alerts: tuple[AlertRecord, ...]
    roots: tuple[ProcNode, ...]
    processes: int


@dataclass(slots=True)
class ReportModel:
    """Everything the report renders."""

    path: str
    run: RunInfo | None
    run_ids: list[str]
    t0: float
    t1: float
    alerts: list[AlertRecord]
    alerts_source: str
    steps: list[StepRow]
    unattributed: tuple[ProcNode, ...]
    flows: list[FlowRow]
    flow_total: int
    dns: list[DnsRow]
    files: list[FileEvent]
    resources: list[ResourcePoint]
    counts: dict[str, int]
    processes: list[ProcNode]
    notes: list[str]
    intel_sources: list[str]
    intel_missing: list[str]
    has_geo: bool
    sandbox_ids: list[str]
    dest_intel: dict[int, HostIntel]
    """Enrichment of each alert's destination, by alert index."""

    @property
    def worst(self) -> Severity | None:
        """The highest alert severity, None without alerts."""
        return max((r.alert.severity for r in self.alerts), default=None)

    def techniques(self) -> list[tuple[str, int]]:
        """ATT&CK ids with how many alerts name them, most frequent first."""
        counts: Counter[str] = Counter()
        order: dict[str, int] = {}
        for record in self.alerts:
            for tid in techniques(list(record.alert.attack)):
                counts[tid] += 1
                order.setdefault(tid, len(order))
        return sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]]))

    def actions(self) -> list[tuple[str, list[AlertRecord]]]:
        """Responses other than "alert", with the alerts that caused them, in time order."""
        out: dict[str, list[AlertRecord]] = {}
        for record in self.alerts:
            if record.alert.action not in ("", "alert"):
                out.setdefault(record.alert.action, []).append(record)
        return list(out.items())

    def alert_steps(self) -> list[int]:
        """Steps with at least one alert."""
        return sorted({r.alert.step for r in self.alerts if r.alert.step is not None})


def build(run: RunDir, intel: NetIntel) -> ReportModel:
    """Read ``run`` into a :class:`ReportModel` (bounded: see the MAX_* constants)."""
    notes: list[str] = []
    alerts = run.alerts()
    runs = run.runs()
    info = runs[0] if runs else None
    counts = run.event_counts()
    steps = run.steps()

    processes = _processes(run, alerts, notes)
    by_step: dict[int | None, list[ProcNode]] = {}
    for node in processes:
        by_step.setdefault(node.step, []).append(node)
    step_rows = []
    known_steps = {s.step for s in steps}
    for extra in sorted(k for k in by_step if k is not None and k not in known_steps):
        steps.append(StepInfo(extra))
    steps.sort(key=lambda s: s.step)
    for s in steps:
        nodes = by_step.get(s.step, [])
        step_rows.append(
            StepRow(s, tuple(r for r in alerts if r.alert.step == s.step), _tree(nodes), len(nodes))
        )

    alert_dests = _alert_destinations(alerts)
    flows = []
    flow_total = run.flow_count()
    for flow in run.flows(limit=MAX_ROWS):
        host_intel = intel.host(ip=flow.dst_ip, domain=flow.dst_hostname, port=flow.dst_port)
        cid = intel.community_id(flow.protocol, flow.src_ip, flow.src_port, flow.dst_ip,
                                 flow.dst_port)  # fmt: skip
        named = _named(alert_dests, (flow.dst_ip, flow.dst_hostname.lower()), flow.dst_port)
        flows.append(FlowRow(flow, host_intel, cid, named))
    if flow_total > len(flows):
        notes.append(f"Network flows: the first {len(flows):,} of {flow_total:,} are listed.")

    dns_rows = []
    for event in run.iter_events(categories=["dns"], limit=MAX_ROWS):
        if isinstance(event, DnsEvent):
            named = _named(alert_dests, (event.query_name.lower(),), None)
            dns_rows.append(DnsRow(event, intel.host(domain=event.query_name), named))
    if counts.get("dns", 0) > len(dns_rows):
        notes.append(f"DNS: the first {len(dns_rows):,} of {counts['dns']:,} queries are listed.")
    files = [e for e in run.iter_events(categories=["file_event"], limit=MAX_ROWS)
             if isinstance(e, FileEvent)]  # fmt: skip
    if counts.get("file_event", 0) > len(files):
        notes.append(f"Files: the first {len(files):,} of {counts['file_event']:,} are listed.")
    resources = run.resources()

    stamps: list[float] = []
    if info is not None:
        stamps += [t for t in (info.started, info.ended) if t]
    for s in steps:
        stamps += [t for t in (s.started, s.ended) if t]
    stamps += [r.alert.ts for r in alerts if r.alert.ts > 0]
    stamps += [n.start for n in processes if n.start > 0]
    stamps += [t for f in flows for t in (f.flow.first_seen, f.flow.last_seen) if t > 0]
    stamps += [d.event.ts for d in dns_rows if d.event.ts > 0]
    stamps += [p.ts for p in resources]
    stamps = [t for t in stamps if math.isfinite(t) and t > 0]
    t0 = min(stamps) if stamps else 0.0
    t1 = max(stamps) if stamps else 1.0
    dest_intel: dict[int, HostIntel] = {}
    pairs: list[tuple[tuple[AlertRecord, ...], HostIntel]] = [(f.alerts, f.intel) for f in flows]
    pairs += [(d.alerts, d.intel) for d in dns_rows]
    for records, host_intel in pairs:
        for record in records:
            dest_intel.setdefault(record.index, host_intel)
    sandboxes = sorted({r.alert.sandbox_id for r in alerts if r.alert.sandbox_id}
                       | {f.flow.sandbox_id for f in flows if f.flow.sandbox_id})  # fmt: skip
    return ReportModel(
        path=str(run.path), run=info, run_ids=run.run_ids(), t0=t0, t1=t1, alerts=alerts,
        alerts_source=run.alerts_source, steps=step_rows,
        unattributed=_tree(by_step.get(None, [])), flows=flows, flow_total=flow_total,
        dns=dns_rows, files=files, resources=resources, counts=counts, processes=processes,
        notes=notes, intel_sources=list(intel.sources), intel_missing=list(intel.missing),
        has_geo=intel.has_geo, sandbox_ids=sandboxes, dest_intel=dest_intel,
    )  # fmt: skip


def _processes(run: RunDir, alerts: list[AlertRecord], notes: list[str]) -> list[ProcNode]:
    by_pid_alerts: dict[tuple[int | None, int], list[AlertRecord]] = {}
    for record in alerts:
        pids = {record.pid} | {e.event.pid for e in record.alert.evidence}
        for pid in pids - {None}:
            assert pid is not None
            by_pid_alerts.setdefault((record.alert.step, pid), []).append(record)
    nodes: list[ProcNode] = []
    latest: dict[int, ProcNode] = {}
    total = run.event_counts().get("process_creation", 0)
    for event in run.iter_events(categories=["process_creation"], limit=MAX_PROCESSES * 2):
        if not isinstance(event, ProcessEvent):
            continue
        if event.activity == "terminate":
            node = latest.get(event.pid) if event.pid is not None else None
            if node is not None:
                node.end = event.ts
                node.exit_code = event.exit_code
            continue
        if len(nodes) >= MAX_PROCESSES:
            continue
        previous = latest.get(event.pid) if event.pid is not None else None
        node = ProcNode(
            pid=event.pid, ppid=event.ppid, image=event.image, cmdline=event.command_line,
            start=event.ts, step=event.step, user=event.user, cwd=event.cwd,
            is_exec=previous is not None and previous.end is None and previous.step == event.step,
        )  # fmt: skip
        if event.pid is not None:
            node.alerts = list(by_pid_alerts.get((event.step, event.pid), []))
            latest[event.pid] = node
        nodes.append(node)
    if total > MAX_PROCESSES * 2 or len(nodes) >= MAX_PROCESSES:
        notes.append(f"Processes: the first {len(nodes):,} launches are drawn.")
    return nodes


def _tree(nodes: list[ProcNode]) -> tuple[ProcNode, ...]:
    """Link ``nodes`` (one step, time order) into trees; returns the roots."""
    roots: list[ProcNode] = []
    by_pid: dict[int, ProcNode] = {}
    for node in nodes:
        node.children = []
    for node in nodes:
        parent = None
        if node.is_exec and node.pid is not None:
            parent = by_pid.get(node.pid)
        elif node.ppid is not None:
            parent = by_pid.get(node.ppid)
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)
        if node.pid is not None:
            by_pid[node.pid] = node
    return tuple(roots)


def _alert_destinations(alerts: list[AlertRecord]) -> dict[tuple[str, int | None], list[AlertRecord]]:
    out: dict[tuple[str, int | None], list[AlertRecord]] = {}
    for record in alerts:
        keys: set[tuple[str, int | None]] = set()
        for evidence in record.alert.evidence:
            event = evidence.event
            if isinstance(event, NetworkEvent):
                for host in (event.dst_ip, event.dst_hostname.lower()):
                    if host:
                        keys.add((host, event.dst_port))
                        keys.add((host, None))
            elif isinstance(event, DnsEvent) and event.query_name:
                keys.add((event.query_name.lower(), None))
        if record.destination:
            host, port = split_destination(record.destination)
            keys.add((host.lower(), port))
            keys.add((host.lower(), None))
        for key in keys:
            out.setdefault(key, []).append(record)
    return out


def _named(index: dict[tuple[str, int | None], list[AlertRecord]], hosts: tuple[str, ...],
           port: int | None) -> tuple[AlertRecord, ...]:  # fmt: skip
    found: dict[int, AlertRecord] = {}
    for host in hosts:
        if not host:
            continue
        for key in ((host, port), (host, None)):
            for record in index.get(key, ()):
                found[record.index] = record
    return tuple(found[k] for k in sorted(found))
