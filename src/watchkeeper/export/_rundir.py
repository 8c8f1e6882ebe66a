"""Load a run directory (``watchkeeper run --out DIR``) for reports and exports.

A run directory holds ``events.duckdb`` (the run store, docs/store.md) and, normally,
``alerts.jsonl`` (one alert a line: ``Alert.to_dict()`` plus ``pid``, ``exe``, ``cmdline``,
``destination`` and, when the run hashed the binary, ``sha256``). Alerts come from
``alerts.jsonl`` when it is there, else from the store's ``alerts`` table.

The content is untrusted (it records what an agent did): malformed alert lines and event rows
become :class:`LoadIssue` warnings with file:line and are skipped; what is read is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.errors import InputError, Location
from watchkeeper.events import ALL_EVENT_TYPES, DnsEvent, Event, NetworkEvent
from watchkeeper.store import FILENAME, DuckReader

ALERTS_FILENAME = "alerts.jsonl"
MAX_ALERTS = 100_000
"""Alerts read at most; the rest are reported as one issue."""
MAX_LINE_BYTES = 8 * 1024 * 1024
"""An alert line longer than this is skipped."""
MAX_ISSUES = 1000
"""Issues kept (counted beyond)."""


@dataclass(frozen=True, slots=True)
class LoadIssue:
    """Something in the run directory that was skipped, with where it is."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A row of the ``runs`` table."""

    run_id: str
    started: float | None = None
    ended: float | None = None
    command: str = ""
    host: str = ""
    version: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepInfo:
    """A row of the ``steps`` table (or a step inferred from events when there is none)."""

    step: int
    episode_id: str = ""
    tool_call_id: str = ""
    command: str = ""
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert with the columns the store derives from its evidence.

    Attributes:
        alert: The alert.
        index: 1-based position in the run's alerts (stable anchor for reports).
        pid / exe / cmdline: The process of the first evidence that has one.
        destination: "host:port" of the first network evidence (or the DNS query name).
        sha256: SHA-256 of the executable, when the run recorded it ("" otherwise).
        where: Where the alert was read from (file:line or the store table).
    """

    alert: Alert
    index: int
    pid: int | None = None
    exe: str = ""
    cmdline: str = ""
    destination: str = ""
    sha256: str = ""
    where: Location = field(default_factory=lambda: Location(ALERTS_FILENAME))


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A row of the ``flows`` view: one 5-tuple with its totals."""

    protocol: str
    src_ip: str
    src_port: int | None
    dst_ip: str
    dst_port: int | None
    dst_hostname: str = ""
    app_protocol: str = ""
    initiated: bool = True
    step: int | None = None
    tool_call_id: str = ""
    pid: int | None = None
    image: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0
    bytes_out: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    packets_in: int = 0
    activities: tuple[str, ...] = ()
    events: int = 0
    sandbox_id: str = ""


@dataclass(frozen=True, slots=True)
class ResourcePoint:
    """The whole sandbox's CPU (cores) and memory at ``ts``."""

    ts: float
    cpu_share: float
    rss_bytes: int
    num_threads: int = 0


