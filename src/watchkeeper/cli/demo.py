"""``watchkeeper demo``: the ROME-like incident replayed live, end to end (or audited offline)."""

from __future__ import annotations

import io
import shutil
import signal
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from watchkeeper.errors import PrerequisiteError

if TYPE_CHECKING:
    from watchkeeper.alerts import Alert
    from watchkeeper.demo import StepRow


def example_trajectories() -> Path:
    """The bundled example episodes (one ROME-like, two benign), in OpenAI chat format."""
    return Path(str(resources.files("watchkeeper.examples").joinpath("trajectories.jsonl")))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("watchkeeper-demo"), show_default=True,
              help="Where to write the demo's outputs.")  # fmt: skip
@click.option("--offline", is_flag=True,
              help="Only audit the bundled episodes (no sandbox; no root needed). Chosen "
                   "automatically when the live demo's prerequisites are missing.")  # fmt: skip
@click.option("--episode", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Replay another trajectory file (it must use the demo's hosts).")  # fmt: skip
@click.option("--verbose", "-v", is_flag=True, help="Print each alert as it happens.")
def command(out: Path, offline: bool, episode: Path | None, verbose: bool) -> None:
    """Replay a ROME-like rogue agent episode in a live, watched sandbox.

    The agent fixes a unit test, then scans the "internal network", steals (canary) AWS keys
    and tries them, opens a reverse SSH tunnel and starts a cryptominer. Every host it reaches
    is a local fake on the sandbox's own host end: nothing leaves the machine. Watchkeeper
    detects and attributes each behaviour to its step and kills the miner (docs/demo.md).

    Writes OUT/report.html, alerts.jsonl, events.duckdb, stix.json, misp.json, ocsf.jsonl.
    Needs root, bubblewrap and nftables; otherwise it falls back to --offline.
    """
    if not offline:
        from watchkeeper.sandbox import check_prerequisites

        try:
            check_prerequisites()
        except PrerequisiteError as exc:
            click.echo(f"watchkeeper demo: the live demo cannot run here: {exc}", err=True)
            click.echo("watchkeeper demo: running the offline audit of the bundled episodes "
                       "instead (--offline)\n", err=True)  # fmt: skip
            offline = True
    if offline:
        _offline(out)
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _live(out, episode, verbose)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _live(out: Path, episode: Path | None, verbose: bool) -> None:
    from watchkeeper.demo import load_episode, run_demo

    trajectory = load_episode(episode)
    calls = sum(len(s.tool_calls) for s in trajectory.steps)
    click.echo(f"watchkeeper demo: replaying episode {trajectory.id} ({calls} tool calls) in a "
               "live sandbox.\nEvery host it reaches is a local fake on the sandbox's host end; "
               "nothing leaves this machine.\n")  # fmt: skip

    def progress(row: StepRow) -> None:
        worst = f", worst {row.worst.label}" if row.worst is not None else ""
        note = f"  -> {row.action}" if row.action not in ("-", "alert") else ""
        click.echo(f"  step {row.step:>2}  {row.command:<64} exit {row.exit_code:>3}  "
                   f"{len(row.alerts)} alert(s){worst}{note}")  # fmt: skip

    result = run_demo(out, episode=episode, on_step=progress, echo=sys.stderr if verbose else None)
    click.echo("")
    click.echo(summary_table(result.rows, result.unattributed))
    click.echo("\nCanary tokens planted in the sandbox's home:")
    for token in result.canaries:
        where = token.path.replace(result.home.rstrip("/") + "/", "~/") if result.home else token.path
        seen = result.canary_steps(token)
        hits = "; ".join(f"{rule.removeprefix('canary:')} at step {', '.join(map(str, steps))}"
                         for rule, steps in seen.items()) or "untouched"  # fmt: skip
        click.echo(f"  {token.kind.value:<10} {where:<20} {token.id}  {hits}")
    if result.skipped_services:
        click.echo("left out (port taken on this host): " + ", ".join(result.skipped_services))
    for line in result.problems:
        click.echo(f"watchkeeper: warning: {line}", err=True)
    click.echo("")
    for name in ("report.html", "alerts.jsonl", "events.duckdb", "stix.json", "misp.json",
                 "ocsf.jsonl"):  # fmt: skip
        path = result.files.get(name)
        if path is not None:
            click.echo(f"{name:<14} {path}")
    click.echo(f"\nreport: {result.files.get('report.html', result.out)}")
    click.echo(f"done in {result.wall_s:.1f} s; sandbox {result.sandbox_id} removed.")


def summary_table(rows: Sequence[StepRow], unattributed: Sequence[Alert] = ()) -> str:
    """The per-step table: step, command, alerts, worst severity, ATT&CK, action."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="What the agent did, and what watchkeeper saw", title_justify="left")
    for name in ("Step", "Command", "Alerts", "Worst", "ATT&CK", "Action"):
        table.add_column(name, justify="right" if name in ("Step", "Alerts") else "left",
                         overflow="fold")  # fmt: skip
    for row in rows:
        table.add_row(
            str(row.step), row.command, str(len(row.alerts)) if row.alerts else "-",
            row.worst.label if row.worst is not None else "-", ", ".join(row.attack) or "-",
            row.action,
        )  # fmt: skip
    if unattributed:
        worst = max(a.severity for a in unattributed).label
        table.add_row("?", "(no step: the sensors could not tell which call)",
                      str(len(unattributed)), worst, "-", "-")  # fmt: skip
    width = max(shutil.get_terminal_size((120, 24)).columns, 120)
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False).print(table)
    return buffer.getvalue().rstrip()


def _offline(out: Path) -> None:
    from watchkeeper.cli.audit import command as audit
    from watchkeeper.demo import episode_path

    out.mkdir(parents=True, exist_ok=True)
    paths = (example_trajectories(), episode_path())
    click.echo("watchkeeper demo (offline): auditing the bundled episodes: "
               + ", ".join(str(p) for p in paths) + "\n")  # fmt: skip
    ctx = click.get_current_context()
    ctx.invoke(
        audit, paths=paths, input_format=None, out_format="jsonl", output=out / "verdicts.jsonl",
        rules_dirs=(), no_builtin=False, fail_on=None, keep_clean=out / "clean.jsonl",
        flag_at="medium", strict=False, progress=False,
    )
    ctx.invoke(
        audit, paths=paths, input_format=None, out_format="table", output=None,
        rules_dirs=(), no_builtin=False, fail_on=None, keep_clean=None,
        flag_at="medium", strict=False, progress=False,
    )
    click.echo(f"\nverdicts: {out / 'verdicts.jsonl'}\nclean copy: {out / 'clean.jsonl'}")
