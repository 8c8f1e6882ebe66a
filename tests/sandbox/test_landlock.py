"""Landlock: write rules and TCP connect rules applied to a child process."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.sandbox import landlock

HELPER = landlock.__file__
ABI = landlock.abi_version()
needs_landlock = pytest.mark.skipif(ABI < 1, reason="kernel without Landlock")


def run_helper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-S", HELPER, *args], capture_output=True,
                          text=True, timeout=30, check=False)


def test_write_access_grows_with_abi() -> None:
    assert landlock.write_access(1) & landlock.FS_REFER == 0
    assert landlock.write_access(2) & landlock.FS_REFER
    assert landlock.write_access(3) & landlock.FS_TRUNCATE
    assert landlock.write_access(7) & landlock.FS_READ_FILE == 0  # reads stay open


@pytest.mark.parametrize("args", [[], ["--rw"], ["--rw", "/tmp"], ["--connect-port", "x", "--", "true"],
                                  ["--bogus", "--", "true"]])
def test_usage_errors(args: list[str]) -> None:
    result = run_helper(*args)
    assert result.returncode == 126


@needs_landlock
def test_writes_only_beneath_allowed_paths(tmp_path: Path) -> None:
    allowed, denied = tmp_path / "ok", tmp_path / "no"
    allowed.mkdir()
    denied.mkdir()
    script = (
        f"echo a > {allowed}/f && echo wrote-allowed; "
        f"echo b > {denied}/f 2>/dev/null || echo denied-write; "
        f"mkdir {denied}/d 2>/dev/null || echo denied-mkdir; "
        "cat /etc/hostname > /dev/null && echo read-ok"
    )
    result = run_helper("--rw", str(allowed), "--rw", "/dev/null", "--", "sh", "-c", script)
    assert result.stdout.split() == ["wrote-allowed", "denied-write", "denied-mkdir", "read-ok"]
    assert not (denied / "f").exists() and (allowed / "f").read_text() == "a\n"
    # the parent is not restricted
    (denied / "parent").write_text("x")


@pytest.mark.skipif(ABI < 4, reason="Landlock ABI < 4: no TCP rules")
def test_connect_ports(tmp_path: Path) -> None:
    with socket.socket() as good, socket.socket() as bad:
        good.bind(("127.0.0.1", 0))
        bad.bind(("127.0.0.1", 0))
        good.listen(1)
        bad.listen(1)
        gport, bport = good.getsockname()[1], bad.getsockname()[1]
        code = (
            "import socket,sys\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        socket.create_connection(('127.0.0.1', int(p)), 2); print('ok')\n"
            "    except OSError as e:\n        print(type(e).__name__)\n"
        )
        result = run_helper("--rw", str(tmp_path), "--connect-port", str(gport), "--",
                            sys.executable, "-c", code, str(gport), str(bport))
    assert result.stdout.split() == ["ok", "PermissionError"]


def test_best_effort_runs_the_command() -> None:
    result = run_helper("--best-effort", "--rw", "/tmp", "--", "sh", "-c", "echo ran")
    assert result.stdout == "ran\n"


def test_missing_command_is_127() -> None:
    result = run_helper("--best-effort", "--", "/nonexistent/wk-cmd")
    assert result.returncode == 127 and "cannot run" in result.stderr
