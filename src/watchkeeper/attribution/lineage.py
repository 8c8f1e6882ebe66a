"""Process lineage: which sandbox, agent step and tool call every live process belongs to.

Attribution is fixed when a process is born. A FORK event copies the parent's attribution to the
child, so a daemon that double-forks, calls ``setsid`` or runs under ``nohup`` keeps the step that
started it after its intermediate parent exits and it is reparented to pid 1: the map was filled
at fork time and reparenting does not change it.

Roots are registered by the runtime (the pid it spawned for a tool call). Fork events can race
ahead of the registration (the child forks before ``Popen`` returns), so the lineage also remembers
the parent of recent forks it could not attribute and, on :meth:`Lineage.register_root`, adopts
the already-born descendants of the new root.

All methods are thread-safe: the proc sensor writes, other sensors and responders read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

_MAX_ORPHANS = 65536
_MAX_EXITED = 8192
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who caused a process.

    Attributes:
        sandbox_id: The sandbox the process runs in.
        step: The agent step (0-based) whose tool call started it; None when only the sandbox
            is known (e.g. attributed by cgroup).
        tool_call_id: The tool call that started it ("" when unknown).
        root_pid: The registered root the process descends from (None: attributed by cgroup).
    """

    sandbox_id: str
    step: int | None = None
    tool_call_id: str = ""
    root_pid: int | None = None


@dataclass(slots=True)
class ProcessRecord:
    """What the lineage knows about one watched process (mutable, owned by the lineage).

    Attributes:
        pid: Host pid.
        ppid: Parent at fork time (not updated on reparenting).
        attribution: Who caused it.
        image: Executable path after the last exec ("" before any exec was seen).
        command_line: Command line after the last exec.
        alive: False once its EXIT was seen.
        children: Pids it forked.
        born_ns: CLOCK_MONOTONIC ns of its fork (or of its registration as a root).
    """

    pid: int
    ppid: int | None
    attribution: Attribution
    image: str = ""
    command_line: str = ""
    alive: bool = True
    children: set[int] = field(default_factory=set)
    born_ns: int = 0


