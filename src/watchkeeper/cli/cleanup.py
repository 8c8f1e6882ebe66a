"""``watchkeeper cleanup``: remove the sandboxes that crashed runs left behind."""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.sandbox import STATE_DIR, cleanup_all


@click.command("cleanup")
@click.option(
    "--orphans",
    is_flag=True,
    help="Also remove wk-named namespaces, veths, nft tables and cgroups that no state file "
    "mentions (do not use while other tools create wk-named parts).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=STATE_DIR,
    show_default=True,
    help="Where sandbox state files live.",
)
def command(orphans: bool, state_dir: Path) -> None:
    """Remove sandboxes (cgroups, netns, veths, nft tables) whose owner process is gone."""
    report = cleanup_all(state_dir=state_dir, orphans=orphans)
    for name in report.removed:
        click.echo(f"removed {name}")
    for name in report.live:
        click.echo(f"kept {name} (its owner still runs)")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if not report.removed and not report.problems:
        click.echo("nothing to clean up")
    if report.problems:
        raise SystemExit(1)
