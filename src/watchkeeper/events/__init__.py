"""Typed, immutable events aligned with OCSF classes and Sigma logsource categories."""

from watchkeeper.events._base import BaseEvent
from watchkeeper.events._dns import DnsEvent
from watchkeeper.events._event import ALL_EVENT_TYPES, EVENT_TYPES, Event
from watchkeeper.events._file import FileEvent
from watchkeeper.events._gpu import GpuEvent
from watchkeeper.events._network import NetworkEvent
from watchkeeper.events._process import ProcessEvent
from watchkeeper.events._resource import ResourceSample
from watchkeeper.events._serialize import event_from_dict, event_to_dict

__all__ = [
    "ALL_EVENT_TYPES",
    "BaseEvent",
    "DnsEvent",
    "EVENT_TYPES",
    "Event",
    "FileEvent",
    "GpuEvent",
    "NetworkEvent",
    "ProcessEvent",
    "ResourceSample",
    "event_from_dict",
    "event_to_dict",
]
