"""The DuckDB schema of a run's ``events.duckdb`` (documented in docs/store.md).

One ``events`` table holds every event category: common columns first, then nullable columns
per category, and the whole event as JSON in ``data`` (for an exact round trip). One table is
easier to query than one per category: "everything step 3 did" is a single WHERE.
"""

from __future__ import annotations

Column = tuple[str, str]

RUNS: tuple[Column, ...] = (
    ("run_id", "VARCHAR"),
    ("started", "DOUBLE"),
    ("ended", "DOUBLE"),
    ("command", "VARCHAR"),
    ("host", "VARCHAR"),
    ("version", "VARCHAR"),
    ("config", "JSON"),
)

STEPS: tuple[Column, ...] = (
    ("run_id", "VARCHAR"),
    ("episode_id", "VARCHAR"),
    ("step", "INTEGER"),
    ("tool_call_id", "VARCHAR"),
    ("command", "VARCHAR"),
    ("started", "DOUBLE"),
    ("ended", "DOUBLE"),
    ("exit_code", "INTEGER"),
)

EVENTS: tuple[Column, ...] = (
    ("seq", "BIGINT"),
    ("category", "VARCHAR"),
    ("ts", "DOUBLE"),
    ("run_id", "VARCHAR"),
    ("episode_id", "VARCHAR"),
    ("step", "INTEGER"),
    ("tool_call_id", "VARCHAR"),
    ("sandbox_id", "VARCHAR"),
    ("source", "VARCHAR"),
    ("pid", "INTEGER"),
    ("activity", "VARCHAR"),
    ("image", "VARCHAR"),
    ("command_line", "VARCHAR"),
    # process_creation
    ("argv", "VARCHAR[]"),
    ("parent_image", "VARCHAR"),
    ("parent_command_line", "VARCHAR"),
    ("cwd", "VARCHAR"),
    ("user_name", "VARCHAR"),
    ("ppid", "INTEGER"),
    ("exit_code", "INTEGER"),
    # file_event
    ("path", "VARCHAR"),
    # network_connection and dns
    ("protocol", "VARCHAR"),
    ("app_protocol", "VARCHAR"),
    ("src_ip", "VARCHAR"),
    ("src_port", "INTEGER"),
    ("dst_ip", "VARCHAR"),
    ("dst_port", "INTEGER"),
    ("dst_hostname", "VARCHAR"),
    ("initiated", "BOOLEAN"),
    ("bytes_out", "BIGINT"),
    ("bytes_in", "BIGINT"),
    ("packets_out", "BIGINT"),
    ("packets_in", "BIGINT"),
    ("query_name", "VARCHAR"),
    ("query_type", "VARCHAR"),
    ("answers", "VARCHAR[]"),
    ("rcode", "VARCHAR"),
    ("detail", "JSON"),
    ("data", "JSON"),
)

ALERTS: tuple[Column, ...] = (
    ("seq", "BIGINT"),
    ("ts", "DOUBLE"),
    ("run_id", "VARCHAR"),
    ("episode_id", "VARCHAR"),
    ("step", "INTEGER"),
    ("tool_call_id", "VARCHAR"),
    ("sandbox_id", "VARCHAR"),
    ("rule_id", "VARCHAR"),
    ("title", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("severity_level", "TINYINT"),
    ("attack", "VARCHAR[]"),
    ("action", "VARCHAR"),
    ("confidence", "DOUBLE"),
    ("pid", "INTEGER"),
    ("exe", "VARCHAR"),
    ("cmdline", "VARCHAR"),
    ("destination", "VARCHAR"),
    ("description", "VARCHAR"),
    ("rule_source", "VARCHAR"),
    ("tags", "VARCHAR[]"),
    ("evidence", "JSON"),
)

RESOURCES: tuple[Column, ...] = (
    ("ts", "DOUBLE"),
    ("run_id", "VARCHAR"),
    ("sandbox_id", "VARCHAR"),
    ("pid", "INTEGER"),
    ("step", "INTEGER"),
    ("tool_call_id", "VARCHAR"),
    ("cpu_share", "DOUBLE"),
    ("rss_bytes", "BIGINT"),
    ("num_threads", "INTEGER"),
    ("image", "VARCHAR"),
    ("command_line", "VARCHAR"),
    ("interval_s", "DOUBLE"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "runs": RUNS,
    "steps": STEPS,
    "events": EVENTS,
    "alerts": ALERTS,
    "resources": RESOURCES,
}

FLOWS_VIEW = """
CREATE VIEW IF NOT EXISTS flows AS
SELECT
    run_id, sandbox_id, protocol, src_ip, src_port, dst_ip, dst_port,
    max(dst_hostname) AS dst_hostname,
    max(app_protocol) AS app_protocol,
    bool_or(initiated) AS initiated,
    min(step) AS step,
    min(tool_call_id) AS tool_call_id,
    max(pid) AS pid,
    max(image) AS image,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max(bytes_out) AS bytes_out,
    max(bytes_in) AS bytes_in,
    max(packets_out) AS packets_out,
    max(packets_in) AS packets_in,
    list(DISTINCT activity) AS activities,
    count(*) AS events
FROM events
WHERE category = 'network_connection'
GROUP BY run_id, sandbox_id, protocol, src_ip, src_port, dst_ip, dst_port
"""
"""One row per flow (5-tuple): the network sensor's counters are cumulative, so max() is the total."""


def create_statements() -> list[str]:
    """DDL for every table and view (idempotent)."""
    out = []
    for name, columns in TABLES.items():
        body = ", ".join(f"{col} {kind}" for col, kind in columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {name} ({body})")
    out.append(FLOWS_VIEW)
    return out
