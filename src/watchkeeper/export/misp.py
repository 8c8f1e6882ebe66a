"""MISP event of a run, built with ``pymisp`` (``MISPEvent``, ``MISPObject``, ``MISPAttribute``).

The event holds the run's indicators as attributes (``ip-dst``, ``domain``, ``url``, ``port``,
``text`` for command lines, ``sha256``), ``network-connection`` and ``process`` objects that
keep them together, ATT&CK as galaxy tags (``misp-galaxy:mitre-attack-pattern="Resource
Hijacking - T1496"``) on the event and on each attribute, a TLP tag, and on every attribute a
comment naming the run, episode, step and tool call it came from. The output is the MISP
import format, ``{"Event": {...}}``. Ids are stable: exporting a run twice gives the same UUIDs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from watchkeeper.alerts import Severity
from watchkeeper.errors import PrerequisiteError
from watchkeeper.export._attack import technique_name, techniques
from watchkeeper.export._enrich import NetIntel
from watchkeeper.export._indicators import ROLES, Observable, collect
from watchkeeper.export._rundir import AlertRecord, FlowRecord, RunDir

NAMESPACE = uuid.UUID("0b6f52a7-3b5e-4d4f-8f7c-6e2a9d1c4b35")
"""UUIDv5 namespace of watchkeeper's MISP uuids."""

TLP_LEVELS = ("clear", "green", "amber", "red")

THREAT_LEVEL: dict[Severity | None, int] = {
    Severity.CRITICAL: 1, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3,
    Severity.INFORMATIONAL: 4, None: 4,
}  # fmt: skip
"""MISP threat_level_id (1 high, 2 medium, 3 low, 4 undefined) by worst alert severity."""


def _pymisp() -> Any:
    try:
        import pymisp
    except ImportError:
        raise PrerequisiteError(
            "the MISP export needs the pymisp package", fix="pip install pymisp"
        ) from None
    return pymisp


def galaxy_tag(tid: str) -> str:
    """``misp-galaxy:mitre-attack-pattern="Resource Hijacking - T1496"``."""
    name = technique_name(tid)
    value = f"{name} - {tid}" if name != tid else tid
    return f'misp-galaxy:mitre-attack-pattern="{value}"'


def _comment(records: Iterable[AlertRecord], extra: str = "") -> str:
    parts = []
    for r in list(records)[:5]:
        a = r.alert
        where = [f"run {a.run_id}" if a.run_id else "", f"episode {a.episode_id}" if a.episode_id else "",
                 f"step {a.step}" if a.step is not None else "",
                 f"tool call {a.tool_call_id}" if a.tool_call_id else ""]  # fmt: skip
        parts.append(f"{', '.join(w for w in where if w)}: {a.title} [{a.severity.label}, "
                     f"{a.action or 'alert'}]")  # fmt: skip
    text = "; ".join(parts)
    return (f"{extra}. {text}" if extra else text)[:4000]


