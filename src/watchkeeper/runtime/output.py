"""Alert observers: ``alerts.jsonl`` and the live one-line print.

Observers fail open: the dispatcher calls them through ``safecall`` and a failing writer never
stops enforcement.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from watchkeeper.alerts import Alert
from watchkeeper.events import DnsEvent, NetworkEvent

ALERTS_FILE = "alerts.jsonl"


def alert_facts(alert: Alert) -> dict[str, Any]:
    """pid, exe, cmdline and destination from the first evidence event that has each."""
    pid: int | None = None
    exe = cmdline = destination = ""
    for evidence in alert.evidence:
        event = evidence.event
        if pid is None and event.pid is not None:
            pid = event.pid
        image = getattr(event, "image", "")
        if not exe and image:
            exe, cmdline = image, getattr(event, "command_line", "")
        if not destination:
            if isinstance(event, NetworkEvent) and (event.dst_ip or event.dst_hostname):
                host = event.dst_hostname or (
                    f"[{event.dst_ip}]" if ":" in event.dst_ip else event.dst_ip
                )
                destination = f"{host}:{event.dst_port}" if event.dst_port is not None else host
            elif isinstance(event, DnsEvent) and event.query_name:
                destination = event.query_name
    return {"pid": pid, "exe": exe, "cmdline": cmdline, "destination": destination}


def alert_record(alert: Alert) -> dict[str, Any]:
    """The ``alerts.jsonl`` line of an alert."""
    facts = alert_facts(alert)
    return {
        "rule_id": alert.rule_id,
        "title": alert.title,
        "severity": alert.severity.label,
        "attack": list(alert.attack),
        "action": alert.action,
        "ts": alert.ts,
        "pid": facts["pid"],
        "exe": facts["exe"],
        "cmdline": facts["cmdline"],
        "destination": facts["destination"],
        "step": alert.step,
        "tool_call_id": alert.tool_call_id,
        "sandbox_id": alert.sandbox_id,
        "run_id": alert.run_id,
        "episode_id": alert.episode_id,
        "confidence": alert.confidence,
        "rule_source": alert.rule_source,
        "tags": list(alert.tags),
        "evidence": [e.to_dict() for e in alert.evidence],
    }


def alert_line(alert: Alert, width: int = 160) -> str:
    """One line for a terminal: severity, rule, title, pid, exe, destination, action."""
    facts = alert_facts(alert)
    parts = [f"[{alert.severity.label}]", alert.rule_id, repr(_cut(alert.title, 80))]
    if facts["pid"] is not None:
        parts.append(f"pid={facts['pid']}")
    if facts["exe"]:
        parts.append(f"exe={_cut(facts['exe'], 60)}")
    if facts["destination"]:
        parts.append(f"dst={facts['destination']}")
    if alert.step is not None:
        parts.append(f"step={alert.step}")
    parts.append(f"action={alert.action}")
    return "watchkeeper: alert " + " ".join(parts)


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class AlertLog:
    """Appends alerts to ``<dir>/alerts.jsonl``, one JSON object per line, flushed each time."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / ALERTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: TextIO | None = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, alert: Alert) -> None:
        """Append one alert."""
        line = json.dumps(alert_record(alert), default=str, ensure_ascii=False)
        with self._lock:
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class AlertPrinter:
    """Prints one line per alert to a stream (stderr for ``watchkeeper run``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, alert: Alert) -> None:
        """Print one alert."""
        with self._lock:
            self._stream.write(alert_line(alert) + "\n")
            self._stream.flush()
