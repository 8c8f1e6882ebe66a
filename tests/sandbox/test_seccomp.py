"""Seccomp: the BPF program's shape, then the filter loaded in a child and inside a sandbox."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import SandboxHost
from watchkeeper.sandbox.seccomp import (
    AUDIT_ARCH,
    DENIED,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    SYSCALLS,
    build_filter,
    filter_fd,
    native_arch,
)

PY = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


def decode(data: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("=HBBI", data, i) for i in range(0, len(data), 8)]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_filter_shape(arch: str) -> None:
    prog = decode(build_filter(arch))
    assert prog[0] == (0x20, 0, 0, 4)  # load arch
    assert prog[1][0] == 0x15 and prog[1][3] == AUDIT_ARCH[arch]
    assert prog[-1] == (0x06, 0, 0, RET_KILL_PROCESS)
    rets = {k for code, _, _, k in prog if code == 0x06}
    assert {RET_ALLOW, RET_ERRNO | 1, RET_ERRNO | 38, RET_KILL_PROCESS} == rets
    compared = {k for code, _, _, k in prog if code == 0x15}
    for name in DENIED:
        if name in SYSCALLS[arch]:
            assert SYSCALLS[arch][name] in compared, name
    for index, (code, jt, jf, _k) in enumerate(prog):  # every jump lands inside the program
        if code in (0x15, 0x35, 0x45):
            assert index + 1 + max(jt, jf) < len(prog)


def test_x32_syscalls_are_killed_on_x86_64() -> None:
    prog = decode(build_filter("x86_64"))
    assert (0x35, len(prog) - 1 - 4, 0, 0x40000000) == prog[3]


def test_unknown_arch_and_syscall() -> None:
    with pytest.raises(SandboxError, match="unsupported architecture"):
        build_filter("mips")
    with pytest.raises(SandboxError, match="unknown syscalls"):
        build_filter("x86_64", deny=["no_such_call"])


def test_filter_fd_holds_the_program() -> None:
    data = build_filter()
    fd = filter_fd(data)
    try:
        with open(fd, "rb", closefd=False) as handle:
            assert handle.read() == data
    finally:
        os.close(fd)


PROBE = r"""
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
x86 = os.uname().machine == "x86_64"
def err(result):
    return "ok" if result != -1 else errno.errorcode[ctypes.get_errno()]
def traceme():  # in a child, so a traced process never lingers
    pid = os.fork()
    if pid == 0:
        os._exit(0 if libc.ptrace(0, 0, None, None) == 0 else ctypes.get_errno())
    code = os.waitpid(pid, 0)[1] >> 8
    if code:
        ctypes.set_errno(code)
    return -1 if code else 0
checks = {
    "ptrace": traceme,  # PTRACE_TRACEME
    "unshare": lambda: libc.unshare(0x10000000),  # CLONE_NEWUSER
    "mount": lambda: libc.mount(b"none", b"/mnt", b"tmpfs", 0, None),
    # raw clone asking for a new user namespace (would fork if allowed: only run when filtered)
    "clone_newns": lambda: libc.syscall(56 if x86 else 220, 0x10000000 | 17, 0, 0, 0, 0),
    "keyctl": lambda: libc.syscall(250 if x86 else 219, 0, 0, 0, 0, 0),
}
out = {name: err(checks[name]()) for name in sys.argv[1:]}
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitpid(pid, 0)[1] >> 8
print(json.dumps(out))
"""
ALL = ["ptrace", "unshare", "mount", "clone_newns", "keyctl"]


@pytest.mark.skipif(native_arch() not in SYSCALLS, reason="architecture without a syscall table")
def test_filter_in_a_child_process() -> None:
    code = (
        "import sys; sys.path[:0] = " + repr(sys.path) + "\n"
        "from watchkeeper.sandbox.seccomp import build_filter, load\nload(build_filter())\n"
        + PROBE
    )
    out = json.loads(subprocess.run([sys.executable, "-c", code, *ALL], capture_output=True,
                                    check=True, timeout=30).stdout)
    assert out == {"ptrace": "EPERM", "unshare": "EPERM", "mount": "EPERM",
                   "clone_newns": "EPERM", "keyctl": "EPERM", "fork": 7}


@pytest.mark.root
def test_denials_inside_the_sandbox(make_box: Callable[..., SandboxHost]) -> None:
    filtered = make_box("sc", nflog_group=None)
    result = filtered.run([PY, "-c", PROBE, *ALL], timeout=30)
    out = json.loads(result.stdout)
    assert out == {"ptrace": "EPERM", "unshare": "EPERM", "mount": "EPERM",
                   "clone_newns": "EPERM", "keyctl": "EPERM", "fork": 7}
    tools = filtered.run(["sh", "-c", "unshare -U true; echo $?; mount -t tmpfs none /mnt; echo $?"])
    assert tools.stdout.split() == [b"1", b"32"]
    # without the filter the same probe gets further: the filter is what denies it
    plain = make_box("sn", seccomp=False, nflog_group=None)
    out = json.loads(plain.run([PY, "-c", PROBE, "ptrace", "unshare"], timeout=30).stdout)
    assert out["ptrace"] == "ok" and out["unshare"] == "ok"
