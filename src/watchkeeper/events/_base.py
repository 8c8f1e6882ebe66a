"""The event base: every observation carries its attribution (run, episode, step, tool call).

Events are frozen, slotted dataclasses rather than pydantic models: the audit path builds
millions of them per minute and dataclass construction is an order of magnitude cheaper.
Serialisation to JSON/OCSF lives in ``events._serialize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvent:
    """Fields shared by every event.

    Attributes:
        ts: Seconds since the Unix epoch (UTC); 0.0 when the source has no time.
        run_id: The watchkeeper run or audit job.
        episode_id: The agent episode (trajectory) the event belongs to.
        step: Index of the agent step (0-based) that caused the event, if known.
        tool_call_id: The tool call that caused the event, if known.
        sandbox_id: The sandbox the event was observed in ("" offline).
        source: What produced the event: "audit", "proc", "net", "fs", "gpu", "pcap"...
        pid: Host process id, when there is a process.
        span: (start, end) offsets of the text in the tool call that produced this event
            (offline audit); None for live events.
    """

    category: ClassVar[str] = "event"
    ocsf_class_uid: ClassVar[int] = 0
    ocsf_class_name: ClassVar[str] = "Base Event"

    ts: float = 0.0
    run_id: str = ""
    episode_id: str = ""
    step: int | None = None
    tool_call_id: str = ""
    sandbox_id: str = ""
    source: str = ""
    pid: int | None = None
    span: tuple[int, int] | None = None
