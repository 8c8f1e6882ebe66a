"""``watchkeeper audit``: score recorded trajectories offline."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from watchkeeper.alerts import Severity
from watchkeeper.audit import Auditor, ParallelAuditor, Verdict, default_jobs
from watchkeeper.audit._keepclean import SourceIndex, write_clean_copy
from watchkeeper.audit._outputs import VerdictWriter, open_writer
from watchkeeper.errors import InputError
from watchkeeper.trajectories import ReadIssue, Trajectory, read_trajectories

SEVERITY_CHOICES = [s.label for s in Severity]

_AuditFn = Callable[[Iterable[Trajectory | ReadIssue]], Iterator[Verdict | ReadIssue]]


@click.command("audit")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--input-format", "input_format", default=None, help="Force a trajectory format.")
@click.option(
    "--format", "out_format", type=click.Choice(["table", "jsonl", "ocsf", "parquet"]),
    default="table", show_default=True, help="Output format.",
)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the output here instead of standard output (required for parquet).")
@click.option("--rules", "rules_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Add Sigma rules from this file or folder (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Do not load the built-in rule pack.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Exit 1 when any trajectory reaches this severity (CI gate).")
@click.option("--keep-clean", type=click.Path(path_type=Path), default=None,
              help="Write a copy of the input (JSONL) without the flagged trajectories.")
@click.option("--flag-at", type=click.Choice(SEVERITY_CHOICES), default="medium", show_default=True,
              help="Severity at which --keep-clean drops a trajectory.")
@click.option("--strict", is_flag=True, help="Stop at the first malformed input record.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes (0: one per CPU); the output is the same with any number.")
def command(
    paths: tuple[Path, ...],
    input_format: str | None,
    out_format: str,
    output: Path | None,
    rules_dirs: tuple[Path, ...],
    no_builtin: bool,
    fail_on: str | None,
    keep_clean: Path | None,
    flag_at: str,
    strict: bool,
    progress: bool | None,
    jobs: int,
) -> None:
    """Audit agent trajectories: what risky thing each step did, with ATT&CK ids and a risk score.

    PATHS are trajectory files (JSON, JSONL, .traj, .eval) or folders (recursive).
    """
    for p in paths:
        if not p.exists():
            raise InputError(f"no such file or folder: {p}")
    if out_format == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    for d in rules_dirs:
        if not d.exists():
            raise InputError(f"no such rules file or folder: {d}")

    flag_severity = Severity.parse(flag_at)
    fail_severity = Severity.parse(fail_on) if fail_on else None
    show_progress = sys.stderr.isatty() if progress is None else progress
    jobs = jobs or default_jobs()

    input_errors = 0
    sources = SourceIndex() if keep_clean is not None else None
    totals = _Totals()

    with ExitStack() as workers:  # leaving it by an exception (Ctrl-C included) kills the workers
        audit: _AuditFn
        if jobs == 1:
            auditor = Auditor.from_rules(rules_dirs=rules_dirs, builtin=not no_builtin)
            issues = auditor.rule_issues
            audit = _in_process(auditor)
        else:
            pool = workers.enter_context(
                ParallelAuditor(jobs=jobs, rules_dirs=rules_dirs, builtin=not no_builtin)
            )
            issues = pool.rule_issues
            audit = pool.audit_all
        for issue in issues:
            click.echo(f"watchkeeper: warning: {issue}", err=True)

        writer: VerdictWriter = open_writer(out_format, output)
        try:
            with _progress(show_progress) as tick:
                for result in audit(read_trajectories(paths, fmt=input_format, strict=strict)):
                    if isinstance(result, ReadIssue):
                        input_errors += 1
                        click.echo(f"watchkeeper: error: {result}", err=True)
                        continue
                    writer.write(result)
                    totals.add(result)
                    if sources is not None:
                        sources.add(result.source, flagged=result.reaches(flag_severity))
                    tick()
            writer.close()
        except BaseException:
            writer.abort()
            raise

    if keep_clean is not None and sources is not None:
        kept, dropped = write_clean_copy(sources, keep_clean)
        click.echo(f"watchkeeper: kept {kept} clean trajectories, dropped {dropped} -> {keep_clean}", err=True)

    if out_format == "table" or output is not None:
        totals.print_summary(to_stderr=out_format != "table")

    if input_errors:
        click.echo(f"watchkeeper: {input_errors} malformed input record(s) skipped", err=True)
        sys.exit(2)
    if fail_severity is not None and totals.reached(fail_severity):
        sys.exit(1)


def _in_process(auditor: Auditor) -> _AuditFn:
    """``--jobs 1``: audit in this process, one trajectory at a time."""

    def audit(items: Iterable[Trajectory | ReadIssue]) -> Iterator[Verdict | ReadIssue]:
        for item in items:
            yield item if isinstance(item, ReadIssue) else auditor.audit(item)

    return audit


class _Totals:
    """Counts for the closing summary table."""

    def __init__(self) -> None:
        self.trajectories = 0
        self.tool_calls = 0
        self.by_severity: Counter[str] = Counter()
        self.by_behaviour: Counter[str] = Counter()
        self.by_attack: Counter[str] = Counter()
        self.max_seen: Severity | None = None

    def add(self, v: Verdict) -> None:
        self.trajectories += 1
        self.tool_calls += v.tool_calls
        if not v.findings:
            self.by_severity["none"] += 1
            return
        self.by_severity[v.max_severity.label if v.max_severity else "none"] += 1
        if v.max_severity is not None and (self.max_seen is None or v.max_severity > self.max_seen):
            self.max_seen = v.max_severity
        if len(v.findings) == 1:  # the common case, without the sets
            (f,) = v.findings
            if f.severity >= Severity.MEDIUM:
                self.by_behaviour[f.behaviour or "other"] += 1
                self.by_attack.update(f.attack if len(f.attack) < 2 else set(f.attack))
            return
        behaviours: set[str] = set()
        techniques: set[str] = set()
        for f in v.findings:
            if f.severity >= Severity.MEDIUM:
                behaviours.add(f.behaviour or "other")
                techniques.update(f.attack)
        self.by_behaviour.update(behaviours)
        self.by_attack.update(techniques)

    def reached(self, severity: Severity) -> bool:
        return self.max_seen is not None and self.max_seen >= severity

    def print_summary(self, *, to_stderr: bool) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(stderr=to_stderr, highlight=False, soft_wrap=True)
        console.print(
            f"audited {self.trajectories} trajectories, {self.tool_calls} tool calls; "
            "by max severity: "
            + ", ".join(f"{k} {self.by_severity[k]}" for k in [*reversed(SEVERITY_CHOICES), "none"]
                        if self.by_severity[k])
        )
        if self.by_behaviour:
            t = Table(title="trajectories with a finding >= medium, per behaviour")
            t.add_column("behaviour")
            t.add_column("trajectories", justify="right")
            for name, n in self.by_behaviour.most_common():
                t.add_row(name, str(n))
            console.print(t)
        if self.by_attack:
            t = Table(title="per ATT&CK technique (findings >= medium)")
            t.add_column("technique")
            t.add_column("trajectories", justify="right")
            for name, n in sorted(self.by_attack.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add_row(name, str(n))
            console.print(t)


class _progress:
    """A rich progress counter on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(), TextColumn("auditing: {task.completed} trajectories"), TimeElapsedColumn(),
            transient=True,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task("audit", total=None)
        progress, task = self._progress, self._task
        return lambda: progress.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


__all__ = ["command"]
