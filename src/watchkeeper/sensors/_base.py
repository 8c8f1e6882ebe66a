"""The sensor contract: a small Protocol every live sensor implements.

A sensor runs on its own (thread, socket, subprocess) after :meth:`Sensor.start` and hands each
observation to the ``emit`` callback it was given. ``emit`` may be called from the sensor's own
thread, so receivers must be thread-safe (a queue is the usual choice). Loss is never silent:
every sensor counts what it received, what it lost and the errors it survived, and reports them
through :meth:`Sensor.stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from watchkeeper.events import Event

Emit = Callable[[Event], None]
"""The callback a sensor hands its events to (may be called from the sensor's thread)."""


@dataclass(frozen=True, slots=True)
class SensorStats:
    """Loss counters of a sensor, cumulative since :meth:`Sensor.start`.

    Attributes:
        received: Raw records the sensor got from its source (packets, proc events, samples).
        dropped: Records lost before the sensor could read them (kernel drops, overruns,
            evictions that lost data). Non-zero means the view is incomplete.
        errors: Records or reads that failed and were skipped.
    """

    received: int = 0
    dropped: int = 0
    errors: int = 0


@runtime_checkable
class Sensor(Protocol):
    """A live source of events.

    Attributes:
        name: Short, unique name of the sensor ("net", "proc", "fs", "resources").
    """

    name: str

    def start(self, emit: Emit) -> None:
        """Start observing and call ``emit`` for every event; returns once running.

        Raises:
            PrerequisiteError: when the host lacks what the sensor needs (root, a kernel feature).
            SensorError: when the sensor cannot start for another reason.
        """
        ...

    def stop(self) -> None:
        """Stop observing, release resources and join threads; idempotent."""
        ...

    def stats(self) -> SensorStats:
        """Loss counters so far (cheap; callable from any thread, also after :meth:`stop`)."""
        ...
