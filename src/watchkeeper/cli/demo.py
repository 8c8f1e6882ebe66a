"""``watchkeeper demo``: show what watchkeeper does on a ROME-like agent episode."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click


def example_trajectories() -> Path:
    """The bundled example episodes (one ROME-like, two benign), in OpenAI chat format."""
    return Path(str(resources.files("watchkeeper.examples").joinpath("trajectories.jsonl")))


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("watchkeeper-demo"),
              show_default=True, help="Where to write the demo's outputs.")
def command(out: Path) -> None:
    """Audit the bundled example episodes (a ROME-like rogue episode and two benign ones)."""
    from watchkeeper.cli.audit import command as audit

    out.mkdir(parents=True, exist_ok=True)
    path = example_trajectories()
    click.echo(f"watchkeeper demo: auditing the bundled episodes in {path}\n")
    ctx = click.get_current_context()
    ctx.invoke(
        audit, paths=(path,), input_format=None, out_format="jsonl", output=out / "verdicts.jsonl",
        rules_dirs=(), no_builtin=False, fail_on=None, keep_clean=out / "clean.jsonl",
        flag_at="medium", strict=False, progress=False,
    )
    ctx.invoke(
        audit, paths=(path,), input_format=None, out_format="table", output=None,
        rules_dirs=(), no_builtin=False, fail_on=None, keep_clean=None,
        flag_at="medium", strict=False, progress=False,
    )
    click.echo(f"\nverdicts: {out / 'verdicts.jsonl'}\nclean copy: {out / 'clean.jsonl'}")
