"""One control group per sandbox, on cgroup v1 hybrid hosts and on pure cgroup v2 hosts.

Layouts (detected from ``/proc/self/mounts``):

* **pure v2**: ``/sys/fs/cgroup`` is cgroup2 with the cpu, memory and pids controllers. Limits go to
  ``cpu.max``, ``memory.max`` (+ ``memory.swap.max = 0``) and ``pids.max``.
* **hybrid**: cpu, cpuacct, memory and pids are bound to v1 hierarchies
  (``/sys/fs/cgroup/{cpu,cpuacct,memory,pids}``) and cgroup2 is mounted at ``/sys/fs/cgroup/unified``
  without those controllers. Limits go to v1 files; the v2 group still gives ``cgroup.kill``,
  ``cgroup.freeze``, ``cgroup.events`` and ``cpu.stat``, so grouping, kill and freeze stay race-free.

Each group is created under the creating process's own group of that hierarchy (read from
``/proc/self/cgroup``), so a nested service cgroup works. All directories are named ``wk-<name>``.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watchkeeper.errors import SandboxError

#: Prefix of every cgroup directory watchkeeper creates.
PREFIX = "wk-"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer")
_LIMIT_CONTROLLERS = ("cpu", "memory", "pids")
_CFS_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one sandbox; ``None`` means unlimited.

    Attributes:
        cpu_quota: CPU time in cores (0.5 = half of one core, 2.0 = two cores).
        memory_bytes: Memory limit (swap is not allowed on top where the host can enforce it).
        pids_max: Maximum number of tasks (processes and threads).
    """

    cpu_quota: float | None = None
    memory_bytes: int | None = None
    pids_max: int | None = None

    def __post_init__(self) -> None:
        if self.cpu_quota is not None and not 0.01 <= self.cpu_quota <= 4096:
            raise SandboxError(f"cpu quota {self.cpu_quota} is out of range (0.01 to 4096 cores)")
        if self.memory_bytes is not None and self.memory_bytes < 4 * 1024 * 1024:
            raise SandboxError(f"memory limit {self.memory_bytes} is below 4 MiB")
        if self.pids_max is not None and self.pids_max < 1:
            raise SandboxError(f"pids limit {self.pids_max} must be at least 1")


