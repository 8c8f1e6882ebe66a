"""Cut-network responder: drop every packet of the sandbox; its processes keep running.

Calls the sandbox host's ``cut_network()`` (which replaces the sandbox's allow rules by a drop
of everything). Use it when the agent may go on offline, e.g. after an exfiltration attempt
whose process is already gone.
"""

from __future__ import annotations

import time

from watchkeeper.alerts import Alert
from watchkeeper.respond._response import Response, ResponseError
from watchkeeper.respond._targets import Targets
from watchkeeper.respond.policy import Action


class CutNetworkResponder:
    """Cuts a sandbox off the network.

    Args:
        targets: The sandboxes' handles.
    """

    action = Action.CUT_NETWORK

    def __init__(self, targets: Targets) -> None:
        self.targets = targets

    def respond(self, alert: Alert) -> Response:
        """Cut the alert's sandbox off; return once the rules are in place."""
        started = time.monotonic()
        network = self.targets.network(alert.sandbox_id) if alert.sandbox_id else None
        if network is None:
            raise ResponseError(f"sandbox {alert.sandbox_id or '?'} has no network handle to cut")
        try:
            network.cut_network()
        except Exception as exc:
            raise ResponseError(f"cutting the network of {alert.sandbox_id} failed: {exc}") from exc
        return Response(self.action, alert.sandbox_id, "network cut", started, time.monotonic())
