"""``watchkeeper rules``: check rule folders and list the loaded rules."""

from __future__ import annotations

from pathlib import Path

import click

from watchkeeper.rules import RuleSet, load_rules

_EXISTING = click.Path(exists=True, path_type=Path)


@click.group("rules")
def command() -> None:
    """Sigma rules: check what can be loaded, list what is loaded."""


def _summary(ruleset: RuleSet) -> str:
    text = f"loaded {len(ruleset)}, unsupported {ruleset.unsupported}"
    kinds = ruleset.by_kind()
    if kinds:
        text += " (" + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")"
    return text


@command.command("check")
@click.argument("paths", nargs=-1, required=True, type=_EXISTING)
@click.option("--builtin", is_flag=True, help="Also check the built-in rule pack.")
def check(paths: tuple[Path, ...], builtin: bool) -> None:
    """Load the rules in PATHS (files or folders) and print every rule that cannot be supported.

    One line per problem, as ``path:line: rule-id title: reason``, then a summary. Exits 0 when
    the check ran, whatever it found.
    """
    ruleset = load_rules(paths, builtin=builtin)
    for issue in ruleset.issues:
        click.echo(str(issue))
    click.echo(_summary(ruleset))


@command.command("list")
@click.option("--rules", "rules_dirs", multiple=True, type=_EXISTING,
              help="Add Sigma rules from this file or folder (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Do not load the built-in rule pack.")
def list_rules(rules_dirs: tuple[Path, ...], no_builtin: bool) -> None:
    """List the loaded rules: id, level, ATT&CK techniques, title."""
    ruleset = load_rules(rules_dirs, builtin=not no_builtin)
    rows = [
        (r.id, r.level.label, ",".join(r.attack) or "-", r.title) for r in ruleset.rules
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    click.echo(_summary(ruleset))
