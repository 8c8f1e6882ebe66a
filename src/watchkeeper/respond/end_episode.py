"""End-episode responder: refuse every later command of the episode, then kill the sandbox.

The episode gate is closed first, so that no new command can start while the kill runs; the
runtime checks the gate (an :class:`EpisodeLatch`) before each exec and answers the agent with
the reason.
"""

from __future__ import annotations

import time

from watchkeeper.alerts import Alert
from watchkeeper.respond._response import Response, ResponseError
from watchkeeper.respond._targets import Targets
from watchkeeper.respond.kill import KillResponder
from watchkeeper.respond.policy import Action


class EndEpisodeResponder:
    """Ends the episode and kills its sandbox.

    Args:
        targets: The sandboxes' handles (the episode gate and the cgroup).
        kill: The kill to run after the gate is closed (sandbox scope by default).
    """

    action = Action.END_EPISODE

    def __init__(self, targets: Targets, kill: KillResponder | None = None) -> None:
        self.targets = targets
        self.kill = kill if kill is not None else KillResponder(targets)

    def respond(self, alert: Alert) -> Response:
        """Close the gate, kill, return once the processes are dead."""
        started = time.monotonic()
        sandbox = alert.sandbox_id
        episode = self.targets.episode(sandbox) if sandbox else None
        reason = f"{alert.rule_id}: {alert.title}"
        if episode is not None:
            episode.end_episode(reason)
        killed = self.kill.respond(alert)
        if episode is None:
            raise ResponseError(
                f"sandbox {sandbox or '?'} was killed but has no episode gate: "
                "later commands are not refused"
            )
        return Response(
            self.action, sandbox, f"episode ended; {killed.detail}", started, time.monotonic()
        )
