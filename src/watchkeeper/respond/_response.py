"""The Responder protocol and the record of one response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from watchkeeper.alerts import Alert
from watchkeeper.errors import WatchkeeperError
from watchkeeper.respond.policy import Action


class ResponseError(WatchkeeperError):
    """A responder could not act (no handle for the sandbox, or the action failed)."""


@dataclass(frozen=True, slots=True)
class Response:
    """What a responder did.

    Attributes:
        action: The action taken.
        sandbox_id: The sandbox acted on.
        detail: What was done, in words ("cgroup.kill", "killed 3 pids"...).
        started / finished: ``time.monotonic()`` around the action.
    """

    action: Action
    sandbox_id: str
    detail: str
    started: float
    finished: float

    @property
    def latency_s(self) -> float:
        """Seconds the action took (decide -> done, e.g. processes dead)."""
        return self.finished - self.started


class Responder(Protocol):
    """Carries out one action for an alert.

    Attributes:
        action: The action it implements.
    """

    action: Action

    def respond(self, alert: Alert) -> Response:
        """Act; return once the action has taken effect.

        Raises:
            ResponseError: when it could not act.
        """
        ...
