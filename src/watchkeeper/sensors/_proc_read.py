"""Fast, bounded reads of /proc/PID for a process that may vanish at any moment.

Short-lived processes exit within a millisecond of their exec, so the command line is read
first and with raw ``os.open``/``os.read`` (no Python file objects). Every read returns a neutral
value when the process is gone instead of raising.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from functools import lru_cache

_MAX_CMDLINE = 64 * 1024
_MAX_SMALL = 8192


@dataclass(frozen=True, slots=True)
class ProcSnapshot:
    """What /proc told us about a process right after its exec.

    Attributes:
        argv: The arguments (empty when the cmdline could not be read).
        image: Resolved executable path ("" when unreadable).
        cwd: Working directory ("" when unreadable).
        uid: Effective uid (-1 when unreadable).
        ppid: Current parent pid (None when unreadable).
        comm: The 15-character task name, read only when argv is empty.
        cgroups: Cgroup paths of the process (one per hierarchy, deduplicated).
    """

    argv: tuple[str, ...]
    image: str
    cwd: str
    uid: int
    ppid: int | None
    comm: str = ""
    cgroups: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when the real command line was captured (not only the comm fallback)."""
        return bool(self.argv)


def read_bytes(path: str, limit: int = _MAX_SMALL) -> bytes:
    """Up to ``limit`` bytes of a /proc file; b"" when it is gone or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def read_argv(pid: int, proc: str = "/proc") -> tuple[str, ...]:
    """argv from /proc/PID/cmdline ((): gone, zombie or kernel thread)."""
    raw = read_bytes(f"{proc}/{pid}/cmdline", _MAX_CMDLINE)
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return tuple(part.decode("utf-8", "surrogateescape") for part in raw.split(b"\0"))


def read_link(path: str) -> str:
    """readlink, "" on error."""
    try:
        return os.readlink(path)
    except OSError:
        return ""


def read_comm(pid: int, proc: str = "/proc") -> str:
    """The task name (15 characters at most), "" when gone."""
    return read_bytes(f"{proc}/{pid}/comm", 64).rstrip(b"\n").decode("utf-8", "replace")


def read_status(pid: int, proc: str = "/proc") -> tuple[int | None, int]:
    """(PPid, effective Uid) from /proc/PID/status; (None, -1) when gone."""
    ppid: int | None = None
    uid = -1
    for line in read_bytes(f"{proc}/{pid}/status", 4096).split(b"\n"):
        if line.startswith(b"PPid:"):
            ppid = _int(line[5:])
        elif line.startswith(b"Uid:"):
            fields = line[4:].split()
            value = _int(fields[1]) if len(fields) >= 2 else None
            uid = -1 if value is None else value
            break
    return ppid, uid


def read_cgroups(pid: int, proc: str = "/proc") -> tuple[str, ...]:
    """Cgroup paths of ``pid``: the cgroup2 path first, then v1 paths; () when gone."""
    v2: list[str] = []
    v1: list[str] = []
    for line in read_bytes(f"{proc}/{pid}/cgroup", _MAX_SMALL).split(b"\n"):
        parts = line.split(b":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].decode("utf-8", "replace")
        target = v2 if parts[0] == b"0" else v1
        if path not in v2 and path not in v1:
            target.append(path)
    return tuple(v2 + v1)


def snapshot(pid: int, proc: str = "/proc", with_cgroups: bool = False) -> ProcSnapshot:
    """Read cmdline first (it vanishes first), then exe, cwd, status; comm when argv is empty."""
    argv = read_argv(pid, proc)
    image = read_link(f"{proc}/{pid}/exe")
    cwd = read_link(f"{proc}/{pid}/cwd")
    ppid, uid = read_status(pid, proc)
    comm = "" if argv else read_comm(pid, proc)
    cgroups = read_cgroups(pid, proc) if with_cgroups else ()
    return ProcSnapshot(argv, image, cwd, uid, ppid, comm, cgroups)


@lru_cache(maxsize=256)
def user_name(uid: int) -> str:
    """The user name of ``uid``, or the number as text."""
    if uid < 0:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _int(raw: bytes) -> int | None:
    try:
        return int(raw.strip())
    except ValueError:
        return None
