"""Suricata EVE JSON (``eve.json``): alert records, and optionally flow, dns and drop records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from watchkeeper.attribution.external._alert import AlertKind, LineIssue, new_alert
from watchkeeper.attribution.external._common import (
    AlertReader,
    BadField,
    Item,
    Line,
    clip,
    norm_ip,
    norm_port,
    norm_proto,
    parse_iso,
    severity_from_priority,
)
from watchkeeper.errors import Location


class SuricataReader(AlertReader):
    """Reads EVE JSON lines.

    Each line is one JSON object with ``timestamp`` (ISO 8601), ``event_type``, ``src_ip``,
    ``src_port``, ``dest_ip``, ``dest_port``, ``proto`` and, for alerts,
    ``alert{signature, signature_id, severity, category, action}``. ``community_id`` is kept
    when Suricata logs it. Event types not in ``ReadOptions.eve_types`` are skipped (counted).
    For ICMP the ports are ``icmp_type``/``icmp_code``.
    """

    name = "suricata"

    @classmethod
    def sniff(cls, lines: list[str]) -> bool:
        """A JSON object with ``event_type`` and ``timestamp``."""
        for line in (raw.lstrip() for raw in lines[:5]):
            if line.startswith("{") and '"event_type"' in line and '"timestamp"' in line:
                return True
        return False

    def read(self, path: str, lines: Iterator[Line | LineIssue]) -> Iterator[Item]:
        """The alerts of one EVE file."""
        wanted = self.options.eve_types
        tz = self.options.tz
        loads = json.loads
        for entry in lines:
            if isinstance(entry, LineIssue):
                yield entry
                continue
            number, text = entry
            try:
                record = loads(text)
            except (ValueError, RecursionError):
                yield LineIssue(Location(path, number), "not valid JSON")
                continue
            if not isinstance(record, dict):
                yield LineIssue(Location(path, number), "EVE record is not a JSON object")
                continue
            event_type = record.get("event_type")
            if event_type not in wanted:
                if isinstance(event_type, str):
                    self.skipped += 1
                    continue
                yield LineIssue(Location(path, number, "event_type"), "EVE record without event_type")
                continue
            try:
                yield self._alert(record, event_type, f"{path}:{number}", tz)
            except BadField as exc:
                yield LineIssue(Location(path, number), str(exc))

    def _alert(self, record: dict[str, Any], event_type: str, source: str, tz: Any) -> Any:
        stamp = record.get("timestamp")
        if not isinstance(stamp, str):
            raise BadField("EVE record without a timestamp")
        ts = parse_iso(stamp, tz)
        proto = norm_proto(record.get("proto"))
        if proto in ("icmp", "icmp6") and "src_port" not in record:
            sport, dport = norm_port(record.get("icmp_type")), norm_port(record.get("icmp_code"))
        else:
            sport, dport = norm_port(record.get("src_port")), norm_port(record.get("dest_port"))
        raw: dict[str, Any] = {"event_type": event_type}
        flow_id = record.get("flow_id")
        if isinstance(flow_id, int):
            raw["flow_id"] = flow_id
        if isinstance(record.get("app_proto"), str):
            raw["app_proto"] = clip(record["app_proto"], 32)
        severity = None
        if event_type == "alert" or isinstance(record.get("alert"), dict):
            alert = record.get("alert")
            if not isinstance(alert, dict):
                raise BadField("EVE alert record without an alert object")
            signature = clip(alert.get("signature")) or f"sid:{alert.get('signature_id')}"
            message = clip(alert.get("category"))
            severity = severity_from_priority(alert.get("severity"))
            for key in ("signature_id", "gid", "rev", "severity", "action"):
                value = alert.get(key)
                if isinstance(value, int | str) and not isinstance(value, bool):
                    raw[key] = value if isinstance(value, int) else clip(value, 64)
        elif event_type == "dns":
            dns = record.get("dns")
            name = _dns_name(dns) if isinstance(dns, dict) else ""
            signature = "suricata dns"
            message = f"dns {name}" if name else "dns"
            if name:
                raw["rrname"] = name
        else:
            signature = f"suricata {clip(event_type, 32)}"
            message = " ".join(p for p in (raw.get("app_proto", ""), _flow_state(record)) if p)
        community = record.get("community_id")
        return new_alert(
            ts=ts,
            src_ip=norm_ip(record.get("src_ip")),
            src_port=sport,
            dst_ip=norm_ip(record.get("dest_ip")),
            dst_port=dport,
            proto=proto,
            signature=signature,
            message=message,
            severity=severity,
            source=source,
            kind=AlertKind.SURICATA.value,
            community_id=community if isinstance(community, str) and len(community) < 64 else None,
            raw=raw,
        )


def _dns_name(dns: dict[str, Any]) -> str:
    name = dns.get("rrname")
    if isinstance(name, str):
        return clip(name, 255)
    queries = dns.get("queries")  # EVE DNS v3
    if isinstance(queries, list) and queries and isinstance(queries[0], dict):
        return clip(queries[0].get("rrname"), 255)
    return ""


def _flow_state(record: dict[str, Any]) -> str:
    flow = record.get("flow")
    if isinstance(flow, dict) and isinstance(flow.get("state"), str):
        return clip(flow["state"], 32)
    return ""
