"""Fixtures for the live-runtime tests: real sandboxes, sensors and responses; cleaned up always."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from watchkeeper.sandbox.cgroup import find_groups
from watchkeeper.sandbox.netns import names_for
from watchkeeper.testing import simulants

_MISSING = [t for t in ("bwrap", "nft", "ip", "setpriv") if shutil.which(t) is None]
LIVE_REASON = "needs root" if os.geteuid() != 0 else (f"needs {', '.join(_MISSING)}" if _MISSING else "")


def leftovers(sandbox_id: str) -> list[str]:
    """Every part of ``sandbox_id`` still on the host (netns, veth, nft table, cgroups, state)."""
    names = names_for(sandbox_id)
    found = []
    if Path(names.path).exists():
        found.append(f"netns {names.name}")
    if Path(f"/sys/class/net/{names.host_if}").exists():
        found.append(f"link {names.host_if}")
    table = "wk_" + sandbox_id.replace("-", "_")
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if f"inet {table}\n" in tables + "\n":
        found.append(f"table {table}")
    found += [f"cgroup {p}" for p in find_groups(sandbox_id).paths]
    if Path(f"/run/watchkeeper/{sandbox_id}.json").exists():
        found.append("state file")
    return found


_CREATED: list[str] = []


def _new_id(tag: str = "t") -> str:
    sandbox_id = f"wkt{tag}-{os.getpid():x}{os.urandom(2).hex()}"
    _CREATED.append(sandbox_id)
    return sandbox_id


@pytest.fixture
def new_id() -> Callable[..., str]:
    """Factory of sandbox ids no other test uses (each is checked for leftovers at the end)."""
    return _new_id


@pytest.fixture(scope="module")
def shared_monitor() -> Iterator[object]:
    """One monitor for the whole module (the sandboxes share it); checks cleanup at the end."""
    if LIVE_REASON:
        pytest.skip(LIVE_REASON)
    from watchkeeper.runtime import Monitor
    from watchkeeper.runtime.pipeline import builtin_engine

    builtin_engine()  # compile once, outside the timed tests
    monitor = Monitor.acquire()
    try:
        yield monitor
    finally:
        monitor.release()
        problems = [p for sid in _CREATED for p in leftovers(sid)]
        _CREATED.clear()
        assert not problems, problems


@pytest.fixture
def live(shared_monitor: object) -> None:
    """Skip unless root with bwrap, nft, ip, setpriv; the shared monitor is running."""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A work dir with the simulants copied in under an innocent name."""
    path = tmp_path / "work"
    path.mkdir()
    shutil.copy(simulants.__file__, path / "systemd-helper")
    return path
