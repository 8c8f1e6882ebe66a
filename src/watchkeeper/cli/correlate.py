"""``watchkeeper correlate``: join firewall and IDS alerts to agent steps by address and time."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any

import click

from watchkeeper.attribution.correlate import Attribution, Correlator
from watchkeeper.attribution.external import (
    FORMATS,
    LineIssue,
    ReadOptions,
    Summarizer,
    TrajectorySummary,
    load_sandbox_map,
    read_alerts,
)
from watchkeeper.attribution.external._common import BadField, parse_time
from watchkeeper.errors import InputError
from watchkeeper.intel import Enricher, community_id, open_enricher
from watchkeeper.trajectories import ReadIssue, read_trajectories

#: Most warnings of one kind printed before the rest are only counted.
MAX_WARNINGS = 20


def _tz(text: str) -> tzinfo:
    if text.upper() in ("UTC", "Z"):
        return UTC
    if text.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    if text[:1] in "+-" and len(text) in (5, 6):
        sign = -1 if text[0] == "-" else 1
        digits = text[1:].replace(":", "")
        if digits.isdigit() and len(digits) == 4:
            return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(text)
    except (ValueError, KeyError, OSError):
        raise click.BadParameter(f"unknown time zone {text!r} (UTC, local, +HH:MM or a zone "
                                 "name like Europe/Paris)", param_hint="--log-tz") from None


class _Warnings:
    """Prints the first warnings of a run, counts the rest."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, text: str) -> None:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            click.echo(f"watchkeeper: warning: {text}", err=True)


@click.command("correlate")
@click.option("--alerts", "alert_paths", multiple=True, required=True,
              type=click.Path(path_type=Path),
              help="Alert log file or folder (repeatable): Suricata EVE, Zeek, nft/iptables, CSV.")
@click.option("--alerts-format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Force the alert log format (default: detect per file).")
@click.option("--traces", "trace_paths", multiple=True, required=True,
              type=click.Path(path_type=Path), help="Trajectory file or folder (repeatable).")
@click.option("--traces-format", default=None, help="Force a trajectory format.")
@click.option("--sandbox-map", type=click.Path(path_type=Path), default=None,
              help="CSV or JSONL of episode, ip, start, end (default: trajectories' "
                   "metadata sandbox_ip).")
@click.option("--skew", type=click.FloatRange(min=0.0, max=3600.0), default=2.0,
              show_default=True, help="Clock difference tolerated, seconds.")
@click.option("--year", type=click.IntRange(1970, 9999), default=None,
              help="Year of RFC 3164 syslog stamps (default: the log file's mtime year).")
@click.option("--boot-time", default=None,
              help="Host boot time for dmesg [seconds since boot] stamps (epoch or ISO 8601).")
@click.option("--log-tz", default="UTC", show_default=True,
              help="Zone of stamps without an offset: UTC, local, +HH:MM or a zone name.")
@click.option("--eve-types", default="alert", show_default=True,
              help="Suricata event types to read, comma-separated (alert,flow,dns,drop).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Write attributions.jsonl and summary.jsonl into this folder.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the attributions (JSONL) to this file.")
@click.option("--format", "out_format", type=click.Choice(["jsonl", "table"]), default="jsonl",
              show_default=True, help="Standard output: attributions (jsonl) or a summary table.")
@click.option("--enrich", is_flag=True,
              help="Add offline enrichment of the remote address and port (class, list hits).")
@click.option("--mmdb", multiple=True, type=click.Path(path_type=Path),
              help="MaxMind DB file (ASN, City, Country) for --enrich (repeatable).")
