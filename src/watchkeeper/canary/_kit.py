"""Canaries for one live sandbox: plant, detect, listen, clean up (``Sandbox(canaries=...)``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from watchkeeper.canary._hit import CanaryHit, hit_event
from watchkeeper.canary._plant import Planting, plant, unplant
from watchkeeper.canary._registry import CanaryConfig, CanaryRegistry
from watchkeeper.canary.detector import CanaryDetector
from watchkeeper.canary.http import CanaryHttp
from watchkeeper.events import Event

log = logging.getLogger(__name__)

Sink = Callable[[Event], None]


class CanaryKit:
    """Everything canaries need around one sandbox.

    The runtime calls, in order: :meth:`allow_entries` and :meth:`dns_map` (before setup, so
    the sandbox can reach the listener and resolve canary names), :meth:`plant` (into the
    home, before anything runs), :meth:`detector` (into the sandbox's pipeline),
    :meth:`start` (the HTTP listener on the host end; hits go to ``sink`` as events) and
    :meth:`close` (listener stopped, unchanged canary files removed).
    """

    def __init__(self, config: CanaryConfig | None = None) -> None:
        self.config = config or CanaryConfig()
        self.registry = CanaryRegistry(self.config.zone)
        self.planting: Planting | None = None
        self.http: CanaryHttp | None = None
        self._detector: CanaryDetector | None = None

    def allow_entries(self) -> tuple[str, ...]:
        """Allow entries for the listener: the host end's port, canary names and intercepts."""
        port = self.config.http_port
        if port is None:
            return ()
        names = (f"*.{self.config.zone}", *self.config.intercept)
        return (f"host:{port}/tcp", *(f"{n}:{port}/tcp" for n in names))

    def dns_map(self) -> dict[str, tuple[str, ...]]:
        """Static DNS answers: canary names (and intercepts) resolve to the host end."""
        return {name: ("host",) for name in (f"*.{self.config.zone}", *self.config.intercept)}

    def plant(self, home: str | os.PathLike[str]) -> Planting:
        """Plant the canary files under ``home`` (idempotent)."""
        if self.planting is None:
            self.planting = plant(home, self.config, self.registry)
        return self.planting

    def paths(self) -> tuple[str, ...]:
        """Paths of the planted files (for the file sensor)."""
        return self.registry.paths()

    def detector(self) -> CanaryDetector:
        """The detector over this kit's registry (one per kit)."""
        if self._detector is None:
            self._detector = CanaryDetector(self.registry)
        return self._detector

    def start(self, host_addr: str, sink: Sink) -> None:
        """Start the HTTP listener on ``host_addr``; each hit becomes an event for ``sink``."""
        self.detector().resolvers.add(host_addr)  # the sandbox's forwarder reports queries
        port = self.config.http_port
        if port is None or self.http is not None:
            return

        def on_hit(hit: CanaryHit) -> None:
            sink(hit_event(hit))

        self.http = CanaryHttp(host_addr, port, registry=self.registry, on_hit=on_hit).start()

    def close(self) -> list[str]:
        """Stop the listener and remove the planted files; returns what was left and why."""
        if self.http is not None:
            self.http.stop()
            self.http = None
        left: list[str] = []
        if self.planting is not None:
            left = unplant(self.planting)
            for line in left:
                log.warning("canary file left in place: %s", line)
        return left
