"""Loss records: how a sensor says "I lost events" so the runtime can raise an alert.

Loss is never silent. A sensor counts it in ``SensorStats.dropped`` and also hands a
:class:`SensorLoss` to its ``on_loss`` callback; the runtime turns it into an alert (a blind
monitor is a security event). Records are coalesced to at most one per ``interval_s`` so that an
overrun storm does not become an alert storm; the first loss is always reported at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SensorLoss:
    """A sensor lost events.

    Attributes:
        sensor: The sensor's name ("proc", "fs"...).
        ts: When the loss was noticed (epoch seconds).
        count: Losses since the previous record. For the proc connector each count is one
            ENOBUFS overrun, i.e. at least one event (the exact number is unknown).
        total: Losses since the sensor started.
        reason: What was lost, in words.
    """

    sensor: str
    ts: float
    count: int
    total: int
    reason: str


OnLoss = Callable[[SensorLoss], None]
"""The callback a sensor hands its loss records to."""


class LossReporter:
    """Counts losses and reports them, coalesced, to an ``on_loss`` callback."""

    def __init__(self, sensor: str, on_loss: OnLoss | None, interval_s: float = 1.0) -> None:
        self._sensor = sensor
        self._on_loss = on_loss
        self._interval = interval_s
        self._lock = threading.Lock()
        self._pending = 0
        self._total = 0
        self._last_report = float("-inf")
        self._reason = ""

    @property
    def total(self) -> int:
        """Losses counted since start."""
        return self._total

    def lost(self, reason: str, count: int = 1) -> None:
        """Count ``count`` losses; report now unless one was reported less than interval ago."""
        with self._lock:
            self._pending += count
            self._total += count
            self._reason = reason
        self.flush(force=False)

    def flush(self, force: bool = True) -> None:
        """Report pending losses (also called periodically by the sensor's thread)."""
        now = time.monotonic()
        with self._lock:
            if not self._pending or (not force and now - self._last_report < self._interval):
                return
            record = SensorLoss(self._sensor, time.time(), self._pending, self._total, self._reason)
            self._pending = 0
            self._last_report = now
        if self._on_loss is not None:
            self._on_loss(record)
