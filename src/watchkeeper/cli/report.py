"""``watchkeeper report DIR``: the forensic HTML report of a run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from watchkeeper.export._enrich import NetIntel
from watchkeeper.export._rundir import open_run_dir
from watchkeeper.export._write import atomic_text
from watchkeeper.export.report_html import HtmlReport


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option(
    "--output", "-o", type=click.Path(path_type=str), default=None,
    help="Where to write the report (default: RUN_DIR/report.html).",
)  # fmt: skip
@click.option(
    "--mmdb", multiple=True, type=click.Path(path_type=str),
    help="A MaxMind DB file (ASN, City or Country) for ASN and location of public addresses; "
    "repeat for several. Nothing is looked up online.",
)  # fmt: skip
def command(run_dir: str, output: str | None, mmdb: Sequence[str]) -> None:
    """Write a self-contained HTML report of a run directory and print its path.

    The report opens offline: a summary, a timeline, each alert with its evidence and
    ATT&CK ids, the process tree of every step, network flows with enrichment, DNS and files.
    """
    with open_run_dir(run_dir) as run, NetIntel(mmdb) as intel:
        html = HtmlReport(intel).render(run)
        for line in run.issue_lines():
            click.echo(f"watchkeeper: warning: {line}", err=True)
        target = Path(output) if output else run.path / HtmlReport.default_filename
        with atomic_text(target) as out:
            out.write(html)
    click.echo(str(target))
