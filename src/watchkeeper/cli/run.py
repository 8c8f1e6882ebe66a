"""``watchkeeper run``: run a command (a whole agent) in a watched sandbox."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import click

from watchkeeper.errors import InputError, Location, SandboxError
from watchkeeper.sandbox import Bind, check_prerequisites
from watchkeeper.sandbox.gpu import GpuGrant

_GPU_HELP = "GPUs the command may use: all, none, indices or GPU-/MIG- UUIDs (repeatable or 0,1)."


def parse_gpu(values: Sequence[str]) -> GpuGrant:
    """The grant of ``--gpu`` values: "all", "none", NVML indices and UUIDs, each value
    possibly a comma list; nothing given means no GPU.

    Raises:
        InputError: on an empty item, an unknown item, or "all"/"none" mixed with devices.
    """
    items = [item.strip() for value in values for item in value.split(",")]
    if not items:
        return GpuGrant.none()
    if any(not item for item in items):
        raise InputError("empty GPU in the list", Location("--gpu"))
    words = {item.lower() for item in items if item.lower() in ("all", "none")}
    if words:
        if len(words) > 1 or len(items) != sum(1 for i in items if i.lower() in words):
            raise InputError(
                f"'all' and 'none' cannot be combined with other GPUs: {','.join(items)}",
                Location("--gpu"),
            )
        return GpuGrant.all() if words == {"all"} else GpuGrant.none()
    try:
        return GpuGrant.of(*items)
    except SandboxError as exc:
        raise InputError(
            f"{exc.message} (use all, none, an index such as 0, or a GPU-... UUID)",
            Location("--gpu"),
        ) from exc


def _default_out() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path.cwd() / f"watchkeeper-run-{stamp}"


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--policy", "policy", type=click.Path(dir_okay=False), default=None,
              help="Response policy YAML (default: the shipped policy).")
@click.option("--allow", "allow", multiple=True, metavar="ADDR[:PORT]",
              help="Allow egress to an address, network, name or 'host' (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output directory (default: ./watchkeeper-run-<timestamp>/).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Directory the command may write (default: the current directory).")
@click.option("--no-network", is_flag=True, help="Cut all network access, DNS included.")
@click.option("--declare-workload", "declared", multiple=True, metavar="PATTERN",
              help="Image glob whose CPU use is expected, e.g. 'python*' (repeatable).")
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True),
              help="Extra Sigma rule files or directories (repeatable).")
@click.option("--gpu", "gpu", multiple=True, metavar="all|none|N|GPU-UUID", help=_GPU_HELP)
@click.option("--gpu-workload", is_flag=True,
              help="The command is the declared GPU workload (its steady GPU use is expected).")
@click.option("--gpu-poll", type=click.FloatRange(min=0.05, max=60.0), default=1.0,
              show_default=True, metavar="SECONDS", help="GPU sensor polling interval.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print alerts as they happen.")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def command(
    policy: str | None,
    allow: Sequence[str],
    out_dir: str | None,
    workdir: str | None,
    no_network: bool,
    declared: Sequence[str],
    rules: Sequence[str],
    gpu: Sequence[str],
    gpu_workload: bool,
    gpu_poll: float,
    quiet: bool,
    cmd: Sequence[str],
) -> None:
    """Run CMD in a sandbox, watch it, and respond to what it does.

    Alerts are printed to stderr as they happen and written, with every event, to the output
    directory (alerts.jsonl, events.duckdb). The exit code is the command's own, or 137 when
    watchkeeper stopped it.

    Without --gpu the sandbox sees no GPU. The GPU sensor runs where NVML and a GPU are present;
    elsewhere the run goes on and the sensor is reported unavailable.

    \b
    Example:
      watchkeeper run --allow host:8080/tcp -- python agent.py --task t1
      watchkeeper run --gpu 0 --gpu-workload -- python train.py
    """
    from watchkeeper.runtime import Monitor, Sandbox

    grant = parse_gpu(gpu)
    check_prerequisites()
    work = Path(workdir or os.getcwd()).resolve()
    if work == Path("/"):
        raise InputError("the work dir cannot be /", Location("--workdir"))
    out = Path(out_dir).resolve() if out_dir else _default_out()
    binds: list[Bind] = []
    empty: tempfile.TemporaryDirectory[str] | None = None
    if out == work or work in out.parents:
        # the command must not be able to edit its own record: cover the output dir inside
        out.mkdir(parents=True, exist_ok=True)
        empty = tempfile.TemporaryDirectory(prefix="wk-empty-")
        binds.append(Bind(empty.name, str(out), mode="ro"))
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    monitor: Monitor | None = None
    try:
        if Monitor.shared() is None:
            monitor = Monitor.install(Monitor(gpu_poll_s=gpu_poll))
        with Sandbox(
            policy=policy,
            allow=allow,
            workdir=work,
            declared_workload=declared,
            out_dir=out,
            rules=rules,
            network=not no_network,
            echo=None if quiet else sys.stderr,
            binds=binds,
            gpu=grant,
        ) as sb:
            gpu_state = sb.sensor_status().get("gpu", "off")
            if not quiet and (grant.granted or gpu_state.startswith("degraded")):
                click.echo(f"watchkeeper: gpu sensor {gpu_state}", err=True)
            code = sb.run(list(cmd), gpu_workload=gpu_workload)
            sb.flush()
            alerts = sb.alerts()
            stopped = sb.contained
        if stopped or code < 0:
            code = 137
        worst = max((a.severity for a in alerts), default=None)
        summary = f"{len(alerts)} alert(s)" + (f", highest {worst.label}" if worst else "")
        if stopped:
            summary += f"; the command was stopped ({stopped})"
        click.echo(f"watchkeeper: {summary}; output in {out}", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if monitor is not None:
            monitor.release()
        if empty is not None:
            empty.cleanup()
    sys.exit(code)