class RunDir:
    """An open run directory; use as a context manager.

    Args:
        path: The run directory (or its ``events.duckdb`` / ``alerts.jsonl``).

    Raises:
        InputError: the directory is missing, is not a run directory, or its store is not a
            readable watchkeeper database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        given = Path(path)
        if not given.exists():
            raise InputError("no such run directory", Location(str(given)))
        if given.is_file():
            if given.name not in (FILENAME, ALERTS_FILENAME):
                raise InputError(
                    "is a file, not a run directory (expected the folder given to "
                    "`watchkeeper run --out`)",
                    Location(str(given)),
                )
            given = given.parent
        if not given.is_dir():
            raise InputError("not a directory", Location(str(given)))
        self.path = given
        self.db_path = given / FILENAME
        self.alerts_path = given / ALERTS_FILENAME
        if not self.db_path.is_file():
            if self.alerts_path.is_file():
                what = f"no {FILENAME} (the run store) beside {ALERTS_FILENAME}"
            else:
                what = f"not a watchkeeper run directory (no {FILENAME}, no {ALERTS_FILENAME})"
            raise InputError(what, Location(str(given)))
        self._reader = DuckReader(self.db_path)
        self.con = self._reader.con
        self.issues: list[LoadIssue] = []
        self.issues_dropped = 0
        self._alerts: list[AlertRecord] | None = None
        self.alerts_source = ""
        """Where the alerts came from: ``alerts.jsonl`` or ``events.duckdb (alerts table)``."""

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the store."""
        self._reader.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def issue(self, location: Location, message: str) -> None:
        """Record a skipped item (bounded)."""
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(LoadIssue(location, message))
        else:
            self.issues_dropped += 1

    def issue_lines(self, limit: int = 20) -> list[str]:
        """The issues as warning lines, at most ``limit`` and a count of the rest."""
        lines = [str(i) for i in self.issues[:limit]]
        rest = len(self.issues) - len(lines) + self.issues_dropped
        if rest > 0:
            lines.append(f"{self.alerts_path if self.alerts_path.is_file() else self.path}: "
                         f"and {rest} more skipped items")  # fmt: skip
        return lines

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise InputError(
                f"cannot read the run store: {str(exc).splitlines()[0]}", Location(str(self.db_path))
            ) from exc

    def _has_table(self, name: str) -> bool:
        rows = self._query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        )
        return bool(rows and rows[0][0])

    # --- run, steps ---------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        """Rows of the ``runs`` table, oldest first."""
        if not self._has_table("runs"):
            return []
        out = []
        for row in self._query(
            "SELECT run_id, started, ended, command, host, version, config FROM runs "
            "ORDER BY started NULLS LAST LIMIT 100"
        ):
            config: dict[str, Any] = {}
            if row[6]:
                try:
                    parsed = json.loads(row[6])
                    if isinstance(parsed, dict):
                        config = parsed
                except (ValueError, RecursionError):
                    self.issue(Location(str(self.db_path), field="runs.config"), "not JSON")
            out.append(
                RunInfo(str(row[0] or ""), _float(row[1]), _float(row[2]), str(row[3] or ""),
                        str(row[4] or ""), str(row[5] or ""), config)
            )  # fmt: skip
        return out

    def run_ids(self) -> list[str]:
        """Every run id seen in runs, events or alerts (normally one)."""
        ids = {r.run_id for r in self.runs() if r.run_id}
        for (rid,) in self._query("SELECT DISTINCT run_id FROM events LIMIT 100"):
            if rid:
                ids.add(str(rid))
        for record in self.alerts():
            if record.alert.run_id:
                ids.add(record.alert.run_id)
        return sorted(ids)

    def steps(self) -> list[StepInfo]:
        """The agent steps, from the ``steps`` table, else inferred from the events."""
        rows: list[tuple[Any, ...]] = []
        if self._has_table("steps"):
            rows = self._query(
                "SELECT step, episode_id, tool_call_id, command, started, ended, exit_code "
                "FROM steps WHERE step IS NOT NULL ORDER BY step, started LIMIT 100000"
            )
        if rows:
            return [
                StepInfo(int(r[0]), str(r[1] or ""), str(r[2] or ""), str(r[3] or ""),
                         _float(r[4]), _float(r[5]), _int(r[6]))
                for r in rows
            ]  # fmt: skip
        inferred = self._query(
            "SELECT step, min(episode_id), min(tool_call_id), min(ts) FILTER (WHERE ts > 0), "
            "max(ts) FILTER (WHERE ts > 0) FROM events WHERE step IS NOT NULL "
            "GROUP BY step ORDER BY step LIMIT 100000"
        )
        return [
            StepInfo(int(r[0]), str(r[1] or ""), str(r[2] or ""), "", _float(r[3]), _float(r[4]))
            for r in inferred
        ]

    # --- events -------------------------------------------------------------------------

    def event_counts(self) -> dict[str, int]:
        """Number of events per category."""
        rows = self._query("SELECT category, count(*) FROM events GROUP BY category")
        return {str(c): int(n) for c, n in rows}

    def iter_events(
        self,
        *,
        categories: Sequence[str] = (),
        limit: int | None = None,
        batch: int = 2000,
    ) -> Iterator[Event]:
        """Events in time order, rebuilt from their stored JSON; bad rows become issues."""
        where = ""
        params: list[Any] = []
        if categories:
            where = f" WHERE category IN ({', '.join('?' for _ in categories)})"
            params = list(categories)
        sql = f"SELECT seq, data FROM events{where} ORDER BY ts, seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            cursor = self.con.cursor()
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    break
                for seq, data in rows:
                    event = self._event(seq, data)
                    if event is not None:
                        yield event
        except duckdb.Error as exc:
            raise InputError(
                f"cannot read the run store: {str(exc).splitlines()[0]}", Location(str(self.db_path))
            ) from exc

    def events(self, *, categories: Sequence[str] = (), limit: int | None = None) -> list[Event]:
        """Like :meth:`iter_events`, as a list."""
        return list(self.iter_events(categories=categories, limit=limit))

    def _event(self, seq: Any, data: Any) -> Event | None:
        where = Location(str(self.db_path), field=f"events seq {seq}")
        try:
            parsed = json.loads(data) if isinstance(data, str) else data
            if not isinstance(parsed, dict):
                raise TypeError("not an object")
            return checked_event(parsed)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            self.issue(where, f"skipped an event that cannot be read ({_reason(exc)})")
            return None

    # --- flows, resources ---------------------------------------------------------------

    def flows(self, limit: int = 20_000) -> list[FlowRecord]:
        """Network flows (one per 5-tuple), first seen first."""
        rows = self._query(
            "SELECT protocol, src_ip, src_port, dst_ip, dst_port, dst_hostname, app_protocol, "
            "initiated, step, tool_call_id, pid, image, first_seen, last_seen, bytes_out, "
            "bytes_in, packets_out, packets_in, activities, events, sandbox_id "
            f"FROM flows ORDER BY first_seen, dst_ip, dst_port LIMIT {int(limit)}"
        )
        out = []
        for r in rows:
            out.append(
                FlowRecord(
                    protocol=str(r[0] or ""), src_ip=str(r[1] or ""), src_port=_int(r[2]),
                    dst_ip=str(r[3] or ""), dst_port=_int(r[4]), dst_hostname=str(r[5] or ""),
                    app_protocol=str(r[6] or ""), initiated=bool(r[7]) if r[7] is not None else True,
                    step=_int(r[8]), tool_call_id=str(r[9] or ""), pid=_int(r[10]),
                    image=str(r[11] or ""), first_seen=_float(r[12]) or 0.0,
                    last_seen=_float(r[13]) or 0.0, bytes_out=_int(r[14]) or 0,
                    bytes_in=_int(r[15]) or 0, packets_out=_int(r[16]) or 0,
                    packets_in=_int(r[17]) or 0,
                    activities=tuple(str(a) for a in (r[18] or ()) if a is not None),
                    events=_int(r[19]) or 0, sandbox_id=str(r[20] or ""),
                )
            )  # fmt: skip
        return out

    def flow_count(self) -> int:
        """Number of distinct flows."""
        rows = self._query("SELECT count(*) FROM flows")
        return int(rows[0][0]) if rows else 0

    def resources(self, max_points: int = 1200) -> list[ResourcePoint]:
        """The sandbox's CPU and memory over time, down-sampled to ``max_points``.

        Uses the sandbox totals (``pid IS NULL``); without them, the sum over processes.
        """
        if not self._has_table("resources"):
            return []
        rows = self._query(
            "SELECT ts, cpu_share, rss_bytes, num_threads FROM resources "
            "WHERE pid IS NULL AND ts > 0 ORDER BY ts"
        )
        if not rows:
            rows = self._query(
                "SELECT ts, sum(cpu_share), sum(rss_bytes), sum(num_threads) FROM resources "
                "WHERE ts > 0 GROUP BY ts ORDER BY ts"
            )
        points = [
            ResourcePoint(float(r[0]), _finite(r[1]), int(_finite(r[2])), int(_finite(r[3])))
            for r in rows
            if _float(r[0]) is not None
        ]
        if len(points) <= max_points:
            return points
        # Keep the peak of each bucket so a burst is not averaged away.
        size = math.ceil(len(points) / max_points)
        out = []
        for i in range(0, len(points), size):
            bucket = points[i : i + size]
            top = max(bucket, key=lambda p: (p.cpu_share, p.rss_bytes))
            out.append(top)
        return out

    # --- alerts -------------------------------------------------------------------------

    def alerts(self) -> list[AlertRecord]:
        """The run's alerts in time order (from ``alerts.jsonl``, else the store)."""
        if self._alerts is None:
            loaded: list[AlertRecord] = []
            self.alerts_source = f"{FILENAME} (alerts table)"
            if self.alerts_path.is_file():
                self.alerts_source = ALERTS_FILENAME
                loaded = self._alerts_from_jsonl()
            if not loaded and self._query("SELECT count(*) FROM alerts")[0][0]:
                if self.alerts_path.is_file():  # e.g. the alert log failed during the run
                    self.issue(Location(str(self.alerts_path)),
                               f"no readable alert here; read them from {FILENAME}")  # fmt: skip
                self.alerts_source = f"{FILENAME} (alerts table)"
                loaded = self._alerts_from_store()
            loaded.sort(key=lambda r: (r.alert.ts, r.index))
            self._alerts = [
                AlertRecord(r.alert, i, r.pid, r.exe, r.cmdline, r.destination, r.sha256, r.where)
                for i, r in enumerate(loaded, start=1)
            ]
        return self._alerts

    def _alerts_from_jsonl(self) -> list[AlertRecord]:
        out: list[AlertRecord] = []
        name = str(self.alerts_path)
        try:
            handle = open(self.alerts_path, "rb")  # closed by the with below
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", Location(name)) from None
        with handle:
            number = 0
            while True:
                raw = handle.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                number += 1
                where = Location(name, number)
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                        raw = handle.readline(MAX_LINE_BYTES)
                    self.issue(where, f"skipped a line longer than {MAX_LINE_BYTES} bytes")
                    continue
                if not raw.strip():
                    continue
                if len(out) >= MAX_ALERTS:
                    self.issue(where, f"more than {MAX_ALERTS} alerts; the rest are not read")
                    break
                try:
                    data = json.loads(raw.decode("utf-8").strip())
                    if not isinstance(data, dict):
                        raise ValueError("a line must be a JSON object")
                    record = self._record(data, len(out) + 1, where)
                except (ValueError, TypeError, KeyError, RecursionError) as exc:
                    self.issue(where, f"skipped a malformed alert ({_reason(exc)})")
                    continue
                out.append(record)
        return out

    def _alerts_from_store(self) -> list[AlertRecord]:
        out: list[AlertRecord] = []
        rows = self._query(
            "SELECT seq, ts, run_id, episode_id, step, tool_call_id, sandbox_id, rule_id, title, "
            "severity, attack, action, confidence, pid, exe, cmdline, destination, description, "
            f"rule_source, tags, evidence FROM alerts ORDER BY ts, seq LIMIT {MAX_ALERTS}"
        )
        for r in rows:
            where = Location(str(self.db_path), field=f"alerts seq {r[0]}")
            data = {
                "ts": r[1], "run_id": r[2], "episode_id": r[3], "step": r[4],
                "tool_call_id": r[5], "sandbox_id": r[6], "rule_id": r[7], "title": r[8],
                "severity": r[9], "attack": r[10], "action": r[11], "confidence": r[12],
                "pid": r[13], "exe": r[14], "cmdline": r[15], "destination": r[16],
                "description": r[17], "rule_source": r[18], "tags": r[19],
            }  # fmt: skip
            try:
                evidence = json.loads(r[20]) if isinstance(r[20], str) else r[20]
                data["evidence"] = evidence if isinstance(evidence, list) else []
                out.append(self._record(data, len(out) + 1, where))
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                self.issue(where, f"skipped a malformed alert ({_reason(exc)})")
        return out

    def _record(self, data: dict[str, Any], index: int, where: Location) -> AlertRecord:
        alert = alert_from_dict(data, lambda msg: self.issue(where, msg))
        pid, exe, cmdline, destination = derived_columns(alert)
        return AlertRecord(
            alert=alert,
            index=index,
            pid=_int(data.get("pid")) if data.get("pid") is not None else pid,
            exe=_str(data.get("exe")) or exe,
            cmdline=_str(data.get("cmdline")) or cmdline,
            destination=_str(data.get("destination")) or destination,
            sha256=_sha256(data.get("sha256") or data.get("exe_sha256")),
            where=where,
        )


