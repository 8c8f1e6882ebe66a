"""Who is a GPU process? Host pid -> sandbox, step and tool call; pid -> process tree.

NVML reports host pids. The sensor asks a :class:`PidAttributor` first (the runtime's process
lineage, which knows the step and the tool call) and falls back to the pid's cgroup: a sandbox
runs in a cgroup named ``wk-<sandbox id>``, which /proc/PID/cgroup shows on every hierarchy.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

_MAX_DEPTH = 64
_MAX_READ = 65536
_CACHE = 4096
_WK_CGROUP = re.compile(r"^wk-([A-Za-z0-9][A-Za-z0-9_.:-]{0,127})$")


class PidAttribution(Protocol):
    """What an attributor knows about a pid (``attribution.lineage.Attribution`` fits)."""

    @property
    def sandbox_id(self) -> str: ...

    @property
    def step(self) -> int | None: ...

    @property
    def tool_call_id(self) -> str: ...


class PidAttributor(Protocol):
    """Maps a host pid to its sandbox, step and tool call (``attribution.Lineage`` fits)."""

    def attribution_of(self, pid: int) -> PidAttribution | None:
        """The attribution of ``pid``; None when the pid is not watched."""
        ...


@runtime_checkable
class AncestryProvider(Protocol):
    """An attributor that also remembers fork-time ancestors (survives reparenting to pid 1)."""

    def ancestors(self, pid: int) -> list[int]:
        """Ancestor pids of ``pid``, nearest first."""
        ...


@dataclass(frozen=True, slots=True)
class GpuAttribution:
    """A pid's sandbox, step and tool call as found by the GPU sensor's own attributors."""

    sandbox_id: str
    step: int | None = None
    tool_call_id: str = ""


class CgroupAttributor:
    """Attributes a pid to sandbox ``<id>`` when its cgroup path has a ``wk-<id>`` component.

    The outermost ``wk-`` component wins (a sandbox may nest cgroups per step below its own);
    a ``.scope`` suffix (systemd) is dropped. The step is unknown at this level.
    """

    def __init__(self, proc_root: str = "/proc") -> None:
        self._proc_root = proc_root

    def attribution_of(self, pid: int) -> GpuAttribution | None:
        """The sandbox of ``pid`` from /proc/PID/cgroup; None when it is in no wk- cgroup."""
        text = _read_text(os.path.join(self._proc_root, str(pid), "cgroup"))
        if text is None:
            return None
        sandbox = sandbox_of_cgroup_file(text)
        return GpuAttribution(sandbox) if sandbox else None


def sandbox_of_cgroup_file(text: str) -> str | None:
    """The sandbox id named by a /proc/PID/cgroup text (cgroup v2 line first), or None."""
    lines = text.splitlines()[:64]
    lines.sort(key=lambda line: not line.startswith("0::"))
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for component in parts[2].split("/")[:_MAX_DEPTH]:
            if component.endswith(".scope"):
                component = component[: -len(".scope")]
            match = _WK_CGROUP.match(component)
            if match:
                return match.group(1)
    return None


class StaticAttributor:
    """A fixed pid -> sandbox map, for plain processes started outside a sandbox."""

    def __init__(self, sandboxes: Mapping[int, str]) -> None:
        self._map = dict(sandboxes)

    def attribution_of(self, pid: int) -> GpuAttribution | None:
        """The configured sandbox of ``pid``, or None."""
        sandbox = self._map.get(pid)
        return GpuAttribution(sandbox) if sandbox is not None else None


class ChainAttributor:
    """Asks each attributor in turn; the first answer wins."""

    def __init__(self, *attributors: PidAttributor) -> None:
        self._chain = attributors

    def attribution_of(self, pid: int) -> PidAttribution | None:
        """The first non-None attribution of ``pid``."""
        for attributor in self._chain:
            found = attributor.attribution_of(pid)
            if found is not None:
                return found
        return None


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """What /proc says about a process.

    Attributes:
        image: /proc/PID/exe target, or the comm name when the link cannot be read.
        command_line: Arguments joined by spaces (bounded).
        ppid: Parent pid.
        start_ticks: Start time in clock ticks since boot (tells a reused pid apart).
    """

    image: str
    command_line: str
    ppid: int | None
    start_ticks: int


class ProcReader:
    """Reads image, command line and parent from a /proc tree, with a small cache."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self._root = proc_root
        self._cache: OrderedDict[int, ProcInfo] = OrderedDict()

    def info(self, pid: int) -> ProcInfo | None:
        """The process ``pid``; None when it is gone or unreadable."""
        stat = _read_text(os.path.join(self._root, str(pid), "stat"))
        if stat is None:
            self._cache.pop(pid, None)
            return None
        parsed = _parse_stat(stat)
        if parsed is None:
            return None
        comm, ppid, start = parsed
        cached = self._cache.get(pid)
        if cached is not None and cached.start_ticks == start:
            self._cache.move_to_end(pid)
            return cached
        base = os.path.join(self._root, str(pid))
        try:
            image = os.readlink(os.path.join(base, "exe"))
        except OSError:
            image = comm
        raw = _read_bytes(os.path.join(base, "cmdline")) or b""
        command_line = " ".join(
            part.decode("utf-8", "replace") for part in raw.split(b"\0") if part
        )
        info = ProcInfo(image, command_line, ppid, start)
        self._cache[pid] = info
        if len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
        return info

    def ancestors(self, pid: int) -> tuple[int, ...]:
        """Ancestor pids from /proc, nearest first (bounded depth; stops at pid 1 or 0)."""
        out: list[int] = []
        seen = {pid}
        current = pid
        for _ in range(_MAX_DEPTH):
            stat = _read_text(os.path.join(self._root, str(current), "stat"))
            parsed = _parse_stat(stat) if stat is not None else None
            if parsed is None or parsed[1] is None or parsed[1] <= 0 or parsed[1] in seen:
                break
            current = parsed[1]
            seen.add(current)
            out.append(current)
            if current == 1:
                break
        return tuple(out)


def _parse_stat(text: str) -> tuple[str, int | None, int] | None:
    """(comm, ppid, starttime) from a /proc/PID/stat line."""
    open_at, close_at = text.find("("), text.rfind(")")
    if open_at < 0 or close_at < open_at:
        return None
    comm = text[open_at + 1 : close_at]
    fields = text[close_at + 1 :].split()
    try:
        ppid = int(fields[1])
        start = int(fields[19]) if len(fields) > 19 else 0
    except (IndexError, ValueError):
        return None
    return comm, ppid, start


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(_MAX_READ)
    except OSError:
        return None


def _read_text(path: str) -> str | None:
    data = _read_bytes(path)
    return data.decode("utf-8", "replace") if data is not None else None
