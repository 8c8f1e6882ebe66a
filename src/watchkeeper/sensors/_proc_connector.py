"""The netlink process connector (``NETLINK_CONNECTOR``/``CN_IDX_PROC``) in pure Python.

The kernel multicasts one datagram per process event (fork, exec, exit, uid, comm...) to every
subscribed socket. Messages are ``nlmsghdr`` + ``cn_msg`` + ``proc_event``; see
``include/uapi/linux/cn_proc.h``. The socket only works in the initial network namespace.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
NLMSG_DONE = 3
SO_RCVBUFFORCE = 33

PROC_EVENT_NONE = 0x00000000
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_UID = 0x00000004
PROC_EVENT_GID = 0x00000040
PROC_EVENT_SID = 0x00000080
PROC_EVENT_PTRACE = 0x00000100
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_COREDUMP = 0x40000000
PROC_EVENT_EXIT = 0x80000000

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_PROC_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_HEADER = _NLMSGHDR.size + _CN_MSG.size  # 36
_DATA = _HEADER + _PROC_EVENT.size  # 52: start of the event_data union
_FOUR_U32 = struct.Struct("=IIII")
_TWO_U32 = struct.Struct("=II")
_EXIT = struct.Struct("=IIIIII")
_UID = struct.Struct("=IIII")
_COMM = struct.Struct("=II16s")


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One decoded proc connector event (only the fields watchkeeper uses).

    Attributes:
        what: PROC_EVENT_* code.
        ts_ns: Kernel timestamp (CLOCK_MONOTONIC nanoseconds, as ``time.monotonic_ns``).
        pid: Thread id the event is about (child for FORK).
        tgid: Process id the event is about (child's tgid for FORK).
        ppid: FORK: parent thread id; EXIT: parent pid; else 0.
        ptgid: FORK: parent tgid; EXIT: parent tgid; else 0.
        exit_code: EXIT: the wait status (code << 8 | signal); else 0.
        uid: UID: effective uid; else -1.
        comm: COMM: the new task name; else "".
    """

    what: int
    ts_ns: int
    pid: int
    tgid: int
    ppid: int = 0
    ptgid: int = 0
    exit_code: int = 0
    uid: int = -1
    comm: str = ""


def parse(datagram: bytes | memoryview) -> ProcEvent | None:
    """Decode one datagram; None for acks, truncated or foreign messages (never raises)."""
    if len(datagram) < _DATA:
        return None
    _, msg_type, _, _, _ = _NLMSGHDR.unpack_from(datagram, 0)
    if msg_type != NLMSG_DONE:
        return None
    idx, val, _, _, length, _ = _CN_MSG.unpack_from(datagram, _NLMSGHDR.size)
    if idx != CN_IDX_PROC or val != CN_VAL_PROC or length < _PROC_EVENT.size:
        return None
    what, _, ts = _PROC_EVENT.unpack_from(datagram, _HEADER)
    try:
        if what == PROC_EVENT_FORK:
            ppid, ptgid, pid, tgid = _FOUR_U32.unpack_from(datagram, _DATA)
            return ProcEvent(what, ts, pid, tgid, ppid, ptgid)
        if what == PROC_EVENT_EXEC:
            pid, tgid = _TWO_U32.unpack_from(datagram, _DATA)
            return ProcEvent(what, ts, pid, tgid)
        if what == PROC_EVENT_EXIT:
            pid, tgid, code, _sig, ppid, ptgid = _EXIT.unpack_from(datagram, _DATA)
            return ProcEvent(what, ts, pid, tgid, ppid, ptgid, exit_code=code)
        if what == PROC_EVENT_UID:
            pid, tgid, _ruid, euid = _UID.unpack_from(datagram, _DATA)
            return ProcEvent(what, ts, pid, tgid, uid=euid)
        if what == PROC_EVENT_COMM:
            pid, tgid, raw = _COMM.unpack_from(datagram, _DATA)
            name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
            return ProcEvent(what, ts, pid, tgid, comm=name)
        if what in (PROC_EVENT_SID, PROC_EVENT_GID, PROC_EVENT_PTRACE, PROC_EVENT_COREDUMP):
            pid, tgid = _TWO_U32.unpack_from(datagram, _DATA)
            return ProcEvent(what, ts, pid, tgid)
    except struct.error:
        return None
    return None


def build(what: int, ts_ns: int, data: bytes) -> bytes:
    """Encode a datagram as the kernel would (for tests and replay)."""
    payload = _PROC_EVENT.pack(what, 0, ts_ns) + data
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0)
    body = cn + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body


def subscribe_message(op: int = PROC_CN_MCAST_LISTEN) -> bytes:
    """The LISTEN (or IGNORE) control message sent after bind."""
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0)
    return (
        _NLMSGHDR.pack(_NLMSGHDR.size + len(cn) + len(payload), NLMSG_DONE, 0, 0, 0) + cn + payload
    )


def open_socket(rcvbuf: int) -> tuple[socket.socket, int]:
    """Open, size, bind and subscribe a proc connector socket.

    Returns the socket and the receive buffer the kernel granted (bytes, as getsockopt reports).
    Raises OSError (EPERM without CAP_NET_ADMIN, ECONNREFUSED outside the initial netns).
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sock.bind((0, CN_IDX_PROC))  # port 0: the kernel picks a unique one
        sock.send(subscribe_message())
    except BaseException:
        sock.close()
        raise
    return sock, granted
