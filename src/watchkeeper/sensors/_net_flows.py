"""The flow table: packets in, flow events (open / traffic / close) and DNS events out.

Shared by the live network sensor and ``watchkeeper pcap``. A flow is a 5-tuple seen from both
sides. The *local* side is the sandbox side: the caller says which side sent each packet
(``from_local``); when it cannot (a pcap without ``local_nets``), the flow originator is taken as
local. Payload bytes are counted from TCP sequence numbers (so packets the kernel filter held
back still count) and from the UDP length otherwise.

Only the first ``inspect_bytes`` (2 KiB) / ``inspect_packets`` data packets of each direction are
buffered and fingerprinted; after that a flow is only counted. conn_state follows Zeek's
definitions for the subset: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from watchkeeper.events import DnsEvent, Event, NetworkEvent
from watchkeeper.netproto import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Fingerprint,
    Packet,
    identify,
    ip_text,
    parse_dns,
    ssh_role,
)

_MASK = 0xFFFFFFFF
_HALF = 0x80000000
DNS_PORTS = frozenset({53, 5353, 5355})
_BURST = 64
_MAX_NAMES = 8192
_PROTO_NAMES = {PROTO_TCP: "tcp", PROTO_UDP: "udp", PROTO_ICMP: "icmp", PROTO_ICMPV6: "icmp"}

FlowKey = tuple[bytes, int, bytes, int, int]


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Flow table limits and timeouts (seconds).

    Attributes:
        inspect_bytes: Payload buffered per direction for fingerprinting.
        inspect_packets: Data packets per direction after which inspection stops.
        max_flows: Flows kept at once; beyond it the least recently seen is evicted (and closed).
        attempt_timeout: A SYN unanswered this long closes as S0.
        tcp_timeout: Idle time after which an open TCP flow closes (Zeek: 5 min).
        udp_timeout: Idle time for UDP flows.
        other_timeout: Idle time for ICMP and other protocols.
        linger: How long a closed flow is kept to absorb late packets and retransmissions.
        bulk_pps: Packet rate (per second, measured over bursts of 64 packets) at which a flow
            counts as bulk. Once one direction is fingerprinted, the live sensor then stops the
            kernel from passing its data packets (see ``on_bulk``).
        update_interval: A long flow emits a "traffic" update with its counters this often
            (0 disables).
        max_buffered: Payload bytes buffered for fingerprinting across all flows; beyond it a
            direction is judged on what it has (bounds memory under a flood of flows).
    """

    inspect_bytes: int = 2048
    inspect_packets: int = 8
    max_flows: int = 65536
    attempt_timeout: float = 5.0
    tcp_timeout: float = 300.0
    udp_timeout: float = 60.0
    other_timeout: float = 60.0
    linger: float = 30.0
    bulk_pps: float = 200.0
    update_interval: float = 60.0
    max_buffered: int = 32 << 20


@dataclass(frozen=True, slots=True)
class FlowStats:
    """Flow table counters."""

    flows: int = 0
    opened: int = 0
    closed: int = 0
    evicted: int = 0
    packets: int = 0
    buffered: int = 0


class _Dir:
    """One direction of a flow."""

    __slots__ = (
        "pkts", "bytes", "base", "last_end", "buf", "inspecting", "data_pkts", "fp",
        "first_payload", "fin", "rst", "role_done",
    )  # fmt: skip

    def __init__(self) -> None:
        self.pkts = 0
        self.bytes = 0
        self.base: int | None = None
        self.last_end = 0
        self.buf = bytearray()
        self.inspecting = True
        self.data_pkts = 0
        self.fp: Fingerprint | None = None
        self.first_payload = 0.0
        self.fin = False
        self.rst = False
        self.role_done = False


