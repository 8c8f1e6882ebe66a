"""OCSF 1.x serialisation of events and alerts (Detection Finding, class 2004).

Events map to Process Activity (1007), Network Activity (4001), DNS Activity (4003) and
File System Activity (1001). Alerts map to Detection Finding (2004) whose ``evidences`` carry the
events. Agent attribution (run, episode, step, tool call) goes into ``metadata`` and ``unmapped``.
"""

from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING, Any, TextIO

from watchkeeper import __version__
from watchkeeper.alerts import Alert
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent

if TYPE_CHECKING:
    from watchkeeper.export._rundir import RunDir

OCSF_VERSION = "1.4.0"

_PRODUCT = {"name": "watchkeeper", "vendor_name": "watchkeeper", "version": __version__}

_PROCESS_ACTIVITY = {"launch": 1, "terminate": 2}
_NETWORK_ACTIVITY = {
    "open": 1, "close": 2, "reset": 3, "fail": 4, "refuse": 5, "deny": 5, "traffic": 6, "listen": 7,
}
_FILE_ACTIVITY = {
    "create": 1, "read": 2, "write": 3, "rename": 5, "delete": 4, "chmod": 6, "link": 99,
}
_FINDING_CATEGORY = 2


def _time_ms(ts: float) -> int:
    return int(ts * 1000)


def _agent(event: Event | Alert) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if event.run_id:
        out["run_id"] = event.run_id
    if event.episode_id:
        out["episode_id"] = event.episode_id
    if event.step is not None:
        out["step"] = event.step
    if event.tool_call_id:
        out["tool_call_id"] = event.tool_call_id
    if event.sandbox_id:
        out["sandbox_id"] = event.sandbox_id
    return out


def _process(image: str, command_line: str, pid: int | None) -> dict[str, Any]:
    name = image.rsplit("/", 1)[-1] if image else ""
    proc: dict[str, Any] = {"name": name, "cmd_line": command_line}
    if image:
        proc["file"] = {"path": image, "name": name}
    if pid is not None:
        proc["pid"] = pid
    return proc


def event_to_ocsf(event: Event) -> dict[str, Any]:
    """One OCSF event object for a watchkeeper event."""
    cls = event.ocsf_class_uid
    out: dict[str, Any] = {
        "class_uid": cls,
        "class_name": event.ocsf_class_name,
        "category_uid": cls // 1000,
        "time": _time_ms(event.ts),
        "severity_id": 1,
        "metadata": {
            "version": OCSF_VERSION,
            "product": _PRODUCT,
            "correlation_uid": event.episode_id or event.run_id,
        },
    }
    activity = 0
    if isinstance(event, ProcessEvent):
        activity = _PROCESS_ACTIVITY.get(event.activity, 99)
        proc = _process(event.image, event.command_line, event.pid)
        if event.cwd:
            proc["working_directory"] = event.cwd
        if event.parent_image or event.parent_command_line:
            proc["parent_process"] = _process(event.parent_image, event.parent_command_line, event.ppid)
        out["process"] = proc
    elif isinstance(event, NetworkEvent):
        activity = _NETWORK_ACTIVITY.get(event.activity, 99)
        dst: dict[str, Any] = {}
        if event.dst_ip:
            dst["ip"] = event.dst_ip
        if event.dst_port is not None:
            dst["port"] = event.dst_port
        if event.dst_hostname:
            dst["hostname"] = event.dst_hostname
        src: dict[str, Any] = {}
        if event.src_ip:
            src["ip"] = event.src_ip
        if event.src_port is not None:
            src["port"] = event.src_port
        out["dst_endpoint"] = dst
        out["src_endpoint"] = src
        out["connection_info"] = {
            "protocol_name": event.protocol,
            "direction_id": 2 if event.initiated else 1,
        }
        out["traffic"] = {
            "bytes_in": event.bytes_in,
            "bytes_out": event.bytes_out,
            "packets_in": event.packets_in,
            "packets_out": event.packets_out,
        }
        if event.image or event.command_line or event.pid is not None:
            out["actor"] = {"process": _process(event.image, event.command_line, event.pid)}
        if event.app_protocol or event.detail:
            out.setdefault("unmapped", {})["app_protocol"] = event.app_protocol
            out["unmapped"]["detail"] = dict(event.detail)
    elif isinstance(event, DnsEvent):
        activity = 1
        out["query"] = {"hostname": event.query_name, "type": event.query_type}
        out["answers"] = [{"rdata": a} for a in event.answers]
        if event.rcode:
            out["rcode"] = event.rcode
        if event.image or event.pid is not None:
            out["actor"] = {"process": _process(event.image, event.command_line, event.pid)}
    elif isinstance(event, FileEvent):
        activity = _FILE_ACTIVITY.get(event.activity, 99)
        name = event.path.rsplit("/", 1)[-1]
        out["file"] = {"path": event.path, "name": name}
        out["actor"] = {"process": _process(event.image, event.command_line, event.pid)}
    out["activity_id"] = activity
    out["type_uid"] = cls * 100 + activity
    agent = _agent(event)
    if agent:
        out.setdefault("unmapped", {})["agent"] = agent
    return out