@dataclass(frozen=True, slots=True)
class CgroupEvents:
    """Counters of limit hits since the group was created.

    Attributes:
        oom_kills: Processes killed by the OOM killer inside the group.
        memory_max_hits: Times the memory limit was reached (v2 ``max`` / v1 ``failcnt``).
        pids_max_hits: Forks refused because ``pids.max`` was reached.
    """

    oom_kills: int = 0
    memory_max_hits: int = 0
    pids_max_hits: int = 0


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where the cgroup hierarchies of this host are mounted.

    Attributes:
        v2_mount: The cgroup2 mount point, if any.
        v2_controllers: Controllers the cgroup2 root offers (empty on hybrid hosts but hugetlb).
        v1_mounts: v1 controller name -> its mount point (``cpu`` and ``cpuacct`` may share one).
    """

    v2_mount: Path | None
    v2_controllers: frozenset[str] = frozenset()
    v1_mounts: Mapping[str, Path] = field(default_factory=dict)

    @property
    def pure_v2(self) -> bool:
        """True when every limit controller is on cgroup v2."""
        return self.v2_mount is not None and set(_LIMIT_CONTROLLERS) <= self.v2_controllers

    def controller_on_v2(self, controller: str) -> bool:
        """True when ``controller`` is served by the v2 hierarchy here."""
        return controller in self.v2_controllers


def detect_layout(mounts: str = "/proc/self/mounts") -> CgroupLayout:
    """Read the cgroup mounts of this host."""
    v2_mount: Path | None = None
    v1: dict[str, Path] = {}
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError as exc:
        raise SandboxError(f"cannot read {mounts}: {exc}") from exc
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        fstype, point, options = parts[2], _unescape(parts[1]), parts[3].split(",")
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount = Path(point)
        elif fstype == "cgroup":
            for opt in options:
                if opt in _V1_CONTROLLERS and opt not in v1:
                    v1[opt] = Path(point)
    controllers: frozenset[str] = frozenset()
    if v2_mount is not None:
        controllers = frozenset(_read(v2_mount / "cgroup.controllers").split())
    if v2_mount is None and not v1:
        raise SandboxError("no cgroup hierarchy is mounted")
    return CgroupLayout(v2_mount=v2_mount, v2_controllers=controllers, v1_mounts=v1)


def own_cgroups(path: str = "/proc/self/cgroup") -> dict[str, str]:
    """Map each hierarchy of this process to its group path: ``"memory" -> "/a/b"``, ``"" -> v2``."""
    result: dict[str, str] = {}
    for line in _read(Path(path)).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            result[""] = parts[2]
            continue
        for controller in parts[1].split(","):
            result[controller] = parts[2]
    return result


class Cgroup:
    """The control group(s) of one sandbox: one directory per hierarchy, all named ``wk-<name>``."""

    def __init__(self, name: str, v2: Path | None, v1: Mapping[str, Path]) -> None:
        """Wrap existing directories; use :meth:`create` to make new ones."""
        self.name = name
        self.v2_path = v2
        self.v1_paths: dict[str, Path] = dict(v1)

    # ----------------------------------------------------------------- creation

    @classmethod
    def create(
        cls, name: str, limits: Limits | None = None, *, layout: CgroupLayout | None = None
    ) -> Cgroup:
        """Create ``wk-<name>`` in every hierarchy needed and apply ``limits``.

        Raises:
            SandboxError: A directory exists already, a controller is missing, or a write failed.
        """
        if not _NAME_RE.match(name):
            raise SandboxError(f"invalid cgroup name {name!r} (letters, digits, '_', '.', '-')")
        limits = limits or Limits()
        layout = layout or detect_layout()
        own = own_cgroups()
        dirname = PREFIX + name
        created: list[Path] = []
        try:
            v2: Path | None = None
            if layout.v2_mount is not None:
                parent = _v2_parent(layout, own.get("", "/"))
                v2 = parent / dirname
                _mkdir(v2, created)
            v1: dict[str, Path] = {}
            wanted = [c for c in ("cpu", "cpuacct", "memory", "pids") if not layout.controller_on_v2(c)]
            if v2 is None or not (v2 / "cgroup.freeze").exists():
                wanted.append("freezer")
            by_mount: dict[Path, Path] = {}
            for controller in wanted:
                mount = layout.v1_mounts.get(controller)
                if mount is None:
                    continue
                if mount not in by_mount:
                    by_mount[mount] = mount / own.get(controller, "/").lstrip("/") / dirname
                    _mkdir(by_mount[mount], created)
                v1[controller] = by_mount[mount]
            group = cls(name, v2, v1)
            group._apply(limits, layout)
        except BaseException:
            for path in reversed(created):
                _rmdir_quiet(path)
            raise
        return group

    def _apply(self, limits: Limits, layout: CgroupLayout) -> None:
        if limits.cpu_quota is not None:
            quota = max(1000, int(limits.cpu_quota * _CFS_PERIOD_US))
            if layout.controller_on_v2("cpu") and self.v2_path is not None:
                _write(self.v2_path / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
            else:
                cpu = self._v1("cpu", "cpu quota")
                _write(cpu / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
        if limits.memory_bytes is not None:
            if layout.controller_on_v2("memory") and self.v2_path is not None:
                _write(self.v2_path / "memory.max", str(limits.memory_bytes))
                if (self.v2_path / "memory.swap.max").exists():
                    _write(self.v2_path / "memory.swap.max", "0")
            else:
                mem = self._v1("memory", "memory limit")
                _write(mem / "memory.limit_in_bytes", str(limits.memory_bytes))
                if (mem / "memory.memsw.limit_in_bytes").exists():
                    _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        if limits.pids_max is not None:
            if layout.controller_on_v2("pids") and self.v2_path is not None:
                _write(self.v2_path / "pids.max", str(limits.pids_max))
            else:
                _write(self._v1("pids", "pids limit") / "pids.max", str(limits.pids_max))

    def _v1(self, controller: str, what: str) -> Path:
        path = self.v1_paths.get(controller)
        if path is None:
            raise SandboxError(f"cannot set the {what}: no {controller} cgroup controller on this host")
        return path

    # ----------------------------------------------------------------- state

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every directory of this group (v2 first), without duplicates."""
        seen: list[Path] = []
        for path in ([self.v2_path] if self.v2_path else []) + list(self.v1_paths.values()):
            if path not in seen:
                seen.append(path)
        return tuple(seen)

    @property
    def procs_files(self) -> tuple[Path, ...]:
        """The ``cgroup.procs`` file of every directory: a new process writes its pid to each."""
        return tuple(path / "cgroup.procs" for path in self.paths)

    @property
    def inode(self) -> int | None:
        """The v2 cgroup id (directory inode), as eBPF's ``bpf_get_current_cgroup_id`` reports it."""
        if self.v2_path is None:
            return None
        try:
            return os.stat(self.v2_path).st_ino
        except OSError:
            return None

    def exists(self) -> bool:
        """True while any directory of the group exists."""
        return any(path.exists() for path in self.paths)

    def add_pid(self, pid: int) -> None:
        """Move process ``pid`` into the group in every hierarchy (its future children follow)."""
        for procs in self.procs_files:
            _write(procs, str(pid))

    def pids(self) -> list[int]:
        """Every process in the group (global pids), sorted."""
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                text = procs.read_text()
            except OSError:
                continue
            found.update(int(tok) for tok in text.split() if tok.isdigit())
        return sorted(found)

    def populated(self) -> bool:
        """True while a live process is in the group."""
        if self.v2_path is not None:
            events = _kv(self.v2_path / "cgroup.events")
            if "populated" in events:
                return events["populated"] != 0
        return bool(self.pids())

    def cpu_usage_ns(self) -> int:
        """CPU time used by the group so far, in nanoseconds."""
        if self.v2_path is not None:
            stat = _kv(self.v2_path / "cpu.stat")
            if "usage_usec" in stat:
                return stat["usage_usec"] * 1000
        acct = self.v1_paths.get("cpuacct")
        if acct is not None:
            text = _read(acct / "cpuacct.usage").strip()
            return int(text) if text.isdigit() else 0
        return 0

    def memory_bytes(self) -> int:
        """Memory charged to the group now (page cache included)."""
        if self.v2_path is not None and (self.v2_path / "memory.current").exists():
            text = _read(self.v2_path / "memory.current").strip()
            return int(text) if text.isdigit() else 0
        mem = self.v1_paths.get("memory")
        if mem is not None:
            text = _read(mem / "memory.usage_in_bytes").strip()
            return int(text) if text.isdigit() else 0
        return 0

    def events(self) -> CgroupEvents:
        """OOM kills and limit hits so far."""
        oom = mem_max = pids_max = 0
        v2 = self.v2_path
        if v2 is not None and (v2 / "memory.events").exists():
            ev = _kv(v2 / "memory.events")
            oom, mem_max = ev.get("oom_kill", 0), ev.get("max", 0)
        elif (mem := self.v1_paths.get("memory")) is not None:
            oom = _kv(mem / "memory.oom_control").get("oom_kill", 0)
            counts = [_read(mem / f).strip() for f in ("memory.failcnt", "memory.memsw.failcnt")]
            mem_max = max((int(t) for t in counts if t.isdigit()), default=0)
        if v2 is not None and (v2 / "pids.events").exists():
            pids_max = _kv(v2 / "pids.events").get("max", 0)
        elif (pids := self.v1_paths.get("pids")) is not None:
            pids_max = _kv(pids / "pids.events").get("max", 0)
        return CgroupEvents(oom_kills=oom, memory_max_hits=mem_max, pids_max_hits=pids_max)

    # ----------------------------------------------------------------- control

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process of the group (they stay in memory); returns once frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        """Let a frozen group run again."""
        self._set_frozen(False, timeout)

    def is_frozen(self) -> bool:
        """True when the group is frozen."""
        if self.v2_path is not None and (self.v2_path / "cgroup.freeze").exists():
            return _kv(self.v2_path / "cgroup.events").get("frozen", 0) == 1
        freezer = self.v1_paths.get("freezer")
        if freezer is not None:
            return _read(freezer / "freezer.state").strip() == "FROZEN"
        return False

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        if self.v2_path is not None and (self.v2_path / "cgroup.freeze").exists():
            _write(self.v2_path / "cgroup.freeze", "1" if frozen else "0")
        elif (freezer := self.v1_paths.get("freezer")) is not None:
            _write(freezer / "freezer.state", "FROZEN" if frozen else "THAWED")
        else:
            raise SandboxError("this host has no cgroup freezer")
        deadline = time.monotonic() + timeout
        while self.is_frozen() != frozen:
            if time.monotonic() > deadline:
                raise SandboxError(f"cgroup {self.name} did not {'freeze' if frozen else 'thaw'}")
            time.sleep(0.002)

    def kill(self, timeout: float = 5.0, *, method: Literal["auto", "signals"] = "auto") -> None:
        """SIGKILL every process in the group, including ones forked while the kill runs.

        Uses ``cgroup.kill`` (Linux 5.14+), which the kernel applies atomically to the whole group;
        otherwise (or with ``method="signals"``) freezes the group, signals every member, thaws
        and repeats until it is empty.

        Raises:
            SandboxError: Processes were still alive after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        v2 = self.v2_path
        if method == "auto" and v2 is not None and (v2 / "cgroup.kill").exists():
            try:
                _write(v2 / "cgroup.kill", "1")
            except SandboxError:
                if v2.exists():
                    raise
                return
        else:
            can_freeze = (v2 is not None and (v2 / "cgroup.freeze").exists()) or (
                "freezer" in self.v1_paths
            )
            while self.pids() and time.monotonic() < deadline:
                if can_freeze:
                    self._set_frozen(True, max(0.1, deadline - time.monotonic()))
                for pid in self.pids():
                    _sigkill(pid)
                if can_freeze:
                    self._set_frozen(False, max(0.1, deadline - time.monotonic()))
                time.sleep(0.002)
        while self.populated():
            if time.monotonic() > deadline:
                raise SandboxError(f"cgroup {self.name}: processes {self.pids()} survived the kill")
            time.sleep(0.002)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left, wait until the group is empty, then remove its directories.

        Idempotent: missing directories are skipped.
        """
        if not self.exists():
            return
        if self.populated():
            self.kill(timeout)
        deadline = time.monotonic() + timeout
        for path in reversed(self.paths):
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise SandboxError(f"cannot remove cgroup {path}: {exc.strerror}") from exc
                    time.sleep(0.005)


