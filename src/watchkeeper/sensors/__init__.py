"""Live sensors: each implements the :class:`Sensor` protocol and emits typed events."""

from watchkeeper.sensors._base import Emit, Sensor, SensorStats

__all__ = ["Emit", "Sensor", "SensorStats"]
