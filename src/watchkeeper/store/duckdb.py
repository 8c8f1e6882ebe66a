"""The embedded store: one DuckDB file per run (``<run dir>/events.duckdb``).

:class:`DuckStore` writes. A DuckDB connection must not be used by two threads at once, so the
store owns one connection in one writer thread; ``add_*`` calls only enqueue (thread-safe,
cheap) and the thread inserts in batches every ``flush_rows`` rows or ``flush_s`` seconds,
column-wise (``INSERT ... SELECT unnest(?), ...``: about 100x faster than ``executemany``).
The store is an observer: a failed write is counted in :attr:`DuckStore.errors`, never raised
into the runtime.

:class:`DuckReader` opens a finished run read-only, for the CLI, the API and tests.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from watchkeeper.alerts import Alert, Severity
from watchkeeper.errors import InputError, Location
from watchkeeper.events import Event, event_from_dict
from watchkeeper.sensors.resources import ResourceSample
from watchkeeper.store import _schema
from watchkeeper.store._rows import alert_row, event_row, sample_row

FILENAME = "events.duckdb"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One agent step as the ``steps`` table stores it."""

    run_id: str
    episode_id: str
    step: int
    tool_call_id: str = ""
    command: str = ""
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None


_STOP = object()


class DuckStore:
    """Batched writer of one run's events, alerts, samples, steps.

    Args:
        path: The database file, or a run directory (``events.duckdb`` inside it).
        run_id: Stamped on resource samples (events and alerts carry their own).
        flush_rows: Rows buffered before a batch insert.
        flush_s: Longest time a row waits in the buffer.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        run_id: str = "",
        flush_rows: int = 1000,
        flush_s: float = 0.1,
    ) -> None:
        target = Path(path)
        if target.is_dir() or not target.suffix:
            target.mkdir(parents=True, exist_ok=True)
            target = target / FILENAME
        self.path = target
        self.run_id = run_id
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._seq = itertools.count(1)
        self.rows_written = 0
        """Rows inserted so far."""
        self.errors = 0
        """Failed batches (their rows are lost; the run goes on)."""
        self.last_error = ""
        """The message of the last failed batch."""
        opened: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, args=(opened,), name="wk-store", daemon=True
        )
        self._thread.start()
        failure = opened.get()
        if failure is not None:
            raise InputError(f"cannot open the store: {failure}", Location(str(self.path)))

    # --- producers (any thread) ---------------------------------------------------------

    def add_event(self, event: Event) -> None:
        """Queue an event."""
        self._queue.put(("events", event_row(next(self._seq), event)))

    def add_alert(self, alert: Alert) -> None:
        """Queue an alert (with the action taken already recorded on it)."""
        self._queue.put(("alerts", alert_row(next(self._seq), alert)))

    def add_sample(self, sample: ResourceSample) -> None:
        """Queue a resource sample."""
        self._queue.put(("resources", sample_row(self.run_id, sample)))

    def start_run(
        self,
        run_id: str,
        command: str = "",
        config: Mapping[str, Any] | None = None,
        started: float | None = None,
    ) -> None:
        """Record the start of a run."""
        from watchkeeper import __version__

        row = (
            run_id,
            time.time() if started is None else started,
            None,
            command,
            socket.gethostname(),
            __version__,
            json.dumps(dict(config or {}), default=str),
        )
        self._queue.put(("runs", row))

    def end_run(self, run_id: str, ended: float | None = None) -> None:
        """Record the end of a run."""
        stamp = time.time() if ended is None else ended
        self._queue.put(("sql", "UPDATE runs SET ended = ? WHERE run_id = ?", (stamp, run_id)))

    def add_step(self, step: StepRecord) -> None:
        """Record a step (at its start; :meth:`end_step` fills ``ended`` and ``exit_code``)."""
        self._queue.put(
            ("steps", (step.run_id, step.episode_id, step.step, step.tool_call_id, step.command,
                       step.started, step.ended, step.exit_code))
        )  # fmt: skip

    def end_step(
        self,
        run_id: str,
        step: int,
        tool_call_id: str,
        exit_code: int | None,
        ended: float | None = None,
    ) -> None:
        """Record the end of a step."""
        stamp = time.time() if ended is None else ended
        self._queue.put((
            "sql",
            "UPDATE steps SET ended = ?, exit_code = ? WHERE run_id = ? AND step = ? AND tool_call_id = ?",
            (stamp, exit_code, run_id, step, tool_call_id),
        ))  # fmt: skip

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file; idempotent."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=60.0)

    def __enter__(self) -> DuckStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writer thread ------------------------------------------------------------------

    def _run(self, opened: queue.Queue[BaseException | None]) -> None:
        try:
            con = duckdb.connect(str(self.path))
            for statement in _schema.create_statements():
                con.execute(statement)
        except (duckdb.Error, OSError) as exc:
            opened.put(exc)
            return
        opened.put(None)
        pending: dict[str, list[tuple[Any, ...]]] = {}
        count = 0
        first = 0.0
        try:
            while True:
                timeout = None if not count else max(0.0, first + self._flush_s - time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is None or item is _STOP or isinstance(item, threading.Event):
                    count = self._write(con, pending)
                    if isinstance(item, threading.Event):
                        item.set()
                    if item is _STOP:
                        return
                    continue
                assert isinstance(item, tuple)
                if item[0] == "sql":
                    count = self._write(con, pending)
                    self._execute(con, item[1], item[2])
                    continue
                if not count:
                    first = time.monotonic()
                pending.setdefault(item[0], []).append(item[1])
                count += 1
                if count >= self._flush_rows:
                    count = self._write(con, pending)
        finally:
            con.close()

    def _write(
        self, con: duckdb.DuckDBPyConnection, pending: dict[str, list[tuple[Any, ...]]]
    ) -> int:
        for table, rows in pending.items():
            if not rows:
                continue
            columns = _schema.TABLES[table]
            names = ", ".join(name for name, _ in columns)
            values = ", ".join(f"unnest(?::{kind}[])" for _, kind in columns)
            params = [list(col) for col in zip(*rows, strict=True)]
            try:
                con.execute(f"INSERT INTO {table} ({names}) SELECT {values}", params)
                self.rows_written += len(rows)
            except duckdb.Error as exc:  # an observer: count and go on
                self.errors += 1
                self.last_error = str(exc).splitlines()[0]
        pending.clear()
        return 0

    def _execute(self, con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> None:
        try:
            con.execute(sql, list(params))
        except duckdb.Error as exc:
            self.errors += 1
            self.last_error = str(exc).splitlines()[0]


class DuckReader:
    """Read-only queries over a run's ``events.duckdb``.

    Args:
        path: A run directory holding ``events.duckdb``, or the file itself.

    Raises:
        InputError: the path is missing or is not a watchkeeper run database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        if target.is_dir():
            target = target / FILENAME
        if not target.is_file():
            raise InputError(
                f"no {FILENAME} here (not a watchkeeper run directory)", Location(str(path))
            )
        try:
            self.con = duckdb.connect(str(target), read_only=True)
        except duckdb.Error as exc:
            raise InputError(
                f"not a DuckDB database: {str(exc).splitlines()[0]}", Location(str(target))
            ) from exc
        tables = {
            row[0]
            for row in self.con.execute(
                "SELECT table_name FROM information_schema.tables"
            ).fetchall()
        }
        missing = {"events", "alerts"} - tables
        if missing:
            self.con.close()
            raise InputError(
                f"not a watchkeeper run database (no {', '.join(sorted(missing))} table)",
                Location(str(target)),
            )
        self.path = target

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> DuckReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sql(
        self, query: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query; returns (column names, rows).

        Raises:
            InputError: the query failed (one line: DuckDB's message).
        """
        try:
            cursor = self.con.execute(query, list(params))
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise InputError(
                f"query failed: {str(exc).splitlines()[0]}", Location("--sql")
            ) from exc
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, rows

    def events(
        self,
        *,
        categories: Sequence[str] = (),
        step: int | None = None,
        columns: Sequence[str] = (),
        limit: int | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Events in order, filtered by category and step."""
        where, params = _where(categories=("category", categories), step=step)
        cols = ", ".join(columns) if columns else "*"
        query = f"SELECT {cols} FROM events{where} ORDER BY ts, seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return self.sql(query, params)

    def alerts(
        self,
        *,
        rules: Sequence[str] = (),
        min_severity: Severity | None = None,
        step: int | None = None,
        columns: Sequence[str] = (),
        limit: int | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Alerts in order, filtered by rule id (globs allowed), minimum severity and step."""
        clauses: list[str] = []
        params: list[Any] = []
        if rules:
            clauses.append("(" + " OR ".join("rule_id GLOB ?" for _ in rules) + ")")
            params += list(rules)
        if min_severity is not None:
            clauses.append("severity_level >= ?")
            params.append(int(min_severity))
        if step is not None:
            clauses.append("step = ?")
            params.append(step)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cols = ", ".join(columns) if columns else "*"
        query = f"SELECT {cols} FROM alerts{where} ORDER BY ts, seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return self.sql(query, params)

    def event_objects(
        self, *, categories: Sequence[str] = (), step: int | None = None
    ) -> list[Event]:
        """Events rebuilt as objects from their stored JSON (exact round trip)."""
        _, rows = self.events(categories=categories, step=step, columns=["data"])
        return [event_from_dict(json.loads(row[0])) for row in rows]


def _where(*, categories: tuple[str, Sequence[str]], step: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    column, values = categories
    if values:
        clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += list(values)
    if step is not None:
        clauses.append("step = ?")
        params.append(step)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