class Flow:
    """One flow's state. ``o``/``r`` are the originator and responder directions."""

    __slots__ = (
        "key", "proto", "o_addr", "o_port", "r_addr", "r_port", "local_is_orig", "first", "last",
        "o", "r", "syn", "synack", "isn", "closed", "close_ts", "app_protocol", "excluded",
        "hot", "win_start", "win_pkts", "last_update", "first_speaker", "sampled", "texts",
        "hostname",
    )  # fmt: skip

    def __init__(
        self, key: FlowKey, pkt: Packet, orig_is_sender: bool, local_is_orig: bool, ts: float
    ) -> None:
        self.key = key
        self.proto = pkt.proto
        if orig_is_sender:
            self.o_addr, self.o_port, self.r_addr, self.r_port = (
                pkt.src,
                pkt.sport,
                pkt.dst,
                pkt.dport,
            )
        else:
            self.o_addr, self.o_port, self.r_addr, self.r_port = (
                pkt.dst,
                pkt.dport,
                pkt.src,
                pkt.sport,
            )
        self.local_is_orig = local_is_orig
        self.first = ts
        self.last = ts
        self.o = _Dir()
        self.r = _Dir()
        self.syn = False
        self.synack = False
        self.isn: int | None = None
        self.closed = False
        self.close_ts = 0.0
        self.app_protocol = ""
        self.excluded = False
        self.hot = False
        self.win_start = ts
        self.win_pkts = 0
        self.last_update = ts
        self.first_speaker = ""
        self.sampled = 0
        self.texts: tuple[str, int, str, int] | None = None
        self.hostname = ""

    @property
    def inspected(self) -> bool:
        """True when neither direction is still being fingerprinted."""
        return not (self.o.inspecting or self.r.inspecting)

    def conn_state(self) -> str:
        """Zeek-style connection state (see the module docstring for the subset)."""
        o, r = self.o, self.r
        if self.proto != PROTO_TCP:
            return "SF" if o.pkts and r.pkts else "S0"
        if self.syn and not self.synack:
            if r.rst:
                return "REJ"
            if o.rst:
                return "RSTOS0"
            if o.fin:
                return "SH"
            return "S0"
        if self.synack and not self.syn:
            if r.rst:
                return "RSTRH"
            if r.fin:
                return "SHR"
            return "OTH"
        if not self.syn:
            return "OTH"
        if o.rst:
            return "RSTO"
        if r.rst:
            return "RSTR"
        if o.fin and r.fin:
            return "SF"
        if o.fin:
            return "S2"
        if r.fin:
            return "S3"
        return "S1"


