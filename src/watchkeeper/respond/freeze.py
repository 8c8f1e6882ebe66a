"""Freeze responder: stop every process of the sandbox and keep it for forensics (quarantine).

Writes the sandbox cgroup's freezer (``cgroup.freeze`` on v2, ``freezer.state`` on v1) and
returns once the group reports frozen. Memory, open files, sockets and the file system stay as
they were, so an operator can inspect them; a later kill or teardown releases them.
"""

from __future__ import annotations

import time

from watchkeeper.alerts import Alert
from watchkeeper.respond._response import Response, ResponseError
from watchkeeper.respond._targets import Targets
from watchkeeper.respond.policy import Action


class FreezeResponder:
    """Freezes a sandbox's cgroup.

    Args:
        targets: The sandboxes' handles.
    """

    action = Action.FREEZE

    def __init__(self, targets: Targets) -> None:
        self.targets = targets

    def respond(self, alert: Alert) -> Response:
        """Freeze the alert's sandbox; return once frozen."""
        started = time.monotonic()
        group = self.targets.freezable(alert.sandbox_id) if alert.sandbox_id else None
        if group is None:
            raise ResponseError(f"sandbox {alert.sandbox_id or '?'} has no cgroup to freeze")
        try:
            group.freeze()
        except Exception as exc:
            raise ResponseError(f"freezing sandbox {alert.sandbox_id} failed: {exc}") from exc
        return Response(self.action, alert.sandbox_id, "cgroup.freeze", started, time.monotonic())