def open_run_dir(path: str | os.PathLike[str]) -> RunDir:
    """Open a run directory (see :class:`RunDir`)."""
    return RunDir(path)


def alert_from_dict(data: dict[str, Any], warn: Any = None) -> Alert:
    """Rebuild an :class:`Alert` from ``Alert.to_dict()`` output.

    Unreadable evidence items are dropped (``warn(message)`` is called for each).

    Raises:
        ValueError / TypeError / KeyError: a required field is missing or wrong.
    """
    rule_id = data.get("rule_id")
    if not isinstance(rule_id, str) or not rule_id:
        raise ValueError("no rule_id")
    severity = data.get("severity")
    if isinstance(severity, int) and not isinstance(severity, bool):
        level = Severity(min(max(severity, 1), 5))
    elif isinstance(severity, str):
        level = Severity.parse(severity)
    else:
        raise ValueError("no severity")
    evidence: list[Evidence] = []
    raw_evidence = data.get("evidence") or []
    if not isinstance(raw_evidence, list):
        raise TypeError("evidence is not a list")
    for i, item in enumerate(raw_evidence[:1000]):
        try:
            if not isinstance(item, dict) or not isinstance(item.get("event"), dict):
                raise TypeError("no event object")
            span = item.get("span")
            evidence.append(
                Evidence(
                    event=checked_event(item["event"]),
                    field=_str(item.get("field")),
                    text=_str(item.get("text")),
                    span=(int(span[0]), int(span[1]))
                    if isinstance(span, list) and len(span) == 2
                    else None,
                )
            )
        except (ValueError, TypeError, KeyError) as exc:
            if warn is not None:
                warn(f"dropped evidence {i} of alert {rule_id!r} ({_reason(exc)})")
    confidence = _float(data.get("confidence"))
    return Alert(
        rule_id=rule_id,
        title=_str(data.get("title")) or rule_id,
        severity=level,
        attack=_strings(data.get("attack")),
        confidence=1.0 if confidence is None else min(max(confidence, 0.0), 1.0),
        evidence=tuple(evidence),
        description=_str(data.get("description")),
        ts=_float(data.get("ts")) or 0.0,
        run_id=_str(data.get("run_id")),
        episode_id=_str(data.get("episode_id")),
        step=_int(data.get("step")),
        tool_call_id=_str(data.get("tool_call_id")),
        sandbox_id=_str(data.get("sandbox_id")),
        action=_str(data.get("action")) or "alert",
        rule_source=_str(data.get("rule_source")),
        author=_str(data.get("author")),
        references=_strings(data.get("references")),
        tags=_strings(data.get("tags")),
    )


