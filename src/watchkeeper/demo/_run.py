"""Replay the demo episode in one live, watched sandbox and write every output of the run.

One :class:`~watchkeeper.runtime.Sandbox` runs every step (with canary tokens planted and the
demo policy); the fake hosts of :mod:`watchkeeper.demo._network` listen on its host end; the
run directory then gets the HTML report and the STIX, MISP and OCSF exports.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO

from watchkeeper.alerts import Alert, Severity
from watchkeeper.canary import CanaryConfig, CanaryToken
from watchkeeper.demo._episode import load_episode, to_command
from watchkeeper.demo._network import CANARY_PORT, INTERCEPT, DemoNetwork
from watchkeeper.demo._project import write_project
from watchkeeper.respond import Action

log = logging.getLogger(__name__)

OUTPUTS = ("alerts.jsonl", "events.duckdb", "events.duckdb.wal", "report.html", "stix.json",
           "misp.json", "ocsf.jsonl", "canaries.json")  # fmt: skip
"""Files the demo writes into its output directory (removed first, so a rerun starts clean)."""
STEP_TIMEOUT_S = 30.0
THINK_S = 1.2
"""Pause between tool calls, as a model's latency would make it. It also keeps attribution
exact for flows whose sockets are gone before the dispatcher sees them (a port scan): the
runtime gives such a flow the step that was running then, allowing 1 s of slack after a call's
end, and does not guess when two calls fall in that window."""
_STRENGTH = {a.value: a.strength for a in Action}


def policy_path() -> Path:
    """The demo's policy (``watchkeeper/examples/demo_policy.yml``)."""
    return Path(str(resources.files("watchkeeper.examples").joinpath("demo_policy.yml")))


@dataclass(frozen=True, slots=True)
class StepRow:
    """What one replayed tool call did.

    Attributes:
        step / tool_call_id: Its place in the episode.
        command: One line for display.
        exit_code: 126 when refused, 137 when killed.
        alerts: The alerts attributed to it (later alerts of its daemons included).
        killed: Watchkeeper stopped it.
        denied: Why it was refused ("" when it ran).
        duration_s: Wall time of the call.
        stdout: Its output (first 4 KiB).
    """

    step: int
    tool_call_id: str
    command: str
    exit_code: int
    alerts: tuple[Alert, ...] = ()
    killed: bool = False
    denied: str = ""
    duration_s: float = 0.0
    stdout: str = ""

    @property
    def worst(self) -> Severity | None:
        """The highest severity of its alerts."""
        return max((a.severity for a in self.alerts), default=None)

    @property
    def attack(self) -> tuple[str, ...]:
        """ATT&CK techniques of its alerts, in order of first appearance."""
        return tuple(dict.fromkeys(t for a in self.alerts for t in a.attack))

    @property
    def action(self) -> str:
        """The strongest response of its alerts; "denied" when refused; "-" without alerts."""
        if self.denied:
            return "denied"
        actions = [a.action for a in self.alerts]
        if not actions:
            return "-"
        return max(actions, key=lambda a: _STRENGTH.get(a, -1))


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The outcome of :func:`run_demo`.

    Attributes:
        out: The output directory.
        rows: One per replayed tool call.
        alerts: Every alert of the run (``rows`` hold the attributed ones).
        files: Output name -> path, for the files that were written.
        problems: Outputs that could not be written, one line each.
        canaries: The planted canary tokens.
        home: The sandbox's work dir and home (removed at the end).
        wall_s: Wall time of the whole demo (setup, steps, teardown, exports).
        sandbox_id / run_id / episode_id: Names of the run.
    """

    out: Path
    rows: tuple[StepRow, ...]
    alerts: tuple[Alert, ...]
    files: dict[str, Path]
    problems: tuple[str, ...] = ()
    canaries: tuple[CanaryToken, ...] = ()
    wall_s: float = 0.0
    sandbox_id: str = ""
    run_id: str = ""
    episode_id: str = ""
    skipped_services: tuple[str, ...] = field(default=())
    home: str = ""

    def canary_steps(self, token: CanaryToken) -> dict[str, list[int]]:
        """Canary rule id -> the steps whose alerts name ``token``."""
        out: dict[str, list[int]] = {}
        for alert in self.alerts:
            if f"canary_token:{token.id}" in alert.tags and alert.step is not None:
                steps = out.setdefault(alert.rule_id, [])
                if alert.step not in steps:
                    steps.append(alert.step)
        return out

    @property
    def unattributed(self) -> tuple[Alert, ...]:
        """Alerts with no step (the sensors could not tell which call caused them)."""
        return tuple(a for a in self.alerts if a.step is None)


def clean_outputs(out: Path) -> None:
    """Remove the demo's own output files from ``out`` (nothing else)."""
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)


