"""File sensor: reads and writes of sensitive paths (credentials, canaries) through inotify.

Watches a short, configurable list of directories and files inside each sandbox (by default the
``.ssh``, ``.aws``, ``.kube``, ``.docker``, ``.netrc``, ``.env``... of its work dir and home) and
emits a :class:`FileEvent` per read, write, create, delete or rename.

inotify reports no pid. An event is attributed to its sandbox and, when exactly one agent step
has live processes in that sandbox (from the lineage), to that step; otherwise ``step`` is None.

Mapping of inotify events (per path, repeats within ``dedup_s`` are folded into one):

* ``IN_ACCESS`` or ``IN_CLOSE_NOWRITE`` -> "read" (a directory listing is a read of the directory)
* ``IN_MODIFY`` or ``IN_CLOSE_WRITE`` -> "write"
* ``IN_CREATE`` / ``IN_DELETE`` -> "create" / "delete"
* ``IN_MOVED_FROM`` / ``IN_MOVED_TO`` -> "rename"

Paths that do not exist yet are watched through their parent directory, so a file created later
(an agent writing ``~/.aws/credentials``) is reported and then watched itself.

With ``backend="fanotify"`` (or "auto" as root) reads and writes come from fanotify instead
(``FAN_CLASS_NOTIF``, ``FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_*`` marks on the watched directories
and files only, never a whole filesystem). fanotify gives the pid of the reader, so the event
carries the pid, its image and the exact step from the lineage; the monitor's own reads are
skipped. Creates, deletes and renames still come from inotify.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.errors import PrerequisiteError, SensorError
from watchkeeper.events import FileEvent
from watchkeeper.sensors._base import Emit, SensorStats
from watchkeeper.sensors._proc_loss import LossReporter, OnLoss

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_CLOSE_NOWRITE = 0x010
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_MASK_ADD = 0x20000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_CONTENT = IN_ACCESS | IN_MODIFY | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
_ENTRIES = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
_TARGET_DIR = _CONTENT | _ENTRIES | IN_DELETE_SELF | IN_MOVE_SELF
_TARGET_FILE = _CONTENT | IN_DELETE_SELF | IN_MOVE_SELF
_PARENT = _ENTRIES
_EVENT = struct.Struct("=iIII")  # wd, mask, cookie, len

FAN_ACCESS = 0x01
FAN_MODIFY = 0x02
FAN_CLOSE_WRITE = 0x08
FAN_CLOSE_NOWRITE = 0x10
FAN_Q_OVERFLOW = 0x4000
FAN_EVENT_ON_CHILD = 0x08000000
FAN_ONDIR = 0x40000000
FAN_CLASS_NOTIF = 0x0
FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_MARK_ADD = 0x1
FAN_MARK_REMOVE = 0x2
AT_FDCWD = -100
_FAN_CONTENT = FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE
_FAN_META = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid

Backend = Literal["auto", "inotify", "fanotify"]

DEFAULT_SENSITIVE: tuple[str, ...] = (
    ".ssh",
    ".aws",
    ".kube",
    ".docker",
    ".netrc",
    ".env",
    ".git-credentials",
    ".config/gcloud",
    ".azure",
    ".pgpass",
    ".npmrc",
    ".pypirc",
)
"""Names (relative to a work dir or home) that hold credentials."""


def sensitive_paths(
    bases: Iterable[str | os.PathLike[str]],
    names: Iterable[str] = DEFAULT_SENSITIVE,
    extra: Iterable[str | os.PathLike[str]] = (),
) -> list[Path]:
    """``base/name`` for every base (work dir, home) and name, plus ``extra`` paths (canaries)."""
    out = [Path(base) / name for base in bases for name in names]
    out.extend(Path(p) for p in extra)
    return list(dict.fromkeys(out))


@dataclass(slots=True)
class _Watch:
    path: str
    sandbox_id: str
    targets: set[str] = field(default_factory=set)  # names of targets in this dir (parent role)
    target: bool = False  # the path itself is (inside) a target
    depth: int = 0


class FsSensor:
    """inotify watches on sensitive paths of each sandbox.

    Args:
        lineage: Gives the active steps of a sandbox (attribution when exactly one is active).
        on_loss: Called with a SensorLoss when the inotify queue overflowed.
        heartbeat: Called from the reader thread at least every 200 ms while it is healthy.
        dedup_s: Repeats of the same (path, activity) within this many seconds are folded.
        max_depth: How deep target directories are watched (``.config/gcloud/x/y``).
        max_watches: Upper bound on inotify watches held by the sensor.
        run_id / episode_id: Stamped on every event.
        backend: "inotify", "fanotify" (reads/writes with the pid; needs CAP_SYS_ADMIN) or
            "auto" (fanotify when permitted).
    """

    name = "fs"

    def __init__(
        self,
        lineage: Lineage | None = None,
        *,
        on_loss: OnLoss | None = None,
        heartbeat: Callable[[], None] | None = None,
        dedup_s: float = 1.0,
        max_depth: int = 4,
        max_watches: int = 4096,
        run_id: str = "",
        episode_id: str = "",
        backend: Backend = "auto",
    ) -> None:
        self.lineage = lineage if lineage is not None else Lineage()
        self._backend: Backend = backend
        self.backend_in_effect = "not started"
        """"inotify" or "fanotify" once started."""
        self._fan = -1
        self._content = _CONTENT
        self._marks: dict[str, tuple[str, int]] = {}  # fanotify marks: path -> (sandbox, mask)
        self._loss = LossReporter(self.name, on_loss)
        self._heartbeat = heartbeat
        self._dedup_s = dedup_s
        self._max_depth = max_depth
        self._max_watches = max_watches
        self._run_id = run_id
        self._episode_id = episode_id
        self._lock = threading.Lock()
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._watches: dict[int, _Watch] = {}
        self._pending: list[tuple[str, list[Path]]] = []
        self._last: dict[tuple[str, str, int | None], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self._received = 0
        self._errors = 0
        self._wake_r, self._wake_w = -1, -1

    # --- configuration ------------------------------------------------------------------

    def watch(self, sandbox_id: str, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Watch ``paths`` (directories or files, existing or not) for ``sandbox_id``."""
        targets = [Path(os.path.abspath(p)) for p in paths]
        with self._lock:
            if self._fd < 0:
                self._pending.append((sandbox_id, targets))
                return
            for target in targets:
                self._add_target(sandbox_id, target)

    def unwatch(self, sandbox_id: str) -> None:
        """Remove every watch of a sandbox."""
        with self._lock:
            for wd in [wd for wd, w in self._watches.items() if w.sandbox_id == sandbox_id]:
                self._rm(wd)
            for path in [p for p, (sb, _) in self._marks.items() if sb == sandbox_id]:
                self._unmark(path)

    @property
    def watched_paths(self) -> list[str]:
        """Paths with an inotify watch (targets and parents)."""
        with self._lock:
            return sorted(w.path for w in self._watches.values())

    # --- Sensor protocol ----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Create the inotify instance, add the watches and start the reader thread."""
        if self._thread is not None:
            raise SensorError("fs sensor already started")
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise PrerequisiteError(f"inotify_init1 failed: {os.strerror(err)}")
        self._libc, self._fd, self._emit = libc, fd, emit
        self._open_fanotify(libc)
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        with self._lock:
            pending, self._pending = self._pending, []
            for sandbox_id, targets in pending:
                for target in targets:
                    self._add_target(sandbox_id, target)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wk-fs-sensor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and close the inotify instance; idempotent."""
        self._stop.set()
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        with self._lock:
            for fd in (self._fd, self._fan, self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._fan = self._wake_r = self._wake_w = -1
            self._watches.clear()
            self._marks.clear()
        self._loss.flush()

    def stats(self) -> SensorStats:
        """inotify records read, queue overflows (dropped) and failed watches/records."""
        return SensorStats(self._received, self._loss.total, self._errors)

    @property
    def alive(self) -> bool:
        """True while the reader thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # --- fanotify -----------------------------------------------------------------------

    def _open_fanotify(self, libc: ctypes.CDLL) -> None:
        self.backend_in_effect = "inotify"
        if self._backend == "inotify":
            return
        libc.fanotify_mark.argtypes = [
            ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p,
        ]  # fmt: skip
        flags = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_LARGEFILE", 0)
        fan = int(libc.fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, flags))
        if fan < 0:
            err = ctypes.get_errno()
            if self._backend == "fanotify":
                os.close(self._fd)
                self._fd = -1
                raise PrerequisiteError(
                    f"fanotify_init failed: {os.strerror(err)}", fix="run as root or use inotify"
                )
            return
        self._fan = fan
        self._content = 0  # reads and writes come from fanotify
        self.backend_in_effect = "fanotify"

    def _mark(self, sandbox_id: str, path: Path, is_dir: bool) -> None:
        if self._fan < 0 or self._libc is None:
            return
        mask = _FAN_CONTENT | (FAN_EVENT_ON_CHILD | FAN_ONDIR if is_dir else 0)
        rc = self._libc.fanotify_mark(self._fan, FAN_MARK_ADD, mask, AT_FDCWD, os.fsencode(path))
        if rc < 0:
            self._errors += 1
            return
        self._marks[str(path)] = (sandbox_id, mask)

    def _unmark(self, path: str) -> None:
        _, mask = self._marks.pop(path)
        if self._fan >= 0 and self._libc is not None:
            self._libc.fanotify_mark(self._fan, FAN_MARK_REMOVE, mask, AT_FDCWD, os.fsencode(path))

    def _read_fanotify(self) -> None:
        try:
            data = os.read(self._fan, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _FAN_META.size <= len(data):
            length, _v, _r, _m, mask, fd, pid = _FAN_META.unpack_from(data, offset)
            offset += max(length, _FAN_META.size)
            self._received += 1
            if fd < 0:
                if mask & FAN_Q_OVERFLOW:
                    self._loss.lost("fanotify queue overflow: file events lost")
                continue
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                path = ""
            finally:
                os.close(fd)
            if path and pid != os.getpid():
                self._handle_fanotify(mask, path, pid)

    def _handle_fanotify(self, mask: int, path: str, pid: int) -> None:
        activity = "write" if mask & (FAN_MODIFY | FAN_CLOSE_WRITE) else "read"
        with self._lock:
            mark = self._marks.get(path) or self._marks.get(os.path.dirname(path))
        if mark is None or not self._fresh(path, activity, pid):
            return
        record = self.lineage.record(pid)
        image = record.image if record and record.image else _readlink(f"/proc/{pid}/exe")
        command_line = record.command_line if record else ""
        attribution = record.attribution if record else None
        if attribution is not None and attribution.sandbox_id != mark[0]:
            attribution = None
        self._deliver(
            mark[0], activity, path, pid=pid, image=image, command_line=command_line,
            step=(attribution.step, attribution.tool_call_id) if attribution else (None, ""),
        )  # fmt: skip

    # --- watches (lock held) ------------------------------------------------------------

    def _add_target(self, sandbox_id: str, target: Path) -> None:
        parent = target.parent
        if parent.is_dir():
            wd = self._add(parent, _PARENT, sandbox_id, mask_add=True)
            if wd is not None:
                self._watches[wd].targets.add(target.name)
        if target.exists():
            self._add_tree(sandbox_id, target, 0)

    def _add_tree(self, sandbox_id: str, path: Path, depth: int) -> None:
        is_dir = path.is_dir()
        children: list[Path] = []
        if is_dir and depth < self._max_depth:
            # list before watching: our own listing must not be reported as a read
            try:
                children = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                children = []
        mask = (_TARGET_DIR if is_dir else _TARGET_FILE) & ~(_CONTENT & ~self._content)
        wd = self._add(path, mask, sandbox_id, mask_add=True)
        if wd is None:
            return
        self._mark(sandbox_id, path, is_dir)
        watch = self._watches[wd]
        watch.target, watch.depth = True, depth
        for child in children[:256]:
            self._add_tree(sandbox_id, child, depth + 1)

    def _add(self, path: Path, mask: int, sandbox_id: str, mask_add: bool) -> int | None:
        assert self._libc is not None
        if len(self._watches) >= self._max_watches:
            self._errors += 1
            return None
        flags = mask | (IN_MASK_ADD if mask_add else 0)
        wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(path), flags))
        if wd < 0:
            err = ctypes.get_errno()
            if err not in (errno.ENOENT, errno.ENOTDIR):
                self._errors += 1
            return None
        if wd not in self._watches:
            self._watches[wd] = _Watch(str(path), sandbox_id)
        return wd

    def _rm(self, wd: int) -> None:
        if self._libc is not None and self._fd >= 0:
            self._libc.inotify_rm_watch(self._fd, wd)
        self._watches.pop(wd, None)

    # --- reader thread ------------------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        if self._fan >= 0:
            poller.register(self._fan, select.POLLIN)
        while not self._stop.is_set():
            if self._heartbeat is not None:
                self._heartbeat()
            self._loss.flush(force=False)
            try:
                ready = poller.poll(200)
            except InterruptedError:
                continue
            if not ready or self._stop.is_set():
                continue
            if self._fan >= 0 and any(fd == self._fan for fd, _ in ready):
                try:
                    self._read_fanotify()
                except Exception:  # noqa: BLE001 - a bad record must not kill the sensor
                    self._errors += 1
            if not any(fd == self._fd for fd, _ in ready):
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                self._errors += 1
                time.sleep(0.01)
                continue
            try:
                self._parse(data)
            except Exception:  # noqa: BLE001 - a bad record must not kill the sensor
                self._errors += 1

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            self._received += 1
            name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            self._handle(wd, mask, name)

    def _handle(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self._loss.lost("inotify queue overflow: file events lost")
            return
        with self._lock:
            watch = self._watches.get(wd)
            if watch is None:
                return
            if mask & IN_IGNORED:
                self._watches.pop(wd, None)
                return
            path = os.path.join(watch.path, name) if name else watch.path
            relevant = watch.target or (name in watch.targets)
            if not relevant:
                return
            activity = _activity(mask)
            if activity is None:
                return
            if mask & (IN_CREATE | IN_MOVED_TO) and mask & IN_ISDIR and self._fd >= 0:
                self._add_tree(watch.sandbox_id, Path(path), watch.depth + 1 if watch.target else 0)
            elif mask & (IN_CREATE | IN_MOVED_TO) and not watch.target:
                self._add_tree(watch.sandbox_id, Path(path), 0)
            sandbox_id = watch.sandbox_id
        if activity in ("read", "write") and not self._fresh(path, activity, None):
            return
        self._deliver(sandbox_id, activity, path)

    def _fresh(self, path: str, activity: str, pid: int | None) -> bool:
        """False for a repeat of (path, activity, pid) within ``dedup_s``."""
        now = time.monotonic()
        key = (path, activity, pid)
        last = self._last.get(key)
        if last is not None and now - last < self._dedup_s:
            return False
        self._last[key] = now
        if len(self._last) > 4096:
            self._last = {k: v for k, v in self._last.items() if now - v < self._dedup_s}
        return True

    def _deliver(
        self,
        sandbox_id: str,
        activity: str,
        path: str,
        *,
        pid: int | None = None,
        image: str = "",
        command_line: str = "",
        step: tuple[int | None, str] | None = None,
    ) -> None:
        if step is None:  # no pid: the step only when exactly one is active
            steps = self.lineage.active_steps(sandbox_id)
            step = next(iter(steps)) if len(steps) == 1 else (None, "")
        event = FileEvent(
            ts=time.time(),
            run_id=self._run_id,
            episode_id=self._episode_id,
            step=step[0],
            tool_call_id=step[1],
            sandbox_id=sandbox_id,
            source=self.name,
            pid=pid,
            activity=activity,
            path=path,
            image=image,
            command_line=command_line,
        )
        if self._emit is not None:
            self._emit(event)


def _activity(mask: int) -> str | None:
    # IN_DELETE_SELF / IN_MOVE_SELF are not reported: the parent's watch reports them by name
    if mask & IN_CREATE:
        return "create"
    if mask & IN_DELETE:
        return "delete"
    if mask & (IN_MOVED_FROM | IN_MOVED_TO):
        return "rename"
    if mask & (IN_MODIFY | IN_CLOSE_WRITE):
        return "write"
    if mask & (IN_ACCESS | IN_CLOSE_NOWRITE):
        return "read"
    return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""
