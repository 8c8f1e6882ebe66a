"""Plain-dict (JSON) round trip of events."""

from __future__ import annotations

import dataclasses
from typing import Any

from watchkeeper.events._event import ALL_EVENT_TYPES, Event


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``category`` key naming the event class."""
    out: dict[str, Any] = {"category": event.category}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[f.name] = value
    return out


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of :func:`event_to_dict`; raises KeyError/TypeError on foreign input."""
    cls = ALL_EVENT_TYPES[data["category"]]
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            continue
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[key] = value
    return cls(**kwargs)
