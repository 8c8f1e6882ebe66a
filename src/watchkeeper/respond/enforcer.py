"""The enforcer: policy decision, responder, and the action recorded on the alert.

Enforcement fails closed: when the chosen responder cannot act, the enforcer escalates to
``kill`` (or, when kill itself failed, raises :class:`ResponseError` so the runtime can mark
the run degraded). Every response is timed from the decision to its effect.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from watchkeeper.alerts import Alert
from watchkeeper.errors import Location, PolicyError
from watchkeeper.respond._response import Responder, Response, ResponseError
from watchkeeper.respond.policy import Action, Policy


class Enforcer:
    """Applies a policy to alerts through responders.

    Args:
        policy: The response policy.
        responders: One responder per action the policy can choose (alert needs none).
        on_response: Called with every response (observers: fail open, exceptions are dropped).

    Raises:
        PolicyError: an action the policy can choose has no responder.
    """

    def __init__(
        self,
        policy: Policy,
        responders: Iterable[Responder],
        *,
        on_response: Callable[[Alert, Response], None] | None = None,
    ) -> None:
        self.policy = policy
        self.responders: dict[Action, Responder] = {r.action: r for r in responders}
        missing = sorted(a.value for a in policy.actions() - {Action.ALERT} - set(self.responders))
        if missing:
            raise PolicyError(
                f"no responder for action(s) {', '.join(missing)}", Location(policy.source)
            )
        self._on_response = on_response
        self._lock = threading.Lock()
        self.responses: deque[tuple[str, Response]] = deque(maxlen=10_000)
        """(rule id, response) of the most recent responses."""

    def handle(self, alert: Alert) -> Alert:
        """Decide, act, and return the alert with the action taken recorded."""
        decided = time.monotonic()
        action = self.policy.decide(alert)
        if action is Action.ALERT:
            return alert.with_action(Action.ALERT.value)
        if self.policy.dry_run:
            return dataclasses.replace(
                alert, action=Action.ALERT.value, tags=alert.tags + (f"dry_run:{action.value}",)
            )
        with self._lock:
            try:
                self._run(action, alert, decided)
                return alert.with_action(action.value)
            except ResponseError as exc:
                if action is Action.KILL or Action.KILL not in self.responders:
                    raise
                failure = f"response_failed:{action.value}:{exc.message}"
            self._run(Action.KILL, alert, decided)  # fail closed: escalate to kill
            return dataclasses.replace(
                alert, action=Action.KILL.value, tags=alert.tags + (failure,)
            )

    def _run(self, action: Action, alert: Alert, decided: float) -> Response:
        responder = self.responders[action]
        try:
            response = responder.respond(alert)
        except ResponseError:
            raise
        except Exception as exc:  # noqa: BLE001 - any responder failure is a failed response
            raise ResponseError(f"{action.value} responder failed: {exc}") from exc
        response = dataclasses.replace(response, started=decided)
        self.responses.append((alert.rule_id, response))
        if self._on_response is not None:
            try:
                self._on_response(alert, response)
            except Exception:  # noqa: BLE001 - observers fail open
                pass
        return response