def checked_event(data: dict[str, Any]) -> Event:
    """Like ``event_from_dict``, and every field must have its declared type.

    Raises:
        KeyError: unknown category.
        TypeError: a field of the wrong type (the store's JSON is untrusted input).
    """
    cls = ALL_EVENT_TYPES[data["category"]]
    checks = _checks(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        check = checks.get(key)
        if check is None:
            continue
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if not check(value):
            raise TypeError(f"field {key!r} has the wrong type")
        kwargs[key] = value
    return cls(**kwargs)


_CHECKS: dict[type, dict[str, Callable[[Any], bool]]] = {}


def _checks(cls: type) -> dict[str, Callable[[Any], bool]]:
    found = _CHECKS.get(cls)
    if found is None:
        found = _CHECKS[cls] = {
            f.name: _checker(str(f.type)) for f in dataclasses.fields(cls) if f.init
        }
    return found


def _checker(kind: str) -> Callable[[Any], bool]:
    if kind.endswith(" | None"):
        inner = _checker(kind[: -len(" | None")])
        return lambda v: v is None or inner(v)
    simple: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: (isinstance(v, int | float) and not isinstance(v, bool)
                            and math.isfinite(v)),
        "tuple[str, ...]": lambda v: isinstance(v, tuple) and all(isinstance(x, str) for x in v),
        "tuple[int, int]": lambda v: (isinstance(v, tuple) and len(v) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) for x in v)),
        "tuple[tuple[str, str], ...]": lambda v: isinstance(v, tuple) and all(
            isinstance(x, tuple) and len(x) == 2 and all(isinstance(y, str) for y in x)
            for x in v),
    }  # fmt: skip
    return simple.get(kind, lambda v: True)


def derived_columns(alert: Alert) -> tuple[int | None, str, str, str]:
    """(pid, exe, cmdline, destination) from the first evidence that has each, as the store does."""
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
            destination = destination_of(event)
    return pid, exe, cmdline, destination


def destination_of(event: Event) -> str:
    """``host:port`` of a network event (IPv6 in brackets), the query of a DNS event, or ""."""
    if isinstance(event, NetworkEvent) and (event.dst_ip or event.dst_hostname):
        host = event.dst_hostname or (f"[{event.dst_ip}]" if ":" in event.dst_ip else event.dst_ip)
        return f"{host}:{event.dst_port}" if event.dst_port is not None else host
    if isinstance(event, DnsEvent):
        return event.query_name
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, KeyError):
        return f"unknown or missing {exc.args[0]!r}" if exc.args else "missing key"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    raise TypeError(f"expected text, got {type(value).__name__}")


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(str(v) for v in value[:1000] if isinstance(v, str | int))


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r:.40}")


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    raise TypeError(f"expected a number, got {value!r:.40}")


def _finite(value: Any) -> float:
    try:
        number = _float(value)
    except TypeError:
        return 0.0
    return number or 0.0


def _sha256(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else ""
