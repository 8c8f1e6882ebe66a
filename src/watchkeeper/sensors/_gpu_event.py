"""Old home of :class:`GpuEvent`; it now lives in :mod:`watchkeeper.events` (re-exported here)."""

from watchkeeper.events._gpu import GpuEvent

__all__ = ["GpuEvent"]
