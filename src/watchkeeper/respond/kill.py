"""Kill responder: SIGKILL the sandbox (cgroup.kill) or, for targeted kills, one step's tree.

``scope="sandbox"`` (default) writes the sandbox cgroup's ``cgroup.kill``: the kernel kills every
member atomically, including processes forked while the kill runs, and the call returns once the
group is empty. ``scope="step"`` kills only the processes of the alert's step (from the lineage,
which also holds double-forked daemons reparented to pid 1, plus their current children from
/proc). It freezes the sandbox first when it can, so nothing forks between the scan and the
signal, then kills, thaws, and repeats until no process of the step is left.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Literal

import psutil

from watchkeeper.alerts import Alert
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.respond._response import Response, ResponseError
from watchkeeper.respond._targets import Freezable, Targets
from watchkeeper.respond.policy import Action

Scope = Literal["sandbox", "step"]


class KillResponder:
    """Kills a sandbox, or one step's process tree.

    Args:
        targets: The sandboxes' handles (their cgroups).
        lineage: pid -> step map, for step kills and when a sandbox has no cgroup.
        scope: "sandbox" or "step".
        timeout_s: How long to wait for the processes to die.
    """

    action = Action.KILL

    def __init__(
        self,
        targets: Targets,
        lineage: Lineage | None = None,
        *,
        scope: Scope = "sandbox",
        timeout_s: float = 5.0,
    ) -> None:
        self.targets = targets
        self.lineage = lineage
        self.scope: Scope = scope
        self.timeout_s = timeout_s

    def respond(self, alert: Alert) -> Response:
        """Kill; return once the processes are dead."""
        started = time.monotonic()
        sandbox = alert.sandbox_id
        if not sandbox:
            raise ResponseError(f"alert {alert.rule_id} names no sandbox to kill")
        if self.scope == "step" and self.lineage is not None and alert.step is not None:
            pids = self.lineage.pids(sandbox, alert.step)
            killed = kill_tree(pids, self.lineage, self.targets.freezable(sandbox), self.timeout_s)
            detail = f"killed step {alert.step}: {len(killed)} processes"
        elif (group := self.targets.killable(sandbox)) is not None:
            try:
                group.kill()
            except Exception as exc:
                raise ResponseError(f"cgroup.kill of sandbox {sandbox} failed: {exc}") from exc
            detail = "cgroup.kill"
        elif self.lineage is not None:
            pids = self.lineage.pids(sandbox)
            killed = kill_tree(pids, self.lineage, self.targets.freezable(sandbox), self.timeout_s)
            detail = f"killed {len(killed)} processes (no cgroup)"
        else:
            raise ResponseError(f"sandbox {sandbox} has no cgroup and no process lineage to kill")
        return Response(self.action, sandbox, detail, started, time.monotonic())


def kill_tree(
    pids: set[int],
    lineage: Lineage | None = None,
    freezer: Freezable | None = None,
    timeout_s: float = 5.0,
) -> set[int]:
    """SIGKILL ``pids`` and all their descendants until none is left; returns every pid signalled.

    Descendants come from the lineage (fork-time, so reparented daemons are included) and from
    /proc (current children). With a freezer the group is frozen around each scan-and-kill round,
    so nothing can fork in between.

    Raises:
        ResponseError: processes were still alive after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    signalled: set[int] = set()
    quiet_rounds = 0
    while True:
        if freezer is not None:
            freezer.freeze()
        try:
            tree = _expand(pids, lineage)
            alive = {pid for pid in tree if _alive(pid)}
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            signalled |= alive
        finally:
            if freezer is not None:
                freezer.thaw()
        pids = tree
        if not alive:
            quiet_rounds += 1
            # without a freezer a fork may be in flight: require two quiet rounds
            if freezer is not None or quiet_rounds >= 2:
                return signalled
        else:
            quiet_rounds = 0
        if time.monotonic() > deadline:
            left = sorted(pid for pid in _expand(pids, lineage) if _alive(pid))
            if left:
                raise ResponseError(f"processes {left[:10]} survived the kill")
            return signalled
        time.sleep(0.002)


def _expand(pids: set[int], lineage: Lineage | None) -> set[int]:
    out = set(pids)
    for pid in pids:
        if lineage is not None:
            out |= lineage.descendants(pid)
        try:
            out.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read(512)
    except OSError:
        return False
    end = stat.rfind(b")")
    return end >= 0 and stat[end + 2 : end + 3] not in (b"Z", b"X")
