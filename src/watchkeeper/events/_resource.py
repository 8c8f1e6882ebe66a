"""The resource sample: CPU and memory of one process, or of a whole sandbox, at one time.

Samples are a separate stream from events (the store keeps them in its ``resources`` table and
the CPU detector reads them); they share the event base so they carry the same attribution.
OCSF has no class for per-process resource use, so ``ocsf_class_uid`` is 0 (none), and no Sigma
logsource: samples are not in the ``Event`` union nor in ``EVENT_TYPES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceSample(BaseEvent):
    """CPU and memory of one process (or, with ``pid=None``, of a whole sandbox) at ``ts``.

    Attributes:
        ts: Epoch seconds of the sample.
        sandbox_id: The sandbox.
        pid: Host pid; None for the sandbox total (its cgroup).
        step / tool_call_id: Attribution of the process (None / "" for the total).
        cpu_share: CPU used since the previous sample, in cores (0..n).
        rss_bytes: Resident memory (the cgroup's charged memory for the total).
        num_threads: Threads of the process (live processes of the sandbox for the total).
        image / command_line: The process ("" for the total).
        interval: Seconds covered by ``cpu_share``.
    """

    category: ClassVar[str] = "resource_usage"
    ocsf_class_uid: ClassVar[int] = 0
    ocsf_class_name: ClassVar[str] = "Resource Usage"

    cpu_share: float = 0.0
    rss_bytes: int = 0
    num_threads: int = 0
    image: str = ""
    command_line: str = ""
    interval: float = 0.0