class FlowTable:
    """Tracks flows from decoded packets and emits NetworkEvent/DnsEvent.

    Args:
        emit: Receives every event.
        config: Limits and timeouts.
        local_nets: Networks of the sandbox side, used when ``process`` gets ``from_local=None``.
        source: ``source`` field of the events ("net" live, "pcap" offline).
        sandbox_id / run_id / episode_id: Stamped on every event.
        on_bulk: Called when a flow runs at ``bulk_pps`` or more and at least one direction has
            finished fingerprinting (until the caller sets ``flow.excluded``).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        config: FlowConfig | None = None,
        *,
        local_nets: Iterable[str] = (),
        source: str = "net",
        sandbox_id: str = "",
        run_id: str = "",
        episode_id: str = "",
        on_bulk: Callable[[Flow], None] | None = None,
    ) -> None:
        self._emit = emit
        self.config = config or FlowConfig()
        self._nets = [ipaddress.ip_network(n, strict=False) for n in local_nets]
        self._source = source
        self._sandbox_id = sandbox_id
        self._run_id = run_id
        self._episode_id = episode_id
        self._on_bulk = on_bulk
        self._flows: OrderedDict[FlowKey, Flow] = OrderedDict()
        self._attempts: deque[tuple[float, Flow]] = deque()
        self._names: OrderedDict[str, str] = OrderedDict()  # address -> name, from DNS answers
        self._opened = self._closed = self._evicted = self._packets = 0
        self._buffered = 0
        self._min_idle = min(
            self.config.linger, self.config.tcp_timeout, self.config.udp_timeout,
            self.config.other_timeout,
        )  # fmt: skip

    # ------------------------------------------------------------------ public

    def stats(self) -> FlowStats:
        """Counters since creation."""
        return FlowStats(
            len(self._flows),
            self._opened,
            self._closed,
            self._evicted,
            self._packets,
            self._buffered,
        )

    def flows(self) -> list[Flow]:
        """The flows now in the table (oldest first)."""
        return list(self._flows.values())

    def get(self, key: FlowKey) -> Flow | None:
        """A flow by its key."""
        return self._flows.get(key)

    def process(
        self, pkt: Packet, ts: float, from_local: bool | None = None, weight: int = 1
    ) -> Flow:
        """Account one packet; returns its flow.

        Args:
            pkt: The decoded packet.
            ts: Capture time (epoch seconds).
            from_local: True if the sandbox side sent it, False if it was sent to the sandbox,
                None if unknown (then ``local_nets``, else the originator, decides).
            weight: How many packets this one stands for (sampling by the kernel filter).
        """
        self._packets += 1
        if pkt.src < pkt.dst or (pkt.src == pkt.dst and pkt.sport <= pkt.dport):
            key: FlowKey = (pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto)
        else:
            key = (pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.proto)
        flags = pkt.tcp_flags
        flow = self._flows.get(key)
        if flow is not None and flow.closed and flags & (TCP_SYN | TCP_ACK) == TCP_SYN:
            if flow.isn != pkt.seq:  # a new connection reusing the 5-tuple
                del self._flows[key]
                flow = None
        if flow is None:
            flow = self._new_flow(key, pkt, ts, from_local)
        else:
            self._flows.move_to_end(key)
        flow.last = ts
        from_orig = pkt.src == flow.o_addr and pkt.sport == flow.o_port
        if pkt.src == pkt.dst and pkt.sport == pkt.dport:
            from_orig = True
        d = flow.o if from_orig else flow.r
        d.pkts += weight
        if weight > 1:
            flow.sampled += 1
        if pkt.proto == PROTO_TCP:
            self._tcp(flow, d, from_orig, pkt, ts)
        else:
            d.bytes += pkt.payload_len * weight
            if pkt.payload_len and not flow.first_speaker:
                flow.first_speaker = "o" if from_orig else "r"
            if pkt.proto == PROTO_UDP:
                self._udp(flow, d, from_orig, pkt, ts)
        # bulk detection: the time taken by each burst of _BURST packets gives the rate
        flow.win_pkts += weight
        if flow.win_pkts >= _BURST:
            flow.hot = (ts - flow.win_start) * self.config.bulk_pps < flow.win_pkts
            flow.win_start = ts
            flow.win_pkts = 0
            if (
                flow.hot
                and self._on_bulk is not None
                and not flow.excluded
                and not flow.closed
                and not (flow.o.inspecting and flow.r.inspecting)
            ):
                self._on_bulk(flow)
        if (
            self.config.update_interval > 0
            and not flow.closed
            and ts - flow.last_update >= self.config.update_interval
        ):
            flow.last_update = ts
            duration = f"{ts - flow.first:.3f}"
            self._emit(
                self._flow_event(flow, "traffic", ts, (("update", "true"), ("duration", duration)))
            )
        return flow

    def expire(self, now: float) -> None:
        """Close timed-out attempts and idle flows, and forget lingering closed flows."""
        cfg = self.config
        while self._attempts and self._attempts[0][0] + cfg.attempt_timeout <= now:
            _, flow = self._attempts.popleft()
            if not flow.closed and not flow.synack and not flow.r.pkts:
                self._close(flow, now, "timeout")
        limit = now - self._min_idle
        for key, flow in list(self._flows.items()):
            if flow.last > limit:
                break
            idle = now - flow.last
            if flow.closed:
                if idle >= cfg.linger:
                    del self._flows[key]
                continue
            if idle >= self._timeout(flow):
                self._close(flow, now, "timeout")
                del self._flows[key]

    def flush(self, now: float | None = None) -> None:
        """Close every open flow (end of a capture, or the sensor stopping)."""
        for flow in list(self._flows.values()):
            if not flow.closed:
                self._close(flow, flow.last if now is None else now, "flush")
        self._flows.clear()
        self._attempts.clear()

    def local_text(self, flow: Flow) -> tuple[str, int, str, int]:
        """(local ip, local port, remote ip, remote port) of a flow."""
        if flow.texts is None:
            o, r = ip_text(flow.o_addr), ip_text(flow.r_addr)
            if flow.local_is_orig:
                flow.texts = (o, flow.o_port, r, flow.r_port)
            else:
                flow.texts = (r, flow.r_port, o, flow.o_port)
        return flow.texts

    # ----------------------------------------------------------------- private

    def _timeout(self, flow: Flow) -> float:
        if flow.proto == PROTO_TCP:
            return self.config.tcp_timeout
        if flow.proto == PROTO_UDP:
            return self.config.udp_timeout
        return self.config.other_timeout

    def _is_local(self, addr: bytes) -> bool:
        ip = ipaddress.ip_address(addr)
        return any(ip in net for net in self._nets)

    def _new_flow(self, key: FlowKey, pkt: Packet, ts: float, from_local: bool | None) -> Flow:
        flags = pkt.tcp_flags
        if pkt.proto == PROTO_TCP and flags & TCP_SYN:
            orig_is_sender = not flags & TCP_ACK  # a SYN-ACK first: we missed the SYN
        elif pkt.proto in (PROTO_TCP, PROTO_UDP):
            # mid-stream: the side on a well-known port is probably the responder
            orig_is_sender = not (pkt.sport < 1024 <= pkt.dport)
        elif pkt.proto == PROTO_ICMP:
            orig_is_sender = pkt.sport not in (0, 3, 11, 14, 16, 18)  # replies and errors
        elif pkt.proto == PROTO_ICMPV6:
            orig_is_sender = pkt.sport not in (1, 3, 129)
        else:
            orig_is_sender = True
        if from_local is None and self._nets:
            from_local = self._is_local(pkt.src)
            if not from_local and not self._is_local(pkt.dst):
                from_local = orig_is_sender
        local_is_orig = True if from_local is None else from_local == orig_is_sender
        if len(self._flows) >= self.config.max_flows:
            self._evict()
        flow = Flow(key, pkt, orig_is_sender, local_is_orig, ts)
        if self._names:
            flow.hostname = self._names.get(self.local_text(flow)[2], "")
        self._flows[key] = flow
        self._opened += 1
        if pkt.proto == PROTO_TCP and flags & (TCP_SYN | TCP_ACK) == TCP_SYN:
            flow.syn = True
            flow.isn = pkt.seq
            self._attempts.append((ts, flow))
        self._emit(self._flow_event(flow, "open", ts, ()))
        return flow

    def _evict(self) -> None:
        key, flow = self._flows.popitem(last=False)
        self._evicted += 1
        if not flow.closed:
            self._close(flow, flow.last, "evicted")

    def _tcp(self, flow: Flow, d: _Dir, from_orig: bool, pkt: Packet, ts: float) -> None:
        flags = pkt.tcp_flags
        seq = pkt.seq
        if flags & TCP_SYN:
            if flags & TCP_ACK:
                if not from_orig:
                    flow.synack = True
            elif from_orig and not flow.syn:
                flow.syn = True
                flow.isn = seq
            d.base = (seq + 1) & _MASK
            d.last_end = d.base
        elif d.base is None:
            d.base = seq
            d.last_end = seq
        plen = pkt.payload_len
        end = (seq + plen + (1 if flags & TCP_SYN else 0)) & _MASK
        delta = (end - d.last_end) & _MASK
        if 0 < delta < _HALF:
            d.bytes += delta
            d.last_end = end
        if plen and d.inspecting and not flow.closed:
            if not flow.first_speaker:
                flow.first_speaker = "o" if from_orig else "r"
            self._inspect_tcp(flow, d, from_orig, pkt, ts)
        if flags & TCP_RST:
            d.rst = True
            if not flow.closed:
                self._close(flow, ts, "rst")
        elif flags & TCP_FIN:
            d.fin = True
            if d.inspecting and d.buf:
                self._finish_dir(flow, d, from_orig, ts)
            other = flow.r if from_orig else flow.o
            if other.fin and not flow.closed:
                self._close(flow, ts, "fin")

    def _inspect_tcp(self, flow: Flow, d: _Dir, from_orig: bool, pkt: Packet, ts: float) -> None:
        base = d.base if d.base is not None else pkt.seq
        rel = (pkt.seq - base) & _MASK
        have = len(d.buf)
        limit = self.config.inspect_bytes
        payload = pkt.payload
        gap = False
        if rel <= have:
            skip = have - rel
            room = min(limit - have, self.config.max_buffered - self._buffered)
            if skip < len(payload) and room > 0:
                chunk = payload[skip : skip + room]
                d.buf += chunk
                self._buffered += len(chunk)
            if room <= 0:
                gap = True
            gap = len(payload) < pkt.payload_len  # snapped: the rest is missing
        elif rel < _HALF:
            gap = True
        if not d.data_pkts:
            d.first_payload = ts
        d.data_pkts += 1
        final = gap or len(d.buf) >= limit or d.data_pkts >= self.config.inspect_packets
        self._fingerprint(flow, d, from_orig, ts, final)

    def _done(self, d: _Dir) -> None:
        """End a direction's inspection and free its buffer."""
        d.inspecting = False
        if d.buf:
            self._buffered -= len(d.buf)
            d.buf = bytearray()

    def _finish_dir(self, flow: Flow, d: _Dir, from_orig: bool, ts: float) -> None:
        self._fingerprint(flow, d, from_orig, ts, True)

    def _fingerprint(self, flow: Flow, d: _Dir, from_orig: bool, ts: float, final: bool) -> None:
        data = bytes(d.buf)
        if d.fp is None and data:
            if flow.proto == PROTO_TCP and (flow.r_port in DNS_PORTS or flow.o_port in DNS_PORTS):
                self._dns_tcp(flow, from_orig, data, ts)
                self._done(d)
                return
            fp = identify(data, final=final)
            if fp is not None:
                d.fp = fp
                self._traffic(flow, fp, from_orig, ts)
        if d.fp is not None and d.fp.app_protocol == "ssh" and not d.role_done:
            role = ssh_role(data)
            if role:
                d.role_done = True
                local = from_orig == flow.local_is_orig
                server_side = (
                    ("local" if local else "remote")
                    if role == "server"
                    else ("remote" if local else "local")
                )
                self._emit(
                    self._flow_event(
                        flow, "traffic", ts,
                        (("ssh_server", server_side), ("side", "local" if local else "remote")),
                        app="ssh",
                    )
                )  # fmt: skip
                self._done(d)
                return
        if final or (d.fp is not None and d.fp.app_protocol != "ssh"):
            self._done(d)

    def _traffic(self, flow: Flow, fp: Fingerprint, from_orig: bool, ts: float) -> None:
        if not flow.app_protocol:
            flow.app_protocol = fp.app_protocol
        if from_orig == flow.local_is_orig and not flow.hostname:
            name = fp.get("sni") or fp.get("host").rsplit(":", 1)[0].strip("[]")
            if name and not _is_address(name):
                flow.hostname = name.lower()
        local = from_orig == flow.local_is_orig
        first_local = (flow.first_speaker == "o") == flow.local_is_orig
        extra = (
            ("side", "local" if local else "remote"),
            ("first_speaker", "local" if first_local else "remote"),
        )
        self._emit(self._flow_event(flow, "traffic", ts, fp.detail + extra, app=fp.app_protocol))

    def _udp(self, flow: Flow, d: _Dir, from_orig: bool, pkt: Packet, ts: float) -> None:
        if flow.r_port in DNS_PORTS or flow.o_port in DNS_PORTS:
            if pkt.payload:
                flow.app_protocol = "dns"
                self._dns(flow, from_orig, pkt.payload, ts)
            return
        if d.inspecting and pkt.payload:
            self._done(d)
            fp = identify(pkt.payload, udp=True, final=True)
            if fp is not None:
                d.fp = fp
                self._traffic(flow, fp, from_orig, ts)

    def _dns_tcp(self, flow: Flow, from_orig: bool, data: bytes, ts: float) -> None:
        if len(data) > 2:
            self._dns(flow, from_orig, data[2 : 2 + int.from_bytes(data[:2], "big")], ts)

    def _dns(self, flow: Flow, from_orig: bool, payload: bytes, ts: float) -> None:
        msg = parse_dns(payload)
        if msg is None:
            return
        lip, _lport, rip, _rport = self.local_text(flow)
        answers = tuple(value for _n, _t, value in msg.answers)
        if msg.response and msg.questions:
            qname = msg.questions[0][0]
            for _n, rtype, value in msg.answers:
                if rtype in ("A", "AAAA"):
                    self._names[value] = qname
                    self._names.move_to_end(value)
            while len(self._names) > _MAX_NAMES:
                self._names.popitem(last=False)
        for name, qtype in msg.questions:
            self._emit(
                DnsEvent(
                    ts=ts, source=self._source, sandbox_id=self._sandbox_id, run_id=self._run_id,
                    episode_id=self._episode_id,
                    query_name=name, query_type=qtype,
                    answers=answers if msg.response else (),
                    rcode=msg.rcode, src_ip=lip, dst_ip=rip,
                )
            )  # fmt: skip

    def _close(self, flow: Flow, ts: float, reason: str) -> None:
        for d in (flow.o, flow.r):  # judge what was buffered before the flow ends
            if d.inspecting and d.buf:
                self._fingerprint(flow, d, d is flow.o, ts, True)
        flow.closed = True
        flow.close_ts = ts
        self._done(flow.o)
        self._done(flow.r)
        self._closed += 1
        detail: tuple[tuple[str, str], ...] = (
            ("conn_state", flow.conn_state()),
            ("duration", f"{max(flow.last - flow.first, 0.0):.3f}"),
            ("reason", reason),
        )
        if flow.sampled:
            detail += (("packets_estimated", "true"),)
        self._emit(self._flow_event(flow, "close", ts, detail))

    def _flow_event(
        self,
        flow: Flow,
        activity: str,
        ts: float,
        detail: tuple[tuple[str, str], ...],
        app: str | None = None,
    ) -> NetworkEvent:
        lip, lport, rip, rport = self.local_text(flow)
        out, inn = (flow.o, flow.r) if flow.local_is_orig else (flow.r, flow.o)
        proto = flow.proto
        return NetworkEvent(
            ts=ts,
            source=self._source,
            sandbox_id=self._sandbox_id,
            run_id=self._run_id,
            episode_id=self._episode_id,
            activity=activity,
            initiated=flow.local_is_orig,
            protocol=_PROTO_NAMES.get(proto, str(proto)),
            app_protocol=flow.app_protocol if app is None else app,
            src_ip=lip,
            src_port=lport,
            dst_ip=rip,
            dst_port=rport,
            dst_hostname=flow.hostname,
            bytes_out=out.bytes,
            bytes_in=inn.bytes,
            packets_out=out.pkts,
            packets_in=inn.pkts,
            detail=detail,
        )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
