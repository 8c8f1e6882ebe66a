"""Fixtures for the live-sandbox tests: real namespaces, nftables and cgroups, cleaned up always."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.sandbox import SandboxHost, SandboxSpec
from watchkeeper.sandbox.cgroup import find_groups
from watchkeeper.sandbox.netns import names_for

_MISSING = [tool for tool in ("bwrap", "nft", "ip", "setpriv") if shutil.which(tool) is None]
LIVE_REASON = (
    "needs root" if os.geteuid() != 0 else f"needs {', '.join(_MISSING)}" if _MISSING else ""
)

@pytest.fixture
def live() -> None:
    """Skip unless this host can run live sandboxes (root, bwrap, nft, ip, setpriv)."""
    if LIVE_REASON:
        pytest.skip(LIVE_REASON)


@pytest.fixture
def new_id() -> Callable[[str], str]:
    """Factory of unique sandbox ids."""
    return unique_id


@pytest.fixture
def leftover_parts() -> Callable[[str], list[str]]:
    """Function listing what is left of a sandbox id on the host."""
    return leftovers


def unique_id(tag: str) -> str:
    """A sandbox id no other test (or helper) uses: ``t<tag>-<pid hex><random>``."""
    return f"t{tag}-{os.getpid():x}{os.urandom(2).hex()}"


def leftovers(sandbox_id: str) -> list[str]:
    """Every part of ``sandbox_id`` that still exists on the host."""
    names = names_for(sandbox_id)
    found = []
    if Path(names.path).exists():
        found.append(f"netns {names.name}")
    if Path(f"/sys/class/net/{names.host_if}").exists():
        found.append(f"link {names.host_if}")
    table = "wk_" + sandbox_id.replace("-", "_")
    listing = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, check=False
    ).stdout
    if f"inet {table}\n" in listing + "\n":
        found.append(f"table {table}")
    found += [f"cgroup {path}" for path in find_groups(sandbox_id).paths]
    if Path(f"/run/watchkeeper/{sandbox_id}.json").exists():
        found.append("state file")
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A work dir outside /tmp's tmpfs view (bound at the same path inside)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def make_box(live: None, workdir: Path) -> Iterator[Callable[..., SandboxHost]]:
    """Factory: a set-up SandboxHost; every one is torn down and checked for leftovers."""
    made: list[SandboxHost] = []

    def factory(tag: str = "b", **kwargs: Any) -> SandboxHost:
        on_dns = kwargs.pop("on_dns_query", None)
        spec = SandboxSpec(id=unique_id(tag), workdir=str(kwargs.pop("workdir", workdir)), **kwargs)
        box = SandboxHost(spec, on_dns_query=on_dns)
        made.append(box)
        box.setup()
        return box

    try:
        yield factory
    finally:
        problems = []
        for box in made:
            try:
                box.teardown()
            except Exception as exc:  # report, but keep cleaning
                problems.append(str(exc))
            problems += leftovers(box.spec.id)
        assert not problems, problems