def command(
    alert_paths: tuple[Path, ...],
    alerts_format: str,
    trace_paths: tuple[Path, ...],
    traces_format: str | None,
    sandbox_map: Path | None,
    skew: float,
    year: int | None,
    boot_time: str | None,
    log_tz: str,
    eve_types: str,
    out_dir: Path | None,
    output: Path | None,
    out_format: str,
    enrich: bool,
    mmdb: tuple[Path, ...],
) -> None:
    """Attribute external alerts to the episode, step and tool call that caused them.

    An alert is matched to the episode that held its source or destination address at the
    alert's time (the sandbox map), then to the step whose time window holds that time, within
    --skew seconds. Malformed lines are reported and skipped; the exit code is then 2.
    """
    if out_dir is not None and output is not None:
        raise click.UsageError("give --out DIR or --output FILE, not both")
    if mmdb and not enrich:
        raise click.UsageError("--mmdb is used by --enrich")
    for path in alert_paths:
        if not path.exists():
            raise InputError(f"no such alerts file or folder: {path}")
    booted: float | None = None
    if boot_time is not None:
        try:
            booted = parse_time(boot_time, UTC)
        except BadField:
            raise click.BadParameter("expected epoch seconds or ISO 8601",
                                     param_hint="--boot-time") from None
    options = ReadOptions(year=year, boot_time=booted, tz=_tz(log_tz),
                          eve_types=frozenset(t.strip() for t in eve_types.split(",") if t.strip()))
    warn = _Warnings()
    problems = 0

    correlator = Correlator(skew, leases_from_metadata=sandbox_map is None)
    if sandbox_map is not None:
        if not sandbox_map.is_file():
            raise InputError(f"no such sandbox map file: {sandbox_map}")
        for entry in load_sandbox_map(sandbox_map):
            if isinstance(entry, LineIssue):
                problems += 1
                warn(str(entry))
            else:
                correlator.add_lease(entry)
    for traj in read_trajectories(trace_paths, fmt=traces_format):
        if isinstance(traj, ReadIssue):
            problems += 1
            warn(str(traj))
        else:
            correlator.add_trajectory(traj)
    correlator.finish()
    _check_index(correlator, sandbox_map is not None)

    enricher = Enricher(maxmind=open_enricher(mmdb)) if enrich else None
    summarizer = Summarizer()
    counts = {"alerts": 0, "attributed": 0, "confident": 0}
    files = _Outputs(out_dir, output, out_format)
    stream = read_alerts(alert_paths, fmt=alerts_format, options=options)
    try:
        for item in stream:
            if isinstance(item, LineIssue):
                warn(str(item))
                continue
            att = correlator.attribute(item)
            summarizer.add(att)
            counts["alerts"] += 1
            if att.trajectory_id is not None:
                counts["attributed"] += 1
                if att.confidence >= 0.5:
                    counts["confident"] += 1
            files.attribution(_record(att, enricher))
        summaries = summarizer.results()
        files.summaries(summaries)
    finally:
        files.close()
        if enricher is not None and enricher.maxmind is not None:
            enricher.maxmind.close()
    problems += stream.stats.issues
    click.echo(
        f"watchkeeper: {counts['alerts']} alerts from {stream.stats.files} file(s): "
        f"{counts['attributed']} attributed ({counts['confident']} with confidence >= 0.5), "
        f"{counts['alerts'] - counts['attributed']} unattributed"
        + (f"; {stream.stats.issues} malformed line(s) skipped" if stream.stats.issues else ""),
        err=True)
    if problems:
        sys.exit(2)


def _check_index(correlator: Correlator, with_map: bool) -> None:
    stats = correlator.stats
    if stats.untimed_trajectories:
        click.echo(f"watchkeeper: warning: {stats.untimed_trajectories} trajectories have no step "
                   "times; their alerts name the episode only", err=True)
    if stats.leases == 0:
        where = "the sandbox map" if with_map else "trajectory metadata (sandbox_ip)"
        click.echo(f"watchkeeper: warning: no sandbox addresses in {where}: every alert will be "
                   "unattributed", err=True)
    elif with_map:
        missing = correlator.lease_episodes() - correlator.episodes
        if missing:
            click.echo(f"watchkeeper: warning: {len(missing)} episode(s) of the sandbox map have no "
                       f"trajectory (e.g. {sorted(missing)[0]!r})", err=True)


def _record(att: Attribution, enricher: Enricher | None) -> dict[str, Any]:
    out = att.to_dict()
    alert = att.alert
    if out["community_id"] is None and alert.src_ip and alert.dst_ip:
        try:
            out["community_id"] = community_id(alert.proto, alert.src_ip, alert.src_port,
                                               alert.dst_ip, alert.dst_port)
        except ValueError:
            pass
    if enricher is not None:
        remote_is_src = att.side == "dst"
        ip = alert.src_ip if remote_is_src else alert.dst_ip
        port = alert.src_port if remote_is_src else alert.dst_port
        domain = alert.raw.get("rrname")
        out["remote"] = enricher.enrich(ip=ip or None, port=port,
                                        domain=domain if isinstance(domain, str) else None).to_dict()
    return out


class _Outputs:
    """Where attributions and summaries go, per --out/--output/--format."""

    def __init__(self, out_dir: Path | None, output: Path | None, out_format: str) -> None:
        self.table = out_format == "table"
        self._summary_file: Path | None = None
        self._handle: IO[str] | None = None
        self._own = False
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self._handle = open(out_dir / "attributions.jsonl", "w", encoding="utf-8")
            self._own = True
            self._summary_file = out_dir / "summary.jsonl"
        elif output is not None:
            self._handle = open(output, "w", encoding="utf-8")
            self._own = True
        elif not self.table:
            self._handle = sys.stdout

    def attribution(self, record: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def summaries(self, summaries: list[TrajectorySummary]) -> None:
        if self._summary_file is not None:
            with open(self._summary_file, "w", encoding="utf-8") as handle:
                for s in summaries:
                    handle.write(json.dumps(s.to_dict(), ensure_ascii=False) + "\n")
        if self.table:
            _print_table(summaries)

    def close(self) -> None:
        if self._own and self._handle is not None:
            self._handle.close()
        elif self._handle is not None:
            self._handle.flush()


def _print_table(summaries: list[TrajectorySummary]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("trajectory", "alerts", "first", "last", "steps (alerts)", "top signatures",
                  "severity", "low conf.", box=None, highlight=False)
    for s in summaries:
        steps = ", ".join(f"{k}({v})" for k, v in s.steps.most_common(5) if k >= 0)
        sigs = "; ".join(f"{k} ({v})" for k, v in s.by_signature.most_common(3))
        sev = ", ".join(f"{k}:{v}" for k, v in s.by_severity.most_common())
        table.add_row(s.trajectory_id or "(unattributed)", str(s.alerts), _when(s.first_alert),
                      _when(s.last_alert), steps or "-", sigs, sev, str(s.low_confidence))
    Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(table)


def _when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return "-"
