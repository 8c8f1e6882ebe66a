"""The ``watchkeeper`` command: a thin click group; one module per subcommand."""

from __future__ import annotations

import sys

import click

from watchkeeper.errors import WatchkeeperError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="watchkeeper")
def cli() -> None:
    """Watchkeeper: a security runtime for AI agents that run code."""


def _register() -> None:
    import importlib

    for name in ("audit", "rules", "run", "pcap", "events", "cleanup", "report", "export", "correlate", "demo"):
        try:
            module = importlib.import_module(f"watchkeeper.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"watchkeeper.cli.{name}":
                raise
            continue
        cli.add_command(module.command)


_register()


def main() -> None:
    """Entry point: user errors print one line and exit non-zero; Ctrl-C exits 130."""
    try:
        cli.main(standalone_mode=False)
    except WatchkeeperError as exc:
        click.echo(f"watchkeeper: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("watchkeeper: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("watchkeeper: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
