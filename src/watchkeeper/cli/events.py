"""``watchkeeper events DIR``: filter a run's events and alerts, or run SQL over them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click

from watchkeeper.alerts import Severity
from watchkeeper.errors import InputError, Location
from watchkeeper.store.duckdb import DuckReader

CATEGORIES = ("process_creation", "network_connection", "dns", "file_event")
_ALIASES = {"process": "process_creation", "network": "network_connection", "file": "file_event"}
_EVENT_COLUMNS = ("ts", "category", "step", "pid", "activity", "summary")
_ALERT_COLUMNS = ("ts", "severity", "rule_id", "action", "step", "pid", "title")
_SUMMARY = """CASE category
    WHEN 'process_creation' THEN coalesce(nullif(command_line, ''), image)
    WHEN 'network_connection' THEN concat_ws(' ', protocol, src_ip || ':' || src_port, '->',
        coalesce(nullif(dst_hostname, ''), dst_ip) || ':' || dst_port, nullif(app_protocol, ''),
        'out=' || bytes_out)
    WHEN 'dns' THEN concat_ws(' ', query_type, query_name, '->', array_to_string(answers, ','))
    WHEN 'file_event' THEN path
    ELSE '' END AS summary"""


@click.command("events")
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option(
    "--category", "categories", multiple=True,
    help="Event category: process_creation (process), network_connection (network), dns, file_event (file).",
)  # fmt: skip
@click.option("--step", type=int, default=None, help="Only what this agent step caused.")
@click.option("--rule", "rules", multiple=True, help="Show alerts of this rule id (globs allowed).")
@click.option("--severity", default=None, help="Show alerts of at least this severity.")
@click.option("--sql", "query", default=None, help='Run a query, e.g. "SELECT * FROM flows".')
@click.option(
    "--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True
)
@click.option("--limit", type=int, default=None, help="At most this many rows.")
def command(
    run_dir: str,
    categories: Sequence[str],
    step: int | None,
    rules: Sequence[str],
    severity: str | None,
    query: str | None,
    fmt: str,
    limit: int | None,
) -> None:
    """Show the events (or, with --rule/--severity, the alerts) of a run directory.

    Tables: runs, steps, events, alerts, resources, and the view flows (see docs/store.md).
    """
    cats = [_category(c) for c in categories]
    min_severity = None
    if severity is not None:
        try:
            min_severity = Severity.parse(severity)
        except ValueError as exc:
            raise InputError(str(exc), Location("--severity")) from exc
    if query is not None and (cats or rules or severity or step is not None):
        raise InputError("--sql cannot be combined with filters", Location("--sql"))
    with DuckReader(run_dir) as reader:
        full = fmt == "jsonl"
        if query is not None:
            columns, rows = reader.sql(query)
            if limit is not None:
                rows = rows[:limit]
        elif rules or min_severity is not None:
            columns, rows = reader.alerts(
                rules=rules, min_severity=min_severity, step=step, limit=limit,
                columns=() if full else _ALERT_COLUMNS,
            )  # fmt: skip
        else:
            cols = () if full else (*_EVENT_COLUMNS[:-1], _SUMMARY)
            columns, rows = reader.events(categories=cats, step=step, columns=cols, limit=limit)
    if fmt == "jsonl":
        for row in rows:
            click.echo(
                json.dumps(dict(zip(columns, (_json(v) for v in row), strict=True)), default=str)
            )
    else:
        _table(columns, rows)


def _category(name: str) -> str:
    value = _ALIASES.get(name, name)
    if value not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        raise InputError(
            f"unknown category {name!r} (expected one of: {known})", Location("--category")
        )
    return value


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in ("ts", "first_seen", "last_seen", "started", "ended") and isinstance(value, float):
        stamp = dt.datetime.fromtimestamp(value, dt.UTC)
        return stamp.strftime("%H:%M:%S.%f")[:-3]
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= 120 else text[:117] + "..."


def _table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    cells = [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
