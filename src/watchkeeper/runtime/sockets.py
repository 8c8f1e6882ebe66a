"""Which sandboxed process owns a flow: the network sensor sees packets, not pids.

For a flow of a sandbox, :meth:`SocketOwners.owner` reads the socket tables of the sandbox's
network namespace (``/proc/<pid>/net/tcp`` and ``udp`` of any of its processes) to find the
socket inode bound to the flow's local port, then the process holding that inode among the
sandbox's processes (``/proc/<pid>/fd``). Found owners are cached per flow. Thread-safe. A socket that is already
closed (a refused connect, a finished short request) cannot be found; the caller falls back to
the step that was running (see :mod:`watchkeeper.runtime.dispatch`).

Reads are bounded: at most ``max_pids`` processes and ``max_fds`` descriptors each.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

_MAX_TABLE_BYTES = 4 << 20
_CACHE = 8192

FlowId = tuple[str, str, str, int, str, int]
"""(sandbox id, protocol, local ip, local port, remote ip, remote port)."""


class SocketOwners:
    """Finds the pid owning a sandbox's socket by local port.

    Args:
        pids_of: Sandbox id -> its live host pids (its cgroup).
        proc: The proc mount.
        max_pids / max_fds: Bounds on the scan.
    """

    def __init__(
        self,
        pids_of: Callable[[str], Sequence[int]],
        *,
        proc: str = "/proc",
        max_pids: int = 4096,
        max_fds: int = 4096,
    ) -> None:
        self._pids_of = pids_of
        self._proc = proc
        self._max_pids = max_pids
        self._max_fds = max_fds
        self._cache: OrderedDict[FlowId, int] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0
        """Scans done (cache misses)."""
        self.found = 0
        """Scans that found the owner."""

    def owner(
        self,
        sandbox_id: str,
        protocol: str,
        local_ip: str,
        local_port: int,
        remote_ip: str = "",
        remote_port: int = 0,
    ) -> int | None:
        """The pid owning the flow's socket, None when it cannot be found (closed, not ours)."""
        key = (sandbox_id, protocol, local_ip, local_port, remote_ip, remote_port)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            self.lookups += 1
        pid = self._scan(sandbox_id, protocol, local_port)
        if pid is not None:
            with self._lock:
                self.found += 1
                self._cache[key] = pid
                while len(self._cache) > _CACHE:
                    self._cache.popitem(last=False)
        return pid

    def forget(self, sandbox_id: str) -> None:
        """Drop cached owners of a sandbox (after teardown)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == sandbox_id]:
                del self._cache[key]

    def _scan(self, sandbox_id: str, protocol: str, port: int) -> int | None:
        if protocol not in ("tcp", "udp"):
            return None
        pids = list(self._pids_of(sandbox_id))[: self._max_pids]
        if not pids:
            return None
        inodes: set[int] = set()
        for pid in pids:  # any live member shows the namespace's tables
            table = _read(f"{self._proc}/{pid}/net/{protocol}")
            if table is None:
                continue
            inodes = _inodes_for_port(table, port)
            break
        if not inodes:
            return None
        targets = {f"socket:[{inode}]" for inode in inodes}
        for pid in reversed(pids):  # newest processes first
            fd_dir = f"{self._proc}/{pid}/fd"
            try:
                names = os.listdir(fd_dir)
            except OSError:
                continue
            for name in names[: self._max_fds]:
                try:
                    if os.readlink(f"{fd_dir}/{name}") in targets:
                        return pid
                except OSError:
                    continue
        return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read(_MAX_TABLE_BYTES)
    except OSError:
        return None


def _inodes_for_port(table: str, port: int) -> set[int]:
    """Inodes of the sockets whose local port is ``port`` in a /proc/net/{tcp,udp} table."""
    wanted = f":{port:04X}"
    out: set[int] = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or not fields[1].endswith(wanted):
            continue
        try:
            inode = int(fields[9])
        except ValueError:
            continue
        if inode:
            out.add(inode)
    return out
