"""``watchkeeper pcap``: run the network flow table, fingerprints and detectors over captures."""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

import click

from watchkeeper.alerts import Alert
from watchkeeper.detect.detectors import network_detectors
from watchkeeper.detect.detectors._netcommon import destination
from watchkeeper.errors import InputError, Location
from watchkeeper.events import Event, event_to_dict
from watchkeeper.pcap import replay


def alert_record(alert: Alert) -> dict[str, Any]:
    """The JSON line of an alert, with the same fields as live alerts."""
    first = alert.evidence[0].event if alert.evidence else None
    return {
        "rule_id": alert.rule_id,
        "title": alert.title,
        "severity": alert.severity.label,
        "attack": list(alert.attack),
        "confidence": alert.confidence,
        "action": alert.action,
        "ts": alert.ts,
        "pid": None,
        "exe": None,
        "cmdline": None,
        "destination": destination(first) if first is not None else None,
        "step": alert.step,
        "sandbox_id": alert.sandbox_id,
        "description": alert.description,
        "evidence": [e.to_dict() for e in alert.evidence],
    }


def _table_line(rec: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(rec["ts"]))
    return (
        f"{when}  {rec['severity']:<8}  {rec['rule_id']:<28}  "
        f"{','.join(rec['attack']):<20}  {rec['destination'] or '-':<24}  {rec['title']}"
    )


@click.command(name="pcap")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl",
              show_default=True, help="Output format of the alerts.")  # fmt: skip
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write alerts to this file instead of stdout.")  # fmt: skip
@click.option("--allow-ssh", multiple=True, metavar="HOST",
              help="SSH peer that does not alert (IP, CIDR or host name); repeatable or comma-separated.")  # fmt: skip
@click.option("--local-net", multiple=True, metavar="CIDR",
              help="Network of the sandbox side (default: each flow's originator); repeatable.")  # fmt: skip
@click.option("--events", "events_path", type=click.Path(path_type=Path), default=None,
              help="Also write every flow and DNS event as JSON lines to this file.")  # fmt: skip
def command(
    files: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    allow_ssh: tuple[str, ...],
    local_net: tuple[str, ...],
    events_path: Path | None,
) -> None:
    """Detect mining, SSH tunnels, scans and metadata access in pcap/pcapng FILES.

    Alerts are written one JSON object per line (or as a table). The exit status is 0, or 2 when
    a file could not be read or was truncated or corrupt (the alerts found before the damage are
    still written).
    """
    for net in local_net:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise InputError(f"not a network: {net!r}", Location("--local-net")) from None
    allowed = [item.strip() for entry in allow_ssh for item in entry.split(",") if item.strip()]
    detectors = network_detectors(allow_ssh=allowed)
    out: IO[str] = sys.stdout
    ev_out: IO[str] | None = None
    try:
        if output is not None:
            out = open(output, "w", encoding="utf-8")  # noqa: SIM115
        if events_path is not None:
            ev_out = open(events_path, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise InputError(
            f"cannot write: {exc.strerror or exc}", Location(str(exc.filename))
        ) from None

    count = 0

    def on_event(event: Event) -> None:
        nonlocal count
        if ev_out is not None:
            ev_out.write(json.dumps(event_to_dict(event), sort_keys=True) + "\n")
        for detector in detectors:
            for alert in detector.observe(event):
                rec = alert_record(alert)
                count += 1
                out.write((json.dumps(rec) if fmt == "jsonl" else _table_line(rec)) + "\n")

    try:
        result = replay(list(files), on_event, local_nets=local_net)
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
        if ev_out is not None:
            ev_out.close()
    if fmt == "table":
        click.echo(
            f"{len(files)} file(s), {result.packets} packets ({result.decoded} IP), {count} alert(s)",
            err=True,
        )
    for error in result.errors:
        click.echo(f"watchkeeper: error: {error}", err=True)
    if result.errors:
        sys.exit(2)
