"""Events, alerts and samples as rows of the store's tables (column order of ``_schema``)."""

from __future__ import annotations

import json
from typing import Any

from watchkeeper.alerts import Alert
from watchkeeper.events import DnsEvent, Event, NetworkEvent, event_to_dict
from watchkeeper.sensors.resources import ResourceSample

_MAX_TEXT = 64 * 1024


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT]


def event_row(seq: int, event: Event) -> tuple[Any, ...]:
    """A row of ``events``."""
    get = event.__getattribute__
    fields = {f for f in type(event).__dataclass_fields__}

    def opt(name: str) -> Any:
        return get(name) if name in fields else None

    detail = opt("detail")
    argv = opt("argv")
    answers = opt("answers")
    return (
        seq,
        event.category,
        event.ts,
        event.run_id,
        event.episode_id,
        event.step,
        event.tool_call_id,
        event.sandbox_id,
        event.source,
        event.pid,
        opt("activity"),
        _text(opt("image")),
        _text(opt("command_line")),
        list(argv) if argv is not None else None,
        _text(opt("parent_image")),
        _text(opt("parent_command_line")),
        opt("cwd"),
        opt("user"),
        opt("ppid"),
        opt("exit_code"),
        opt("path"),
        opt("protocol"),
        opt("app_protocol"),
        opt("src_ip"),
        opt("src_port"),
        opt("dst_ip"),
        opt("dst_port"),
        opt("dst_hostname"),
        opt("initiated"),
        opt("bytes_out"),
        opt("bytes_in"),
        opt("packets_out"),
        opt("packets_in"),
        opt("query_name"),
        opt("query_type"),
        list(answers) if answers is not None else None,
        opt("rcode"),
        json.dumps(dict(detail)) if detail else None,
        json.dumps(event_to_dict(event), default=str),
    )


def alert_row(seq: int, alert: Alert) -> tuple[Any, ...]:
    """A row of ``alerts``; pid/exe/cmdline/destination come from the first evidence that has one."""
    pid: int | None = None
    exe = cmdline = destination = None
    for evidence in alert.evidence:
        event = evidence.event
        if pid is None and event.pid is not None:
            pid = event.pid
        image = getattr(event, "image", "")
        if exe is None and image:
            exe, cmdline = image, getattr(event, "command_line", "") or None
        if destination is None:
            if isinstance(event, NetworkEvent) and (event.dst_ip or event.dst_hostname):
                host = event.dst_hostname or (
                    f"[{event.dst_ip}]" if ":" in event.dst_ip else event.dst_ip
                )
                destination = f"{host}:{event.dst_port}" if event.dst_port is not None else host
            elif isinstance(event, DnsEvent) and event.query_name:
                destination = event.query_name
    return (
        seq,
        alert.ts,
        alert.run_id,
        alert.episode_id,
        alert.step,
        alert.tool_call_id,
        alert.sandbox_id,
        alert.rule_id,
        alert.title,
        alert.severity.label,
        int(alert.severity),
        list(alert.attack),
        alert.action,
        alert.confidence,
        pid,
        _text(exe),
        _text(cmdline),
        destination,
        _text(alert.description),
        alert.rule_source,
        list(alert.tags),
        json.dumps([e.to_dict() for e in alert.evidence], default=str),
    )


def sample_row(run_id: str, sample: ResourceSample) -> tuple[Any, ...]:
    """A row of ``resources``."""
    return (
        sample.ts,
        run_id,
        sample.sandbox_id,
        sample.pid,
        sample.step,
        sample.tool_call_id,
        sample.cpu_share,
        sample.rss_bytes,
        sample.num_threads,
        _text(sample.image),
        _text(sample.command_line),
        sample.interval,
    )