class Lineage:
    """A pid -> (sandbox, step, tool call) map kept from fork/exec/exit events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, ProcessRecord] = {}
        self._exited: OrderedDict[int, ProcessRecord] = OrderedDict()
        # unattributed recent forks: child -> (parent, still alive); exited ones keep the chain
        self._orphans: OrderedDict[int, tuple[int, bool]] = OrderedDict()
        self._cgroups: dict[str, str] = {}

    # --- registration -------------------------------------------------------------------

    def register_root(
        self, pid: int, sandbox_id: str, step: int | None = None, tool_call_id: str = ""
    ) -> Attribution:
        """Attribute ``pid`` and every later descendant to a sandbox step.

        Descendants forked before this call (fork events that arrived first) are adopted too.
        Re-registering a pid re-attributes it (a new step reusing a long-lived shell).
        """
        attribution = Attribution(sandbox_id, step, tool_call_id, pid)
        with self._lock:
            old = self._live.get(pid)
            record = ProcessRecord(pid, old.ppid if old else None, attribution)
            record.born_ns = time.monotonic_ns()
            if old is not None:
                record.image, record.command_line = old.image, old.command_line
                record.children = old.children
            self._live[pid] = record
            self._orphans.pop(pid, None)
            self._adopt_orphans(pid, attribution)
        return attribution

    def register_cgroup(self, cgroup: str, sandbox_id: str) -> None:
        """Declare that processes in ``cgroup`` (a path as in /proc/PID/cgroup) are ``sandbox_id``'s."""
        with self._lock:
            self._cgroups[cgroup.rstrip("/") or "/"] = sandbox_id

    def unregister_sandbox(self, sandbox_id: str) -> None:
        """Forget a sandbox's cgroups and processes (after it was torn down)."""
        with self._lock:
            self._cgroups = {k: v for k, v in self._cgroups.items() if v != sandbox_id}
            for pid in [p for p, r in self._live.items() if r.attribution.sandbox_id == sandbox_id]:
                del self._live[pid]

    def sandbox_of_cgroup(self, cgroup: str) -> str | None:
        """The sandbox whose registered cgroup is ``cgroup`` or one of its ancestors."""
        with self._lock:
            if not self._cgroups:
                return None
            path = cgroup.rstrip("/") or "/"
            for _ in range(_MAX_DEPTH):
                found = self._cgroups.get(path)
                if found is not None:
                    return found
                if path in ("/", ""):
                    return None
                path = path.rsplit("/", 1)[0] or "/"
            return None

    @property
    def watches_cgroups(self) -> bool:
        """True when at least one sandbox cgroup is registered."""
        return bool(self._cgroups)

    def adopt(self, pid: int, attribution: Attribution, ppid: int | None = None) -> None:
        """Attribute a process found by other means (its cgroup) unless it is already known."""
        with self._lock:
            if pid in self._live:
                return
            self._live[pid] = ProcessRecord(pid, ppid, attribution, born_ns=time.monotonic_ns())
            self._orphans.pop(pid, None)
            self._adopt_orphans(pid, attribution)

    # --- events -------------------------------------------------------------------------

    def on_fork(self, parent: int, child: int, ts_ns: int | None = None) -> Attribution | None:
        """A process forked; returns the child's attribution (None: not watched).

        ``ts_ns`` is the kernel's fork time (CLOCK_MONOTONIC). A fork event that arrives after
        the child was registered as a root (the runtime was faster than the sensor thread) is
        older than the registration and leaves it in place.
        """
        born = ts_ns if ts_ns is not None else time.monotonic_ns()
        with self._lock:
            current = self._live.get(child)
            if current is not None and current.born_ns >= born:
                return current.attribution  # stale event: the registration is newer
            record = self._live.get(parent)
            self._exited.pop(child, None)  # the pid is reused from now on
            if record is None:
                self._live.pop(child, None)
                self._orphans.pop(child, None)
                self._orphans[child] = (parent, True)
                if len(self._orphans) > _MAX_ORPHANS:
                    self._orphans.popitem(last=False)
                return None
            record.children.add(child)
            self._live[child] = ProcessRecord(
                child, parent, record.attribution, record.image, record.command_line, born_ns=born
            )
            return record.attribution

    def on_exec(self, pid: int, image: str, command_line: str) -> Attribution | None:
        """A watched process exec'd; records its new image. Returns its attribution."""
        with self._lock:
            record = self._live.get(pid)
            if record is None:
                return None
            record.image = image
            record.command_line = command_line
            return record.attribution

    def on_exit(self, pid: int) -> Attribution | None:
        """A process exited; its record moves to a bounded cache of recent exits."""
        with self._lock:
            orphan = self._orphans.get(pid)
            if orphan is not None:
                self._orphans[pid] = (orphan[0], False)
            record = self._live.pop(pid, None)
            if record is None:
                return None
            record.alive = False
            self._exited[pid] = record
            if len(self._exited) > _MAX_EXITED:
                self._exited.popitem(last=False)
            self._prune(pid, record)
            return record.attribution

    # --- queries ------------------------------------------------------------------------

    def attribution_of(self, pid: int) -> Attribution | None:
        """The attribution of a live (or recently exited) process, None when not watched."""
        with self._lock:
            record = self._live.get(pid) or self._exited.get(pid)
            return record.attribution if record else None

    def record(self, pid: int) -> ProcessRecord | None:
        """A copy of what is known about ``pid`` (live or recently exited)."""
        with self._lock:
            record = self._live.get(pid) or self._exited.get(pid)
            if record is None:
                return None
            return ProcessRecord(
                record.pid,
                record.ppid,
                record.attribution,
                record.image,
                record.command_line,
                record.alive,
                set(record.children),
                record.born_ns,
            )

    def ancestors(self, pid: int) -> list[int]:
        """Fork-time ancestors of ``pid`` that the lineage still knows, nearest first."""
        out: list[int] = []
        with self._lock:
            current = self._live.get(pid) or self._exited.get(pid)
            while current is not None and current.ppid is not None and len(out) < _MAX_DEPTH:
                out.append(current.ppid)
                current = self._live.get(current.ppid) or self._exited.get(current.ppid)
        return out

    def pids(self, sandbox_id: str | None = None, step: int | None = None) -> set[int]:
        """Live watched pids, optionally of one sandbox and one step."""
        with self._lock:
            return {
                pid
                for pid, r in self._live.items()
                if (sandbox_id is None or r.attribution.sandbox_id == sandbox_id)
                and (step is None or r.attribution.step == step)
            }

    def descendants(self, pid: int) -> set[int]:
        """Live descendants of ``pid`` by fork-time lineage (not including ``pid``).

        The walk passes through exited intermediates (a double-forked daemon is found).
        """
        out: set[int] = set()
        seen: set[int] = {pid}
        with self._lock:
            stack = [pid]
            while stack and len(seen) < 1_000_000:
                node = stack.pop()
                current = self._live.get(node) or self._exited.get(node)
                if current is None:
                    continue
                for child in current.children:
                    if child in seen:
                        continue
                    seen.add(child)
                    stack.append(child)
                    if child in self._live:
                        out.add(child)
        return out

    def active_steps(self, sandbox_id: str) -> set[tuple[int | None, str]]:
        """(step, tool_call_id) pairs with at least one live process in ``sandbox_id``."""
        with self._lock:
            return {
                (r.attribution.step, r.attribution.tool_call_id)
                for r in self._live.values()
                if r.attribution.sandbox_id == sandbox_id and r.attribution.root_pid is not None
            }

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    # --- internals ----------------------------------------------------------------------

    def _prune(self, pid: int, record: ProcessRecord) -> None:
        """Unlink an exited leaf from its parent (lock held); links through exited
        intermediates with live descendants are kept, so daemons stay reachable."""
        while not any(c in self._live or c in self._exited for c in record.children):
            parent = self._live.get(record.ppid or -1) or self._exited.get(record.ppid or -1)
            if parent is None:
                return
            parent.children.discard(pid)
            if parent.alive or parent.pid not in self._exited:
                return
            pid, record = parent.pid, parent  # the parent may now be an exited leaf too
            if record.children:
                return

    def _adopt_orphans(self, root: int, attribution: Attribution) -> None:
        """Attach already-forked descendants of ``root`` (lock held)."""
        if not self._orphans:
            return
        by_parent: dict[int, list[tuple[int, bool]]] = {}
        for child, (parent, alive) in self._orphans.items():
            by_parent.setdefault(parent, []).append((child, alive))
        stack = [root]
        while stack:
            parent = stack.pop()
            for child, alive in by_parent.pop(parent, ()):
                self._orphans.pop(child, None)
                record = ProcessRecord(child, parent, attribution, alive=alive)
                if alive:
                    self._live[child] = record
                else:
                    self._exited[child] = record
                owner = self._live.get(parent) or self._exited.get(parent)
                if owner is not None:
                    owner.children.add(child)
                stack.append(child)
