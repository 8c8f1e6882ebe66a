"""``watchkeeper export DIR --format stix|misp|ocsf``: threat-intel and SIEM exports of a run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from watchkeeper.export._enrich import NetIntel
from watchkeeper.export._exporter import EXPORTERS, exporter_for
from watchkeeper.export._rundir import open_run_dir
from watchkeeper.export._write import atomic_text

_TLP = ("clear", "green", "amber", "red")


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=str))
@click.option(
    "--format", "fmt", type=click.Choice(list(EXPORTERS)), required=True,
    help="stix: STIX 2.1 bundle; misp: MISP event; ocsf: OCSF JSON lines for a SIEM.",
)  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(path_type=str), default=None,
    help="Where to write (default: RUN_DIR/stix.json, misp.json or ocsf.jsonl; - for stdout).",
)  # fmt: skip
@click.option(
    "--tlp", type=click.Choice(_TLP), default="amber", show_default=True,
    help="TLP marking of STIX objects and of the MISP event.",
)  # fmt: skip
@click.option(
    "--mmdb", multiple=True, type=click.Path(path_type=str),
    help="A MaxMind DB file for ASN/location of public addresses (repeatable).",
)  # fmt: skip
def command(run_dir: str, fmt: str, output: str | None, tlp: str, mmdb: Sequence[str]) -> None:
    """Export a run directory as STIX 2.1, a MISP event or OCSF, and print the file's path.

    STIX and MISP hold the indicators behind the alerts (destinations, URLs, command lines,
    hashes) with ATT&CK and the agent's run, episode, step and tool call; OCSF holds every
    event and every alert. Command lines are exported as they ran: review before sharing.
    """
    with open_run_dir(run_dir) as run, NetIntel(mmdb) as intel:
        exporter = exporter_for(fmt, intel, tlp=tlp)
        if output == "-":
            exporter.write(run, sys.stdout)
            target = None
        else:
            target = Path(output) if output else run.path / exporter.default_filename
            with atomic_text(target) as out:
                exporter.write(run, out)
        for line in run.issue_lines():
            click.echo(f"watchkeeper: warning: {line}", err=True)
    if target is not None:
        click.echo(str(target))