def product() -> dict[str, str]:
    """The OCSF ``metadata.product`` object."""
    return dict(_PRODUCT)


def attacks_of(technique_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """OCSF ``attacks`` objects for ATT&CK technique ids."""
    out: list[dict[str, Any]] = []
    for tid in technique_ids:
        base, _, sub = tid.partition(".")
        item: dict[str, Any] = {"technique": {"uid": base}, "version": "17"}
        if sub:
            item["sub_technique"] = {"uid": tid}
        out.append(item)
    return out


def alert_to_ocsf(alert: Alert) -> dict[str, Any]:
    """An OCSF Detection Finding (2004) for an alert, with its evidence events."""
    severity_id = int(alert.severity)
    finding: dict[str, Any] = {
        "uid": f"{alert.episode_id or alert.run_id}:{alert.step}:{alert.tool_call_id}:{alert.rule_id}",
        "title": alert.title,
        "desc": alert.description,
        "analytic": {"name": alert.title, "uid": alert.rule_id, "type_id": 1 if alert.rule_source != "detector" else 2},
        "attacks": attacks_of(alert.attack),
        "types": [alert.rule_source or "rule"],
    }
    if alert.ts:
        finding["first_seen_time"] = _time_ms(alert.ts)
        finding["last_seen_time"] = _time_ms(alert.ts)
    out: dict[str, Any] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": _FINDING_CATEGORY,
        "activity_id": 1,
        "type_uid": 200401,
        "time": _time_ms(alert.ts),
        "severity_id": severity_id,
        "severity": alert.severity.name.capitalize(),
        "status_id": 1,
        "is_alert": alert.severity >= alert.severity.MEDIUM,
        "confidence_score": round(alert.confidence * 100),
        "finding_info": finding,
        "metadata": {
            "version": OCSF_VERSION,
            "product": _PRODUCT,
            "correlation_uid": alert.episode_id or alert.run_id,
        },
        "evidences": [
            {"data": {"field": e.field, "text": e.text}, **_evidence_body(e.event)} for e in alert.evidence
        ],
        "unmapped": {"agent": _agent(alert), "action": alert.action, "author": alert.author},
    }
    return out


def _evidence_body(event: Event) -> dict[str, Any]:
    ocsf = event_to_ocsf(event)
    body: dict[str, Any] = {}
    for key in ("process", "dst_endpoint", "src_endpoint", "connection_info", "file", "query", "actor"):
        if key in ocsf:
            body[key] = ocsf[key]
    return body


class OcsfExporter:
    """Writes a run directory as OCSF JSON lines for a SIEM: every event, then every alert as a
    Detection Finding, merged in time order (an event before an alert at the same time).
    """

    name = "ocsf"
    default_filename = "ocsf.jsonl"

    def __init__(self) -> None:
        self.events_written = 0
        self.alerts_written = 0

    def write(self, run: RunDir, out: TextIO) -> None:
        """Stream the lines to ``out`` (events are read in batches, never all at once)."""
        events = ((e.ts, 0, i, e) for i, e in enumerate(run.iter_events()))
        alerts = ((r.alert.ts, 1, r.index, r.alert) for r in run.alerts())
        for _, _, _, item in heapq.merge(events, alerts, key=lambda t: (t[0], t[1], t[2])):
            if isinstance(item, Alert):
                line = alert_to_ocsf(item)
                self.alerts_written += 1
            else:
                line = event_to_ocsf(item)
                self.events_written += 1
            out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
