"""Cgroup: layout detection (from files), then real groups: limits, freeze, kill, remove."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox.bwrap import cgroup_entry_argv
from watchkeeper.sandbox.cgroup import (
    Cgroup,
    CgroupLayout,
    Limits,
    _v2_parent,
    detect_layout,
    find_groups,
    own_cgroups,
)

HYBRID_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_detect_layout_hybrid(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(HYBRID_MOUNTS)
    layout = detect_layout(str(mounts))
    assert layout.v2_mount == Path("/sys/fs/cgroup/unified")
    assert layout.v1_mounts["cpu"] == layout.v1_mounts["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert layout.v1_mounts["memory"] == Path("/sys/fs/cgroup/memory")
    assert not layout.pure_v2


def test_detect_layout_without_cgroups(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n")
    with pytest.raises(SandboxError, match="no cgroup"):
        detect_layout(str(mounts))


def test_own_cgroups_parses_v1_and_v2(tmp_path: Path) -> None:
    path = tmp_path / "cgroup"
    path.write_text("4:memory:/svc/a\n2:cpu,cpuacct:/\n0::/user.slice/x.scope\ngarbage\n")
    own = own_cgroups(str(path))
    assert own == {"memory": "/svc/a", "cpu": "/", "cpuacct": "/", "": "/user.slice/x.scope"}


@pytest.mark.parametrize(
    "kwargs", [{"cpu_quota": 0.0}, {"memory_bytes": 1024}, {"pids_max": 0}]
)
def test_limits_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(SandboxError):
        Limits(**kwargs)  # type: ignore[arg-type]


def _fake_v2_root(tmp_path: Path, controllers: str) -> CgroupLayout:
    """A directory shaped like a pure-v2 root (plain files: this host's limits live on v1)."""
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return CgroupLayout(v2_mount=tmp_path, v2_controllers=frozenset(controllers.split()))


def test_pure_v2_limits_go_to_v2_files(tmp_path: Path) -> None:
    layout = _fake_v2_root(tmp_path, "cpu io memory pids")
    assert layout.pure_v2
    assert _v2_parent(layout, "/") == tmp_path
    assert (tmp_path / "cgroup.subtree_control").read_text().startswith("+")  # enabled there
    group_dir = tmp_path / "wk-v2"
    group_dir.mkdir()
    for name in ("cpu.max", "memory.max", "memory.swap.max", "pids.max"):
        (group_dir / name).write_text("")  # cgroupfs files exist as soon as the dir does
    g = Cgroup("v2", group_dir, {})
    g._apply(Limits(cpu_quota=0.5, memory_bytes=64 << 20, pids_max=10), layout)
    assert (group_dir / "cpu.max").read_text() == "50000 100000"
    assert (group_dir / "memory.max").read_text() == str(64 << 20)
    assert (group_dir / "memory.swap.max").read_text() == "0"
    assert (group_dir / "pids.max").read_text() == "10"


def test_pure_v2_without_delegated_controllers(tmp_path: Path) -> None:
    layout = _fake_v2_root(tmp_path, "cpu io memory pids")
    (tmp_path / "cgroup.controllers").write_text("io\n")  # root lost them: nothing to enable
    with pytest.raises(SandboxError, match="cannot enable"):
        Cgroup.create("v2", layout=layout)
    assert not (tmp_path / "wk-v2").exists()


# ------------------------------------------------------------------ real groups


@pytest.fixture
def group(live: None, new_id: object) -> Iterator[object]:
    """Factory of real groups; all are removed (and checked gone) afterwards."""
    made: list[Cgroup] = []

    def factory(limits: Limits | None = None) -> Cgroup:
        assert callable(new_id)
        g = Cgroup.create(new_id("cg"), limits)
        made.append(g)
        return g

    try:
        yield factory
    finally:
        for g in made:
            g.remove()
            assert not g.exists()
            assert not find_groups(g.name).paths


def _spawn(g: Cgroup, code: str) -> subprocess.Popen[bytes]:
    """Start python running ``code`` inside ``g`` (joined before exec, as the sandbox does)."""
    argv = cgroup_entry_argv(g.procs_files) + [sys.executable, "-c", code]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


pytestmark = pytest.mark.root


def test_create_names_and_remove_idempotent(group: object) -> None:
    assert callable(group)
    g = group()
    assert all(p.name == f"wk-{g.name}" for p in g.paths)
    assert g.exists() and not g.populated() and g.pids() == []
    assert g.inode is None or g.inode > 0
    with pytest.raises(SandboxError, match="exists already"):
        Cgroup.create(g.name)
    g.remove()
    g.remove()
    assert not g.exists()


def test_pids_limit_refuses_forks(group: object) -> None:
    assert callable(group)
    g = group(Limits(pids_max=12))
    code = (
        "import os,time\nok=fail=0\n"
        "for _ in range(30):\n"
        "    try:\n        pid=os.fork()\n    except OSError:\n        fail+=1; continue\n"
        "    if pid==0:\n        os.close(1); os.close(2); time.sleep(3); os._exit(0)\n    ok+=1\n"
        "print(ok, fail, flush=True)\n"
    )
    proc = _spawn(g, code)
    out, _ = proc.communicate(timeout=20)
    ok, fail = map(int, out.split())
    assert ok <= 11 and fail >= 19
    assert g.events().pids_max_hits >= 19
    g.kill()


def test_memory_limit_kills(group: object) -> None:
    assert callable(group)
    g = group(Limits(memory_bytes=48 << 20))
    proc = _spawn(g, "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096]); print('alive')")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == -9 and b"alive" not in out
    assert g.events().oom_kills >= 1


def test_cpu_quota_throttles(group: object) -> None:
    assert callable(group)
    g = group(Limits(cpu_quota=0.2))
    before = g.cpu_usage_ns()
    start = time.monotonic()
    proc = _spawn(g, "import time\nend=time.time()+1.0\nwhile time.time()<end: pass\n")
    proc.communicate(timeout=20)
    wall = time.monotonic() - start
    used = (g.cpu_usage_ns() - before) / 1e9
    # 0.2 cores over about a second of wall time (python startup included)
    assert 0.05 < used < 0.2 * wall + 0.15, (used, wall)


def test_freeze_and_thaw(group: object) -> None:
    assert callable(group)
    g = group()
    proc = _spawn(g, "while True: pass")
    deadline = time.monotonic() + 5
    while not g.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    g.freeze()
    assert g.is_frozen()
    frozen_at = g.cpu_usage_ns()
    time.sleep(0.2)
    assert g.cpu_usage_ns() - frozen_at < 5_000_000  # < 5 ms while frozen
    g.thaw()
    assert not g.is_frozen()
    time.sleep(0.2)
    assert g.cpu_usage_ns() - frozen_at > 50_000_000
    g.kill()
    assert proc.wait(5) == -9


FORK_LOOP = "import os,time\nwhile True:\n    if os.fork()==0:\n        time.sleep(30); os._exit(0)\n    time.sleep(0.001)\n"
DAEMON = (
    "import os,time,sys\n"
    "if os.fork(): sys.exit(0)\n"
    "os.setsid()\n"
    "if os.fork(): os._exit(0)\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.parametrize("method", ["auto", "signals"])
def test_kill_fork_loop_and_escaped_daemon(group: object, method: str) -> None:
    assert callable(group)
    g = group(Limits(pids_max=400))
    daemon = _spawn(g, DAEMON)
    daemon_pid = int(daemon.stdout.readline()) if daemon.stdout else 0
    daemon.wait(5)  # the daemon was re-parented away from us: only the cgroup still holds it
    loop = _spawn(g, FORK_LOOP)
    time.sleep(0.3)
    assert daemon_pid in g.pids() and len(g.pids()) > 5
    g.kill(method=method)  # type: ignore[arg-type]
    assert g.pids() == [] and not g.populated()
    assert loop.wait(5) == -9
    assert not _running(daemon_pid)
    g.remove()


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
