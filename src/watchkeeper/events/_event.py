from __future__ import annotations

from typing import TypeAlias

from watchkeeper.events._dns import DnsEvent
from watchkeeper.events._file import FileEvent
from watchkeeper.events._gpu import GpuEvent
from watchkeeper.events._network import NetworkEvent
from watchkeeper.events._process import ProcessEvent

Event: TypeAlias = ProcessEvent | NetworkEvent | DnsEvent | FileEvent | GpuEvent
"""Every event a sensor or the offline analyser can emit."""

EVENT_TYPES: dict[str, type[Event]] = {
    ProcessEvent.category: ProcessEvent,
    NetworkEvent.category: NetworkEvent,
    DnsEvent.category: DnsEvent,
    FileEvent.category: FileEvent,
}
"""Event classes by their Sigma logsource category (events no Sigma rule can name, such as
:class:`GpuEvent`, are left out; :data:`ALL_EVENT_TYPES` has every class)."""

ALL_EVENT_TYPES: dict[str, type[Event]] = {**EVENT_TYPES, GpuEvent.category: GpuEvent}
"""Every event class by its ``category`` (what :func:`event_from_dict` reads back)."""