def find_groups(name: str, layout: CgroupLayout | None = None) -> Cgroup:
    """Return the (possibly partial) group ``wk-<name>`` under this process's own hierarchies."""
    layout = layout or detect_layout()
    own = own_cgroups()
    dirname = PREFIX + name
    v2: Path | None = None
    if layout.v2_mount is not None:
        for candidate in (layout.v2_mount / own.get("", "/").lstrip("/"), layout.v2_mount):
            if (candidate / dirname).is_dir():
                v2 = candidate / dirname
                break
    v1: dict[str, Path] = {}
    for controller, mount in layout.v1_mounts.items():
        path = mount / own.get(controller, "/").lstrip("/") / dirname
        if path.is_dir():
            v1[controller] = path
    return Cgroup(name, v2, v1)


# --------------------------------------------------------------------- helpers


def _v2_parent(layout: CgroupLayout, own_path: str) -> Path:
    """Pick the v2 directory to create sandboxes under and enable the controllers we need there.

    The own group is preferred; when controllers cannot be enabled there (v2's "no internal
    processes" rule), the hierarchy root is used.
    """
    assert layout.v2_mount is not None
    needed = [c for c in _LIMIT_CONTROLLERS if c in layout.v2_controllers]
    candidates = [layout.v2_mount / own_path.lstrip("/"), layout.v2_mount]
    errors: list[str] = []
    for parent in dict.fromkeys(candidates):
        if not needed:
            return parent
        available = set(_read(parent / "cgroup.controllers").split())
        if not set(needed) <= available:
            errors.append(f"{parent}: controllers {sorted(set(needed) - available)} not delegated")
            continue
        enabled = set(_read(parent / "cgroup.subtree_control").split())
        try:
            for controller in needed:
                if controller not in enabled:
                    _write_raw(parent / "cgroup.subtree_control", f"+{controller}")
        except OSError as exc:
            errors.append(f"{parent}: {exc.strerror}")
            continue
        return parent
    raise SandboxError(
        "cannot enable the cpu, memory and pids controllers for sandboxes: "
        + "; ".join(errors)
        + " (run watchkeeper in a cgroup whose controllers can be delegated)"
    )


def _mkdir(path: Path, created: list[Path]) -> None:
    try:
        path.mkdir()
    except FileExistsError as exc:
        raise SandboxError(
            f"cgroup {path} exists already (a leftover? run `watchkeeper cleanup`)"
        ) from exc
    except OSError as exc:
        raise SandboxError(f"cannot create cgroup {path}: {exc.strerror}") from exc
    created.append(path)


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _write_raw(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write(path: Path, value: str) -> None:
    try:
        _write_raw(path, value)
    except OSError as exc:
        raise SandboxError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _kv(path: Path) -> dict[str, int]:
    """Parse ``key value`` lines (cgroup.events, cpu.stat, memory.events...)."""
    result: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            result[parts[0]] = int(parts[1])
    return result


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
