"""The live network sensor: AF_PACKET on the host end of the sandbox's veth, cBPF-filtered.

Design (measured numbers in docs/network.md):

* One ``AF_PACKET``/``SOCK_RAW`` socket bound to the host-side veth, with a large receive buffer
  (``SO_RCVBUFFORCE``) and a classic BPF filter (``sensors._net_bpf``) attached *before* the
  bind, so no unfiltered packet is ever queued.
* The filter passes every flow start and end (SYN, FIN, RST) and every non-TCP frame, and the
  data packets of flows still being fingerprinted, cut to ``snap_data`` bytes.
* When a flow has been fingerprinted and runs at ``bulk_pps`` or more, its port pair goes on the
  filter's exclusion list: from then on the kernel passes one packet in ``sample`` (headers
  only) and drops the rest before they are copied. Bytes stay exact (TCP sequence numbers);
  packets of such a flow are estimated. A flow leaves the list when it closes or goes quiet.
* Direction comes from ``sll_pkttype``: on the host end ``PACKET_OUTGOING`` (4) is traffic *to*
  the sandbox; everything else came from it.
* Loss is read from ``PACKET_STATISTICS`` (kernel drops when the buffer was full) every
  housekeeping tick; it is counted in :meth:`NetSensor.stats` and reported through ``on_loss``
  as a :class:`~watchkeeper.sensors._proc_loss.SensorLoss` (sensor "net"). Flow-table evictions
  are reported the same way (sensor "net.flows").
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchkeeper.errors import PrerequisiteError, SensorError
from watchkeeper.netproto import PROTO_TCP, PROTO_UDP, decode_ethernet
from watchkeeper.sensors._base import Emit, SensorStats
from watchkeeper.sensors._net_bpf import FilterConfig, attach, build_program
from watchkeeper.sensors._net_flows import DNS_PORTS, Flow, FlowConfig, FlowStats, FlowTable
from watchkeeper.sensors._proc_loss import LossReporter, OnLoss

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33
PACKET_OUTGOING = 4
_ETHERNET_TYPES = {1, 772}  # ARPHRD_ETHER, ARPHRD_LOOPBACK (Ethernet-framed)
_TICK = 0.25  # housekeeping: expiry, loss counters, exclusion list
_BEAT = 0.1  # socket timeout and heartbeat period
_GRACE = 0.05  # packets of a newly excluded flow queued before the swap are not samples
_BATCH = 4096  # packets taken per wake-up at most
_DRAIN_S = 2.0  # at most this long spent on packets still queued at stop()
_QUIET = 5.0  # an excluded flow with no sample for this long is inspected again


class NetSensor:
    """Flows, fingerprints and DNS of one sandbox, from the host end of its veth.

    Args:
        interface: The host-side veth (or another Ethernet interface facing the sandbox).
        sandbox_id: Stamped on every event.
        flows: Flow table limits and timeouts.
        filter: Snap lengths and sampling of the kernel filter.
        on_loss: Receives a SensorLoss when the kernel dropped packets or flows were evicted.
        heartbeat: Called from the capture thread at least every 200 ms while it is healthy.
        run_id / episode_id: Stamped on every event.
        rcvbuf: Socket receive buffer in bytes (forced, root only).
        exclude_bulk: Put bulk flows on the kernel exclusion list (off: every packet reaches
            Python, for comparisons).
        batch_delay: After a batch of packets, wait this long before reading again (seconds),
            so packets are read in batches: fewer wake-ups at high rates for at most this much
            added latency. 0 reads every packet as soon as it comes.
    """

    name = "net"

    def __init__(
        self,
        interface: str,
        *,
        sandbox_id: str = "",
        flows: FlowConfig | None = None,
        filter: FilterConfig | None = None,
        on_loss: OnLoss | None = None,
        rcvbuf: int = 64 << 20,
        exclude_bulk: bool = True,
        batch_delay: float = 0.0,
        heartbeat: Callable[[], None] | None = None,
        run_id: str = "",
        episode_id: str = "",
    ) -> None:
        self.interface = interface
        self.sandbox_id = sandbox_id
        self.flow_config = flows or FlowConfig()
        self.filter_config = filter or FilterConfig()
        self.rcvbuf = rcvbuf
        self.exclude_bulk = exclude_bulk
        self.batch_delay = batch_delay
        self._heartbeat = heartbeat
        self._run_id = run_id
        self._episode_id = episode_id
        self._drops = LossReporter("net", on_loss)
        self._evictions = LossReporter("net.flows", on_loss)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._table: FlowTable | None = None
        self._lock = threading.Lock()
        self._kernel_packets = 0
        self._kernel_drops = 0
        self._seen = 0
        self._errors = 0
        self._excluded: dict[tuple[int, int], float] = {}  # port pair -> when excluded
        self._excluded_flows: dict[tuple[int, int], Flow] = {}
        self._dirty = False
        self._filter_swaps = 0
        self._evicted_reported = 0
        self._cpu = 0.0

    # ------------------------------------------------------------------ Sensor

    def start(self, emit: Emit) -> None:
        """Open the socket, attach the filter, bind, and start the capture thread."""
        if self._thread is not None:
            raise SensorError("network sensor already started")
        self._check()
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise PrerequisiteError(
                "AF_PACKET capture needs CAP_NET_RAW", fix="run watchkeeper as root"
            ) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            attach(sock, build_program((), self.filter_config))
            sock.bind((self.interface, ETH_P_ALL))
            sock.settimeout(_BEAT)
        except OSError as exc:
            sock.close()
            raise SensorError(
                f"cannot capture on {self.interface}: {exc.strerror or exc}"
            ) from None
        self._sock = sock
        self._table = FlowTable(
            emit,
            self.flow_config,
            source="net",
            sandbox_id=self.sandbox_id,
            run_id=self._run_id,
            episode_id=self._episode_id,
            on_bulk=self._on_bulk if self.exclude_bulk else None,
        )
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"wk-net-{self.interface}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, close every open flow (emitting "close") and close the socket."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._thread = None

    def stats(self) -> SensorStats:
        """Packets the kernel passed to the socket, dropped for lack of buffer, and errors."""
        with self._lock:
            return SensorStats(self._kernel_packets, self._kernel_drops, self._errors)

    # ----------------------------------------------------------------- extras

    def flow_stats(self) -> FlowStats:
        """Flow table counters (flows now, opened, closed, evicted, packets seen by Python)."""
        return self._table.stats() if self._table is not None else FlowStats()

    @property
    def alive(self) -> bool:
        """True while the capture thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        """The capture thread (for a watchdog), None when stopped."""
        return self._thread

    @property
    def packets_seen(self) -> int:
        """Packets that reached Python."""
        return self._seen

    @property
    def cpu_seconds(self) -> float:
        """CPU time used by the capture thread (of the last run, once stopped)."""
        return self._cpu

    @property
    def filter_swaps(self) -> int:
        """How often the kernel filter was replaced (exclusion list changes)."""
        return self._filter_swaps

    @property
    def excluded(self) -> list[tuple[int, int]]:
        """Port pairs now on the kernel exclusion list."""
        return list(self._excluded)

    # ---------------------------------------------------------------- private

    def _check(self) -> None:
        path = Path("/sys/class/net") / self.interface / "type"
        try:
            hatype = int(path.read_text().strip())
        except (OSError, ValueError):
            raise SensorError(f"no network interface {self.interface!r}") from None
        if hatype not in _ETHERNET_TYPES:
            raise SensorError(
                f"interface {self.interface!r} has link type {hatype}; only Ethernet is supported"
            )
        if os.geteuid() != 0:
            raise PrerequisiteError("AF_PACKET capture needs root", fix="run watchkeeper as root")

    def _on_bulk(self, flow: Flow) -> None:
        if flow.proto not in (PROTO_TCP, PROTO_UDP) or flow.excluded:
            return
        if flow.o_port in DNS_PORTS or flow.r_port in DNS_PORTS:
            return
        if len(self._excluded) >= self.filter_config.max_excluded:
            return
        pair = (flow.o_port, flow.r_port)
        flow.excluded = True
        self._excluded[pair] = time.monotonic()
        self._excluded_flows[pair] = flow
        self._dirty = True

    def _swap_filter(self) -> None:
        assert self._sock is not None
        attach(self._sock, build_program(list(self._excluded), self.filter_config))
        self._filter_swaps += 1
        self._dirty = False

    def _housekeeping(self, table: FlowTable, now_wall: float) -> None:
        table.expire(now_wall)
        now = time.monotonic()
        for pair, flow in list(self._excluded_flows.items()):
            quiet = now_wall - flow.last >= _QUIET and now - self._excluded[pair] >= _QUIET
            if flow.closed or quiet or table.get(flow.key) is not flow:
                flow.excluded = False
                del self._excluded_flows[pair]
                del self._excluded[pair]
                self._dirty = True
        if self._dirty:
            self._swap_filter()
        self._poll_stats()
        evicted = table.stats().evicted
        if evicted > self._evicted_reported:
            self._evictions.lost("flows evicted: flow table full", evicted - self._evicted_reported)
            self._evicted_reported = evicted

    def _poll_stats(self) -> None:
        assert self._sock is not None
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)  # reset by the kernel on every read
        with self._lock:
            self._kernel_packets += packets
            self._kernel_drops += drops
        if drops:
            self._drops.lost("packets dropped by the kernel: socket buffer full", drops)

    def _packet(self, table: FlowTable, data: bytes, pkttype: int) -> None:
        self._seen += 1
        pkt = decode_ethernet(data)
        if pkt is None:
            return
        weight = 1
        excluded = self._excluded
        if excluded and not pkt.tcp_flags & 0x07:
            since = excluded.get((pkt.sport, pkt.dport)) or excluded.get((pkt.dport, pkt.sport))
            if since is not None and time.monotonic() - since > _GRACE:
                weight = self.filter_config.sample
        try:
            table.process(pkt, time.time(), pkttype != PACKET_OUTGOING, weight)
        except Exception:  # an observer failed: count it, keep capturing
            with self._lock:
                self._errors += 1

    def _run(self) -> None:
        sock, table = self._sock, self._table
        assert sock is not None and table is not None
        buf = bytearray(self.filter_config.snap_data + 64)
        next_tick = time.monotonic() + _TICK
        next_beat = 0.0
        try:
            while not self._stop.is_set():
                try:
                    n, addr = sock.recvfrom_into(buf)
                except TimeoutError:
                    n = 0
                except OSError:
                    with self._lock:
                        self._errors += 1
                    n = 0
                if n:
                    self._packet(table, bytes(buf[:n]), addr[2])
                    # take what else is queued without blocking, then let the next batch
                    # accumulate: bounds wake-ups (and their cost) at high packet rates
                    for _ in range(_BATCH):
                        if self._dirty:  # a flow turned bulk: stop its packets at once
                            self._swap_filter()
                        try:
                            n, addr = sock.recvfrom_into(buf, 0, socket.MSG_DONTWAIT)
                        except OSError:  # BlockingIOError: nothing more queued
                            break
                        self._packet(table, bytes(buf[:n]), addr[2])
                    if self._dirty:
                        self._swap_filter()
                    if self.batch_delay > 0:
                        time.sleep(self.batch_delay)
                mono = time.monotonic()
                if mono >= next_beat and self._heartbeat is not None:
                    next_beat = mono + _BEAT
                    self._heartbeat()
                if mono >= next_tick:
                    next_tick = mono + _TICK
                    self._housekeeping(table, time.time())
            self._drain(sock, table, buf)
        finally:
            try:
                self._poll_stats()
                table.flush(time.time())
                self._cpu = time.thread_time()
            finally:
                self._drops.flush()
                self._evictions.flush()
                sock.close()
                self._sock = None

    def _drain(self, sock: socket.socket, table: FlowTable, buf: bytearray) -> None:
        """Process what the kernel queued before stop() (bounded by ``_DRAIN_S``)."""
        sock.settimeout(0.0)
        deadline = time.monotonic() + _DRAIN_S
        while time.monotonic() < deadline:
            try:
                n, addr = sock.recvfrom_into(buf)
            except OSError:  # BlockingIOError: the queue is empty
                return
            self._packet(table, bytes(buf[:n]), addr[2])
