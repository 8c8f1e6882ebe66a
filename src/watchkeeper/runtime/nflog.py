"""NFLOG reader: the sandbox firewall's denied packets as NetworkEvent(activity="deny").

The sandbox's nftables table logs every denied packet to an NFLOG group with the prefix
``wk-deny:<sandbox id> `` (``wk-cut:`` after ``cut_network``, ``wk-fwd:`` in the forward chain),
at most ``log_rate`` per second per sandbox (the kernel's rate limit). This sensor binds one NFLOG
group (``NETLINK_NETFILTER``, ``NFULNL_CFG_CMD_BIND``, copy mode ``COPY_PACKET`` with the first
128 bytes) in the initial network namespace, decodes each record's prefix and IPv4 header, and
emits one event per record for the sandboxes it knows. A second, user-space limit
(``max_per_s`` per sandbox) bounds the event rate even if the kernel limit is raised.

A group can be bound by one socket only: :func:`bind_free_group` tries groups from a range until
one is free, and the runtime gives that group to the sandboxes it starts.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from watchkeeper.errors import PrerequisiteError, SensorError
from watchkeeper.events import NetworkEvent
from watchkeeper.sensors._base import Emit, SensorStats
from watchkeeper.sensors._proc_loss import LossReporter, OnLoss

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD = 1
NFULA_CFG_MODE = 2
NFULA_CFG_TIMEOUT = 4
NFULA_CFG_QTHRESH = 5
NFULNL_CFG_CMD_BIND = 1
NFULNL_CFG_CMD_UNBIND = 2
NFULNL_COPY_PACKET = 2
NFULA_PACKET_HDR = 1
NFULA_PAYLOAD = 9
NFULA_PREFIX = 10
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
_NLMSG = struct.Struct("=IHHII")
_NFGEN = struct.Struct("=BBH")  # family, version, res_id (big endian, packed by hand)
_NLA = struct.Struct("=HH")
_COPY_RANGE = 128
_RECV_TIMEOUT_S = 0.2
_PROTOS = {6: "tcp", 17: "udp", 1: "icmp"}
PREFIXES = ("wk-deny:", "wk-cut:", "wk-fwd:")
"""Log prefixes the sandbox firewall uses; the sandbox id follows."""
GROUP_RANGE = range(0x5700, 0x5800)
"""Groups :func:`bind_free_group` tries (in a random order)."""


@dataclass(frozen=True, slots=True)
class DenyRecord:
    """One denied packet.

    Attributes:
        prefix: The log prefix kind ("wk-deny:", "wk-cut:", "wk-fwd:").
        sandbox_id: The sandbox named by the prefix.
        protocol / src_ip / src_port / dst_ip / dst_port: From the packet's IPv4 header.
    """

    prefix: str
    sandbox_id: str
    protocol: str
    src_ip: str
    src_port: int | None
    dst_ip: str
    dst_port: int | None


def _attr(kind: int, payload: bytes) -> bytes:
    length = _NLA.size + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _config_message(group: int, attrs: bytes, seq: int) -> bytes:
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", group) + attrs
    kind = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG
    return _NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def _attrs(data: bytes | memoryview) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _NLA.size <= len(data):
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size:
            return
        yield kind & 0x3FFF, bytes(data[offset + _NLA.size : offset + length])
        offset += (length + 3) & ~3


def parse_record(payload: bytes | memoryview) -> DenyRecord | None:
    """Decode the body of one NFULNL_MSG_PACKET message (after the nfgenmsg header)."""
    prefix_text = ""
    packet = b""
    for kind, value in _attrs(payload):
        if kind == NFULA_PREFIX:
            prefix_text = value.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == NFULA_PAYLOAD:
            packet = value
    kind_prefix = next((p for p in PREFIXES if prefix_text.startswith(p)), None)
    if kind_prefix is None or len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    sandbox_id = prefix_text[len(kind_prefix) :].strip()
    ihl = (packet[0] & 0x0F) * 4
    proto = packet[9]
    src = str(ipaddress.IPv4Address(packet[12:16]))
    dst = str(ipaddress.IPv4Address(packet[16:20]))
    sport = dport = None
    if proto in (6, 17) and len(packet) >= ihl + 4:
        sport, dport = struct.unpack_from(">HH", packet, ihl)
    return DenyRecord(kind_prefix, sandbox_id, _PROTOS.get(proto, str(proto)), src, sport, dst, dport)


def bind_free_group(sock: socket.socket, groups: range = GROUP_RANGE) -> int:
    """Bind ``sock`` to the first free NFLOG group of ``groups`` (tried in a random order)."""
    order = list(groups)
    start = int.from_bytes(os.urandom(2), "big") % len(order)
    for group in order[start:] + order[:start]:
        try:
            _configure(sock, group)
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.EEXIST):
                continue
            raise
        return group
    raise SensorError(f"no free NFLOG group in {groups.start}..{groups.stop - 1}")


def _configure(sock: socket.socket, group: int) -> None:
    cmd = _attr(NFULA_CFG_CMD, struct.pack("=B", NFULNL_CFG_CMD_BIND))
    mode = _attr(NFULA_CFG_MODE, struct.pack(">IBB", _COPY_RANGE, NFULNL_COPY_PACKET, 0))
    mode += _attr(NFULA_CFG_TIMEOUT, struct.pack(">I", 1))  # flush after 10 ms
    mode += _attr(NFULA_CFG_QTHRESH, struct.pack(">I", 16))
    for seq, attrs in ((1, cmd), (2, mode)):
        sock.send(_config_message(group, attrs, seq))
        _ack(sock, seq)


def _ack(sock: socket.socket, seq: int) -> None:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _flags, got_seq, _pid = _NLMSG.unpack_from(data, offset)
            if kind == NLMSG_ERROR and got_seq == seq:
                code = struct.unpack_from("=i", data, offset + _NLMSG.size)[0]
                if code:
                    raise OSError(-code, os.strerror(-code))
                return
            offset += max((length + 3) & ~3, _NLMSG.size)
    raise SensorError("NFLOG configuration was not acknowledged")


class NflogSensor:
    """Denied packets of the sandboxes, from one NFLOG group.

    Args:
        sandbox_of: Maps the sandbox id of a prefix to the id to stamp (None: not ours, skip).
        max_per_s: Events per second per sandbox at most (beyond it records are counted only).
        on_loss: Receives a SensorLoss when the netlink socket overran.
        heartbeat: Called from the reader thread at least every 200 ms.
    """

    name = "nflog"

    def __init__(
        self,
        sandbox_of: Callable[[str], str | None] = lambda s: s,
        *,
        max_per_s: int = 50,
        on_loss: OnLoss | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self._sandbox_of = sandbox_of
        self._max_per_s = max_per_s
        self._loss = LossReporter(self.name, on_loss)
        self._heartbeat = heartbeat
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._received = 0
        self._errors = 0
        self._limited = 0
        self._windows: dict[str, tuple[int, int]] = {}
        self.group: int | None = None
        """The NFLOG group bound (after :meth:`bind`)."""

    def bind(self) -> int:
        """Open the socket and bind a free group (done by :meth:`start` if not yet); returns it."""
        if self.group is not None:
            return self.group
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        except PermissionError as exc:
            raise PrerequisiteError("NFLOG needs CAP_NET_ADMIN", fix="run as root") from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE
        except OSError:
            pass
        sock.bind((0, 0))
        sock.settimeout(2.0)
        try:
            self.group = bind_free_group(sock)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(_RECV_TIMEOUT_S)
        self._sock = sock
        return self.group

    # --- Sensor protocol ----------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Bind (if needed) and start the reader thread."""
        if self._thread is not None:
            raise SensorError("NFLOG sensor already started")
        self.bind()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name="wk-nflog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, unbind and close; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        sock, self._sock = self._sock, None
        if sock is not None:
            if self.group is not None:
                try:
                    attrs = _attr(NFULA_CFG_CMD, struct.pack("=B", NFULNL_CFG_CMD_UNBIND))
                    sock.send(_config_message(self.group, attrs, 99))
                except OSError:
                    pass
            sock.close()
        self.group = None
        self._loss.flush()

    def stats(self) -> SensorStats:
        """Records received, overruns (dropped) and undecodable records (errors)."""
        return SensorStats(self._received, self._loss.total, self._errors)

    @property
    def thread(self) -> threading.Thread | None:
        """The reader thread (for the watchdog)."""
        return self._thread

    @property
    def rate_limited(self) -> int:
        """Records not turned into events because of ``max_per_s``."""
        return self._limited

    # --- reader -------------------------------------------------------------------------

    def _run(self, emit: Emit) -> None:
        sock = self._sock
        assert sock is not None
        last_beat = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_beat >= 0.1:
                last_beat = now
                if self._heartbeat is not None:
                    self._heartbeat()
                self._loss.flush(force=False)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._loss.lost("NFLOG socket overrun: denied-packet records lost")
                    continue
                if self._stop.is_set():
                    break
                self._errors += 1
                time.sleep(0.01)
                continue
            self._handle(data, emit)

    def _handle(self, data: bytes, emit: Emit) -> None:
        offset = 0
        wanted = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET
        while offset + _NLMSG.size <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
            if length < _NLMSG.size:
                break
            if kind == wanted:
                self._received += 1
                body = memoryview(data)[offset + _NLMSG.size + _NFGEN.size : offset + length]
                try:
                    record = parse_record(body)
                except (ValueError, struct.error):
                    record = None
                    self._errors += 1
                if record is not None:
                    self._deliver(record, emit)
            offset += (length + 3) & ~3

    def _deliver(self, record: DenyRecord, emit: Emit) -> None:
        sandbox_id = self._sandbox_of(record.sandbox_id)
        if sandbox_id is None:
            return
        second = int(time.monotonic())
        window, count = self._windows.get(sandbox_id, (second, 0))
        if window != second:
            window, count = second, 0
        if count >= self._max_per_s:
            self._limited += 1
            return
        self._windows[sandbox_id] = (window, count + 1)
        emit(
            NetworkEvent(
                ts=time.time(),
                sandbox_id=sandbox_id,
                source="nflog",
                activity="deny",
                initiated=True,
                protocol=record.protocol,
                src_ip=record.src_ip,
                src_port=record.src_port,
                dst_ip=record.dst_ip,
                dst_port=record.dst_port,
                detail=(("verdict", record.prefix.rstrip(":")),),
            )
        )
