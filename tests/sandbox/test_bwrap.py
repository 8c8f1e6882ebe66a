"""The sandbox command line: layers, mount order, quoting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox.bwrap import (
    Bind,
    BwrapOptions,
    bwrap_argv,
    cgroup_entry_argv,
    landlock_argv,
    netns_argv,
    privileges_argv,
)


def test_bwrap_defaults_and_order() -> None:
    argv = bwrap_argv(BwrapOptions(workdir="/tmp/work", seccomp_fd=9, hostname="box"), ["id", "-u"])
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--seccomp") + 1] == "9"
    assert argv[argv.index("--hostname") + 1] == "box"
    assert argv.index("--ro-bind") < argv.index("--tmpfs") < argv.index("--bind")  # /tmp before work
    assert argv[argv.index("--bind") + 1 : argv.index("--bind") + 3] == ["/tmp/work", "/tmp/work"]
    assert argv[argv.index("--chdir") + 1] == "/tmp/work"
    assert argv[-3:] == ["--", "id", "-u"]
    assert "--unshare-user" not in argv and "--unshare-net" not in argv


def test_binds_hide_and_user() -> None:
    opts = BwrapOptions(
        workdir="/w",
        binds=(Bind("/dev/nvidia0", mode="dev", optional=True), Bind("/data", "/mnt/data"),
               Bind("/out", mode="rw")),
        hide=("/root",),
        unshare_user=True,
        chdir="/w/sub",
        tmp_size=1 << 20,
        extra_args=("--dev-bind", "/dev/nvidiactl", "/dev/nvidiactl"),
    )
    argv = bwrap_argv(opts, ["true"])
    text = " ".join(argv)
    assert "--dev-bind-try /dev/nvidia0 /dev/nvidia0" in text
    assert "--ro-bind /data /mnt/data" in text and "--bind /out /out" in text
    assert "--tmpfs /root" in text and "--size 1048576 --tmpfs /tmp" in text
    assert "--unshare-user --disable-userns" in text and "--chdir /w/sub" in text
    assert "--bind /out /out --dev-bind /dev/nvidiactl /dev/nvidiactl --chdir" in text


@pytest.mark.parametrize(("workdir", "command"), [("relative", ["true"]), ("/w", [])])
def test_bad_input(workdir: str, command: list[str]) -> None:
    with pytest.raises(SandboxError):
        bwrap_argv(BwrapOptions(workdir=workdir), command)


def test_prefixes() -> None:
    assert netns_argv("wk-a") == ["ip", "netns", "exec", "wk-a"]
    assert privileges_argv() == ["setpriv", "--no-new-privs", "--"]
    assert privileges_argv(65534)[2:] == ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
    ll = landlock_argv("/usr/bin/python3", "print(1)", ["/w", "/tmp"], [443])
    assert ll[:5] == ["/usr/bin/python3", "-I", "-S", "-c", "print(1)"]
    assert ll[5:] == ["--best-effort", "--rw", "/w", "--rw", "/tmp", "--connect-port", "443", "--"]


def test_cgroup_entry_writes_own_pid_before_exec(tmp_path: Path) -> None:
    odd = tmp_path / "it's a dir"
    odd.mkdir()
    files = [odd / "cgroup.procs", tmp_path / "second"]
    result = subprocess.run(cgroup_entry_argv(files) + ["sh", "-c", "echo $$"], capture_output=True,
                            text=True, check=True)
    pid = result.stdout.strip()
    assert [f.read_text().strip() for f in files] == [pid, pid]  # same process: written, then exec


def test_cgroup_entry_stops_when_a_write_fails(tmp_path: Path) -> None:
    files = [tmp_path / "missing-dir" / "cgroup.procs"]
    result = subprocess.run(cgroup_entry_argv(files) + ["touch", str(tmp_path / "ran")],
                            capture_output=True, check=False)
    assert result.returncode != 0 and not (tmp_path / "ran").exists()