def run_demo(
    out: str | os.PathLike[str] = "watchkeeper-demo",
    *,
    episode: str | os.PathLike[str] | None = None,
    policy: str | os.PathLike[str] | None = None,
    on_step: Callable[[StepRow], None] | None = None,
    echo: TextIO | None = None,
    think_s: float = THINK_S,
) -> DemoResult:
    """Replay the episode live and write the run directory ``out``.

    Args:
        out: Output directory (alerts.jsonl, events.duckdb, report.html, stix.json, misp.json,
            ocsf.jsonl, canaries.json).
        episode: A trajectory file (default: the shipped ROME-like episode).
        policy: A policy file (default: the demo policy).
        on_step: Called after each step with its row (alerts known so far).
        echo: A stream for one line per alert as it happens.
        think_s: Pause between tool calls (see :data:`THINK_S`).

    Raises:
        PrerequisiteError: Not root, bwrap/nft missing, or a port the story needs is taken.
    """
    from watchkeeper.runtime import Sandbox
    from watchkeeper.sandbox import check_prerequisites

    started = time.monotonic()
    check_prerequisites()
    trajectory = load_episode(None if episode is None else Path(episode))
    target = Path(out).resolve()
    target.mkdir(parents=True, exist_ok=True)
    clean_outputs(target)
    network = DemoNetwork()
    canaries = CanaryConfig(http_port=CANARY_PORT, intercept=INTERCEPT)
    unique = os.urandom(4).hex()
    sandbox_id = f"demo-{unique}"
    rows: list[StepRow] = []
    with network, Sandbox(
        policy=policy if policy is not None else policy_path(),
        allow=network.allow(),
        dns=network.dns(),
        out_dir=target,
        canaries=canaries,
        sandbox_id=sandbox_id,
        run_id=f"wk-demo-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{unique[:4]}",
        episode_id=trajectory.id,
        echo=echo,
    ) as sb:
        network.start(sb.host_addr)
        assert sb.workdir is not None
        write_project(sb.workdir)
        last_end = 0.0
        for step in trajectory.steps:
            for call in step.tool_calls:
                command = to_command(call)
                if command is None:
                    continue
                pause = last_end + think_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                result = sb.exec(command.command, step_id=step.index, tool_call_id=call.id,
                                 input=command.input, timeout=STEP_TIMEOUT_S)  # fmt: skip
                row = StepRow(step.index, call.id, command.display, result.exit_code,
                              result.alerts, result.killed, result.denied, result.duration_s,
                              result.stdout[:4096])  # fmt: skip
                rows.append(row)
                last_end = time.monotonic()
                if on_step is not None:
                    on_step(row)
        sb.flush()
        alerts = sb.alerts()
        tokens = sb.canaries.tokens() if sb.canaries is not None else ()
        run_id, episode_id, home = sb.run_id, sb.episode_id, str(sb.workdir)
    final = tuple(_with_late_alerts(row, alerts) for row in rows)
    files, problems = write_exports(target)
    return DemoResult(
        out=target, rows=final, alerts=alerts, files=files, problems=tuple(problems),
        canaries=tokens, wall_s=time.monotonic() - started, sandbox_id=sandbox_id,
        run_id=run_id, episode_id=episode_id,
        skipped_services=tuple(f"{s.name}:{s.port}" for s in network.skipped), home=home,
    )  # fmt: skip


def _with_late_alerts(row: StepRow, alerts: tuple[Alert, ...]) -> StepRow:
    mine = tuple(a for a in alerts if a.step == row.step and a.tool_call_id == row.tool_call_id)
    if len(mine) == len(row.alerts):
        return row
    return StepRow(row.step, row.tool_call_id, row.command, row.exit_code, mine, row.killed,
                   row.denied, row.duration_s, row.stdout)  # fmt: skip


def write_exports(out: Path) -> tuple[dict[str, Path], list[str]]:
    """Write report.html, stix.json, misp.json and ocsf.jsonl of the run directory ``out``.

    Exports are observers: one that fails is reported in the problems and the others go on.
    """
    from watchkeeper.export import HtmlReport, NetIntel, atomic_text, exporter_for, open_run_dir

    files: dict[str, Path] = {}
    problems: list[str] = []
    for name in ("alerts.jsonl", "events.duckdb", "canaries.json"):
        if (out / name).exists():
            files[name] = out / name
    with open_run_dir(out) as run, NetIntel(()) as intel:
        try:
            target = out / HtmlReport.default_filename
            with atomic_text(target) as fh:
                fh.write(HtmlReport(intel).render(run))
            files[target.name] = target
        except Exception as exc:  # noqa: BLE001 - exporters fail open
            log.exception("report failed")
            problems.append(f"report.html: {exc}")
        for fmt in ("stix", "misp", "ocsf"):
            try:
                exporter = exporter_for(fmt, intel)
                target = out / exporter.default_filename
                with atomic_text(target) as fh:
                    exporter.write(run, fh)
                files[target.name] = target
            except Exception as exc:  # noqa: BLE001
                log.exception("%s export failed", fmt)
                problems.append(f"{fmt}: {exc}")
        problems += run.issue_lines()
    return files, problems