class MispExporter:
    """Builds the MISP event of a run directory.

    Args:
        intel: Enrichment (address classes, list hits); bundled lists by default.
        tlp: TLP tag: "clear", "green", "amber" (default) or "red".
        distribution: MISP distribution (0 your organisation only, the default; 1 community;
            2 connected communities; 3 all).
    """

    name = "misp"
    default_filename = "misp.json"

    def __init__(self, intel: NetIntel | None = None, tlp: str = "amber",
                 distribution: int = 0) -> None:  # fmt: skip
        if tlp not in TLP_LEVELS:
            raise ValueError(f"tlp must be one of {', '.join(TLP_LEVELS)}")
        self.intel = intel
        self.tlp = tlp
        self.distribution = distribution

    def write(self, run: RunDir, out: TextIO) -> None:
        """Write ``{"Event": ...}`` as JSON."""
        event = self.event(run)
        out.write(json.dumps({"Event": json.loads(event.to_json())}, indent=2, ensure_ascii=False))
        out.write("\n")

    def event(self, run: RunDir) -> Any:
        """The ``pymisp.MISPEvent`` of the run."""
        pymisp = _pymisp()
        intel = self.intel if self.intel is not None else NetIntel()
        alerts = run.alerts()
        runs = run.runs()
        run_id = runs[0].run_id if runs else (run.run_ids() or [str(run.path)])[0]
        flows = run.flows()
        worst = max((r.alert.severity for r in alerts), default=None)
        started = runs[0].started if runs and runs[0].started else None
        if started is None:
            started = min((r.alert.ts for r in alerts if r.alert.ts > 0), default=None)

        event = pymisp.MISPEvent()
        event.uuid = str(uuid.uuid5(NAMESPACE, f"{run_id}|event"))
        top = max(alerts, key=lambda r: (r.alert.severity, -r.alert.ts)) if alerts else None
        event.info = (f"watchkeeper run {run_id}: {top.alert.title}"
                      + (f" (+{len(alerts) - 1} more alerts)" if len(alerts) > 1 else "")
                      if top else f"watchkeeper run {run_id}: no alerts")[:1000]  # fmt: skip
        event.distribution = self.distribution
        event.threat_level_id = THREAT_LEVEL[worst]
        event.analysis = 0
        event.set_date(datetime.fromtimestamp(started, UTC).date() if started else datetime.now(UTC).date())
        event.add_tag(f"tlp:{self.tlp}")
        for tid in techniques([t for r in alerts for t in r.alert.attack]):
            event.add_tag(galaxy_tag(tid))

        def uid(*key: object) -> str:
            return str(uuid.uuid5(NAMESPACE, "|".join(str(k) for k in (run_id, *key))))

        observables = collect(alerts, flows, intel)
        done_attrs: set[str] = set()
        for obs in observables:
            self._attributes(event, obs, uid, done_attrs)
        by_port: dict[int, list[AlertRecord]] = {}
        for o in observables:
            if o.is_destination and o.port is not None:
                by_port.setdefault(o.port, []).extend(o.alerts)
        for port in sorted(by_port):
            named = by_port[port]
            attr = event.add_attribute(
                "port", str(port), category="Network activity", to_ids=False,
                comment=_comment(_unique(named), "destination port"), uuid=uid("port", port),
            )  # fmt: skip
            self._tag(attr, named)
        done: set[tuple[str, int | None]] = set()
        flow_index: dict[tuple[str, int | None], list[FlowRecord]] = {}
        for flow in flows:
            for host in {flow.dst_ip, flow.dst_hostname.lower()} - {""}:
                flow_index.setdefault((host, flow.dst_port), []).append(flow)
        # names first, so the connection object carries the host name with the address
        for obs in sorted(observables, key=lambda o: o.kind != "domain-name"):
            if obs.is_destination and obs.port is not None:
                match = flow_index.get((obs.value, obs.port), [])
                self._connection(pymisp, event, obs, match, intel, uid, done)
        seen: set[tuple[int | None, str]] = set()
        for r in alerts:
            if r.cmdline and (r.pid, r.cmdline) not in seen:
                seen.add((r.pid, r.cmdline))
                self._process(pymisp, event, r, uid)
        return event

    def _attributes(self, event: Any, obs: Observable, uid: Any, done: set[str]) -> None:
        roles = ", ".join(ROLES[r].lower() for r in obs.roles)
        extra = f"{obs.label()} ({roles})" if roles else ""
        comment = _comment(obs.alerts, extra)
        public = obs.intel is None or not obs.intel.address_class or obs.intel.is_public
        spec: dict[str, tuple[str, str, bool]] = {
            "ipv4-addr": ("ip-dst", "Network activity", public),
            "ipv6-addr": ("ip-dst", "Network activity", public),
            "domain-name": ("domain", "Network activity", True),
            "url": ("url", "Network activity", True),
            "process": ("text", "Artifacts dropped", False),
            "file": ("sha256", "Payload installation", True),
        }  # fmt: skip
        if obs.kind not in spec:
            return
        kind, category, to_ids = spec[obs.kind]
        if obs.kind == "process":
            comment = _comment(obs.alerts, "command line")
        key = ("attr", kind, obs.value)
        if uid(*key) in done:
            return  # the same value on another port: one attribute
        done.add(uid(*key))
        extra_times: dict[str, Any] = {}
        if obs.first_seen > 0:
            extra_times["first_seen"] = datetime.fromtimestamp(obs.first_seen, UTC)
            extra_times["last_seen"] = datetime.fromtimestamp(max(obs.last_seen, obs.first_seen), UTC)
        attr = event.add_attribute(kind, obs.value, category=category, to_ids=to_ids,
                                   comment=comment, uuid=uid(*key), **extra_times)  # fmt: skip
        self._tag(attr, obs.alerts)

    def _tag(self, attr: Any, records: Iterable[AlertRecord]) -> None:
        for tid in techniques([t for r in records for t in r.alert.attack]):
            attr.add_tag(galaxy_tag(tid))

    def _connection(self, pymisp: Any, event: Any, obs: Observable, match: list[FlowRecord],
                    intel: NetIntel, uid: Any, done: set[tuple[str, int | None]]) -> None:  # fmt: skip
        """One network-connection object per destination address and port (``match``: its flows)."""
        addresses = {f.dst_ip for f in match if f.dst_ip} | set(obs.resolved)
        if obs.kind != "domain-name":
            addresses.add(obs.value)
        keys = {(a, obs.port) for a in addresses} or {(obs.value, obs.port)}
        if keys & done:
            return
        done.update(keys)
        obj = pymisp.MISPObject("network-connection", standalone=False)
        obj.uuid = uid("network-connection", obs.kind, obs.value, obs.port)
        obj.comment = _comment(obs.alerts)
        if obs.kind == "domain-name":
            obj.add_attribute("hostname-dst", value=obs.value, to_ids=False)
            if obs.resolved:
                obj.add_attribute("ip-dst", value=obs.resolved[0], to_ids=False)
        else:
            obj.add_attribute("ip-dst", value=obs.value, to_ids=False)
        obj.add_attribute("dst-port", value=str(obs.port), to_ids=False)
        obj.add_attribute("layer4-protocol", value=(obs.protocol or "tcp").upper(), to_ids=False)
        if match:
            flow = match[0]
            if flow.app_protocol:
                obj.add_attribute("layer7-protocol", value=flow.app_protocol.upper(), to_ids=False)
            if flow.src_ip:
                obj.add_attribute("ip-src", value=flow.src_ip, to_ids=False)
            if flow.src_port is not None:
                obj.add_attribute("src-port", value=str(flow.src_port), to_ids=False)
            cid = intel.community_id(flow.protocol, flow.src_ip, flow.src_port, flow.dst_ip,
                                     flow.dst_port)  # fmt: skip
            if cid:
                obj.add_attribute("community-id", value=cid, to_ids=False)
            if flow.first_seen > 0:
                obj.add_attribute("first-packet-seen",
                                  value=datetime.fromtimestamp(flow.first_seen, UTC).isoformat(),
                                  to_ids=False)  # fmt: skip
        event.add_object(obj)

    def _process(self, pymisp: Any, event: Any, r: AlertRecord, uid: Any) -> None:
        obj = pymisp.MISPObject("process", standalone=False)
        obj.uuid = uid("process", r.pid, r.cmdline)
        obj.comment = _comment([r])
        obj.add_attribute("command-line", value=r.cmdline, to_ids=False)
        if r.exe:
            obj.add_attribute("image", value=r.exe, to_ids=False)
            obj.add_attribute("name", value=r.exe.rsplit("/", 1)[-1] or r.exe, to_ids=False)
        if r.pid is not None:
            obj.add_attribute("pid", value=str(r.pid), to_ids=False)
        event.add_object(obj)


def _unique(records: Iterable[AlertRecord]) -> list[AlertRecord]:
    out: dict[int, AlertRecord] = {}
    for r in records:
        out.setdefault(r.index, r)
    return [out[k] for k in sorted(out)]
