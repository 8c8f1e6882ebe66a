"""A seccomp filter for sandboxed commands, written as raw classic BPF (no libseccomp).

The filter checks the architecture first (anything but the host's native one is killed, which also
stops i386 and x32 syscalls from slipping past the numbers below), then returns EPERM for the
syscalls in :data:`DENIED` and allows everything else. Two syscalls are checked by argument:
``clone`` fails with EPERM when it asks for a new namespace, and ``personality`` only accepts the
values ordinary programs use. ``clone3`` returns ENOSYS so libc falls back to ``clone``, whose
flags the filter can see.

:func:`build_filter` returns the ``struct sock_filter`` array that ``bwrap --seccomp FD`` reads;
:func:`filter_fd` puts it in a memfd to pass to bwrap.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from collections.abc import Mapping, Sequence

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import _cmd

#: Syscalls that fail with EPERM inside the sandbox, and why.
DENIED: Mapping[str, str] = {
    "ptrace": "inspect or control other processes",
    "process_vm_readv": "read another process's memory",
    "process_vm_writev": "write another process's memory",
    "mount": "change the filesystem view",
    "umount2": "change the filesystem view",
    "pivot_root": "change the filesystem view",
    "open_tree": "new mount API",
    "move_mount": "new mount API",
    "fsopen": "new mount API",
    "fsconfig": "new mount API",
    "fsmount": "new mount API",
    "fspick": "new mount API",
    "mount_setattr": "new mount API",
    "unshare": "create namespaces (escape the pid/net/mount view)",
    "setns": "join other namespaces",
    "bpf": "load eBPF programs",
    "perf_event_open": "kernel and hardware performance probes",
    "userfaultfd": "a common kernel-exploit primitive",
    "kexec_load": "replace the running kernel",
    "kexec_file_load": "replace the running kernel",
    "init_module": "load kernel modules",
    "finit_module": "load kernel modules",
    "delete_module": "unload kernel modules",
    "keyctl": "kernel keyrings are not namespaced",
    "add_key": "kernel keyrings are not namespaced",
    "request_key": "kernel keyrings are not namespaced",
    "open_by_handle_at": "open files by handle, bypassing the mount view",
    "name_to_handle_at": "file handles (pairs with open_by_handle_at)",
    "swapon": "host swap configuration",
    "swapoff": "host swap configuration",
    "reboot": "host power state",
    "syslog": "read or clear the kernel log",
    "acct": "host process accounting",
    "quotactl": "host disk quotas",
    "quotactl_fd": "host disk quotas",
    "lookup_dcookie": "kernel profiling internals",
    "io_uring_setup": "io_uring runs operations the filter cannot see",
    "io_uring_enter": "io_uring runs operations the filter cannot see",
    "io_uring_register": "io_uring runs operations the filter cannot see",
    "iopl": "raw I/O port access (x86_64 only)",
    "ioperm": "raw I/O port access (x86_64 only)",
}

#: Syscall numbers per architecture (``platform.machine()`` name).
SYSCALLS: Mapping[str, Mapping[str, int]] = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165,
        "umount2": 166, "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "unshare": 272,
        "setns": 308, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "keyctl": 250, "add_key": 248, "request_key": 249,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "swapon": 167, "swapoff": 168,
        "reboot": 169, "syslog": 103, "acct": 163, "quotactl": 179, "quotactl_fd": 443,
        "lookup_dcookie": 212, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "iopl": 172, "ioperm": 173,
        "clone": 56, "clone3": 435, "personality": 135,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "unshare": 97,
        "setns": 268, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "keyctl": 219, "add_key": 217, "request_key": 218,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "swapon": 224, "swapoff": 225,
        "reboot": 142, "syslog": 116, "acct": 89, "quotactl": 60, "quotactl_fd": 443,
        "lookup_dcookie": 18, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427,
        "clone": 220, "clone3": 435, "personality": 92,
    },
}

AUDIT_ARCH: Mapping[str, int] = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}

# struct seccomp_data offsets and return values
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
_X32_SYSCALL_BIT = 0x40000000
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | (
    0x40000000 | 0x00000080
)
#: personality() values ordinary programs use (PER_LINUX, PER_LINUX32, ADDR_NO_RANDOMIZE
#: variants and the 0xffffffff query).
PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_LD_W_ABS, _JEQ, _JGE, _JSET, _JA, _RET = 0x20, 0x15, 0x35, 0x45, 0x05, 0x06

Insn = tuple[int, int | str, int | str, int]


def native_arch() -> str:
    """The host architecture name used as a key of :data:`SYSCALLS`."""
    machine = platform.machine().lower()
    return _MACHINE_ALIASES.get(machine, machine)


def build_filter(arch: str | None = None, *, deny: Sequence[str] | None = None) -> bytes:
    """Return the filter as packed ``struct sock_filter`` entries (native byte order).

    Args:
        arch: ``"x86_64"`` or ``"aarch64"``; the host's by default.
        deny: Syscall names to fail with EPERM; :data:`DENIED` by default. Names the
            architecture lacks (``iopl`` on aarch64) are skipped.

    Raises:
        SandboxError: Unsupported architecture or unknown syscall name.
    """
    arch = arch or native_arch()
    if arch not in SYSCALLS:
        raise SandboxError(f"seccomp: unsupported architecture {arch!r} (x86_64 and aarch64 only)")
    table = SYSCALLS[arch]
    names = list(DENIED) if deny is None else list(deny)
    unknown = [n for n in names if n not in DENIED and n not in table]
    if unknown:
        raise SandboxError(f"seccomp: unknown syscalls {unknown}")
    numbers = sorted({table[n] for n in names if n in table})
    prog: list[Insn] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ, 0, "kill", AUDIT_ARCH[arch]),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if arch == "x86_64":
        prog.append((_JGE, "kill", 0, _X32_SYSCALL_BIT))
    prog += [(_JEQ, "eperm", 0, nr) for nr in numbers]
    prog += [
        (_JEQ, "enosys", 0, table["clone3"]),
        (_JEQ, "clone", 0, table["clone"]),
        (_JEQ, "personality", 0, table["personality"]),
        (_RET, 0, 0, RET_ALLOW),
    ]
    labels: dict[str, int] = {}
    labels["clone"] = len(prog)
    prog += [(_LD_W_ABS, 0, 0, _OFF_ARG0), (_JSET, "eperm", "allow", CLONE_NEW_MASK)]
    labels["personality"] = len(prog)
    prog.append((_LD_W_ABS, 0, 0, _OFF_ARG0))
    prog += [(_JEQ, "allow", 0, value) for value in PERSONALITY_ALLOWED]
    prog.append((_JA, 0, 0, 0))  # patched below to jump to eperm
    ja_index = len(prog) - 1
    labels["allow"] = len(prog)
    prog.append((_RET, 0, 0, RET_ALLOW))
    labels["eperm"] = len(prog)
    prog.append((_RET, 0, 0, RET_ERRNO | errno.EPERM))
    labels["enosys"] = len(prog)
    prog.append((_RET, 0, 0, RET_ERRNO | errno.ENOSYS))
    labels["kill"] = len(prog)
    prog.append((_RET, 0, 0, RET_KILL_PROCESS))
    prog[ja_index] = (_JA, 0, 0, labels["eperm"] - ja_index - 1)

    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(prog):
        out += struct.pack(
            "=HBBI", code, _offset(jt, index, labels), _offset(jf, index, labels), k
        )
    return bytes(out)


def _offset(target: int | str, index: int, labels: Mapping[str, int]) -> int:
    if isinstance(target, int):
        return target
    offset = labels[target] - index - 1
    if not 0 <= offset <= 255:
        raise SandboxError(f"seccomp: jump to {target} out of range ({offset})")
    return offset


def filter_fd(data: bytes) -> int:
    """Put the filter in a memfd positioned at 0, for ``bwrap --seccomp FD`` (caller closes it)."""
    return _cmd.data_fd(data, "wk-seccomp")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load(data: bytes) -> None:
    """Install ``data`` on the calling process (irreversible; sets no_new_privs first).

    For helpers that run without bwrap and for tests; the sandbox passes the filter to bwrap.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buf = ctypes.create_string_buffer(data, len(data))
    prog = _SockFprog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
