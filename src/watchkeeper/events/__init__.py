"""Typed, immutable events aligned with OCSF classes and Sigma logsource categories."""

from watchkeeper.events._base import BaseEvent
from watchkeeper.events._dns import DnsEvent
from watchkeeper.events._event import EVENT_TYPES, Event
from watchkeeper.events._file import FileEvent
from watchkeeper.events._network import NetworkEvent
from watchkeeper.events._process import ProcessEvent
from watchkeeper.events._serialize import event_from_dict, event_to_dict

__all__ = [
    "BaseEvent",
    "DnsEvent",
    "EVENT_TYPES",
    "Event",
    "FileEvent",
    "NetworkEvent",
    "ProcessEvent",
    "event_from_dict",
    "event_to_dict",
]
