"""Landlock: restrict where a sandboxed command may write (and optionally which TCP ports it
may connect to), through the raw syscalls (444 create_ruleset, 445 add_rule, 446 restrict_self).

Only write-type accesses are handled, so reads stay open (the read-only bind mounts of bwrap
already cover the rest); writes are allowed beneath the given directories only. With ABI 4 or
later, ``connect_ports`` also limits TCP ``connect()`` to those ports (a second wall behind the
firewall that also holds inside the sandbox's own loopback).

The module imports nothing from watchkeeper, so the sandbox runs it as a tiny exec helper before
the command: ``python -I -S landlock.py --rw /work --rw /tmp -- CMD ARGS...``. The restriction is
inherited across ``exec`` and ``fork`` and cannot be lifted.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
import sys
from collections.abc import Sequence

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

_WRITE_V1 = (
    FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG
    | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM
)
_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE


class LandlockUnsupported(OSError):
    """The kernel has no (enabled) Landlock, or lacks the ABI a request needs."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
        ctypes.c_uint32(CREATE_RULESET_VERSION),
    )
    return int(result) if result > 0 else 0


def write_access(abi: int) -> int:
    """The write-type access bits the given ABI knows."""
    bits = _WRITE_V1
    if abi >= 2:
        bits |= FS_REFER
    if abi >= 3:
        bits |= FS_TRUNCATE
    return bits


def restrict(
    rw_paths: Sequence[str], *, connect_ports: Sequence[int] | None = None
) -> int:
    """Restrict the calling process: writes only beneath ``rw_paths``; TCP connects only to
    ``connect_ports`` when given (needs ABI 4). Returns the ABI used.

    Paths that do not exist are skipped. Irreversible for this process and its children.

    Raises:
        LandlockUnsupported: No Landlock, or ports requested below ABI 4.
        OSError: A syscall failed.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockUnsupported(errno.EOPNOTSUPP, "Landlock is not available in this kernel")
    if connect_ports is not None and abi < 4:
        raise LandlockUnsupported(errno.EOPNOTSUPP, f"TCP port rules need Landlock ABI 4 (have {abi})")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled_fs = write_access(abi)
    handled_net = NET_CONNECT_TCP if connect_ports is not None else 0
    attr = struct.pack("=QQ", handled_fs, handled_net) if abi >= 4 else struct.pack("=Q", handled_fs)
    attr_buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), attr_buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in rw_paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                allowed = handled_fs if is_dir else handled_fs & _FILE_ONLY
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                if libc.syscall(
                    ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset),
                    ctypes.c_int(RULE_PATH_BENEATH), rule, ctypes.c_uint32(0),
                ) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
            finally:
                os.close(fd)
        for port in connect_ports or ():
            rule = ctypes.create_string_buffer(struct.pack("=QQ", NET_CONNECT_TCP, port), 16)
            if libc.syscall(
                ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset),
                ctypes.c_int(RULE_NET_PORT), rule, ctypes.c_uint32(0),
            ) < 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule(port {port}) failed")
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(
            ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
        ) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


USAGE = "usage: landlock.py [--rw PATH]... [--connect-port PORT]... [--best-effort] -- CMD [ARGS...]"


def main(argv: Sequence[str] | None = None) -> int:
    """Apply the restriction, then exec the command. Exit 126 when it cannot be applied."""
    args = list(sys.argv[1:] if argv is None else argv)
    rw: list[str] = []
    ports: list[int] | None = None
    best_effort = False
    while args and args[0] != "--":
        flag = args.pop(0)
        if flag == "--best-effort":
            best_effort = True
        elif flag in ("--rw", "--connect-port") and args:
            value = args.pop(0)
            if flag == "--rw":
                rw.append(value)
            elif value.isdigit() and 0 < int(value) < 65536:
                ports = (ports or []) + [int(value)]
            else:
                print(f"landlock: bad port {value!r}", file=sys.stderr)
                return 126
        else:
            print(USAGE, file=sys.stderr)
            return 126
    if not args or args[0] != "--" or len(args) < 2:
        print(USAGE, file=sys.stderr)
        return 126
    command = args[1:]
    try:
        restrict(rw, connect_ports=ports)
    except LandlockUnsupported as exc:
        if not best_effort:
            print(f"landlock: {exc.strerror}", file=sys.stderr)
            return 126
    except OSError as exc:
        print(f"landlock: {exc.strerror or exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"landlock: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
