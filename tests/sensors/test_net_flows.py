import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.events import DnsEvent, NetworkEvent
from watchkeeper.netproto import TCP_ACK, TCP_SYN, decode_ethernet
from watchkeeper.sensors._net_flows import FlowConfig, FlowTable
from watchkeeper.testing.packets import TcpSession, dns_message, tcp_packet, udp_packet
from watchkeeper.testing.simulants import OPENSSH, kexinit

SBX, OUT = "10.213.0.2", "198.51.100.7"


class Rec:
    def __init__(self, **cfg):
        self.events = []
        self.table = FlowTable(self.events.append, FlowConfig(**cfg), source="test")
        self.t = 1000.0

    def feed(self, frames, dt=0.01, from_local=None):
        for f in frames:
            p = decode_ethernet(f)
            assert p is not None
            self.table.process(p, self.t, from_local)
            self.t += dt

    def net(self, activity=None):
        return [
            e
            for e in self.events
            if isinstance(e, NetworkEvent) and (activity is None or e.activity == activity)
        ]

    def state(self):
        closes = self.net("close")
        assert len(closes) == 1, closes
        return dict(closes[0].detail)["conn_state"]


def test_full_session_events_and_counters():
    r = Rec()
    s = TcpSession(SBX, 40000, OUT, 3333)
    req = b'{"id":1,"method":"mining.subscribe","params":["m/1"]}\n'
    r.feed(
        s.handshake()
        + s.send(req)
        + s.send(b'{"id":1,"result":[[["mining.notify","1"]],"00",4],"error":null}\n', False)
        + s.close()
    )
    kinds = [e.activity for e in r.net()]
    assert kinds == ["open", "traffic", "traffic", "close"]
    op, t1, t2, close = r.net()
    assert op.src_ip == SBX and op.dst_ip == OUT and op.dst_port == 3333 and op.initiated
    assert t1.app_protocol == "stratum" and dict(t1.detail)["side"] == "local"
    assert dict(t2.detail)["side"] == "remote" and dict(t2.detail)["first_speaker"] == "local"
    assert dict(close.detail)["conn_state"] == "SF" and dict(close.detail)["reason"] == "fin"
    assert close.bytes_out == len(req) and close.bytes_in > 0
    assert close.packets_out >= 4 and close.packets_in >= 3
    assert close.app_protocol == "stratum" and close.source == "test"


def test_s0_after_attempt_timeout_and_retransmissions_absorbed():
    r = Rec(attempt_timeout=5.0)
    s = TcpSession(SBX, 40001, OUT, 22)
    syn = s.syn()
    r.feed(syn)
    r.table.expire(r.t + 1)
    assert r.net("close") == []
    r.feed(syn)  # retransmission
    r.table.expire(r.t + 5)
    assert r.state() == "S0"
    r.feed(syn)  # late retransmission while lingering: no second flow
    assert len(r.net("open")) == 1


def test_rej():
    r = Rec()
    s = TcpSession(SBX, 40002, OUT, 8081)
    r.feed(s.syn())
    s.cseq += 1
    r.feed(s.reset(False))
    assert r.state() == "REJ"


@pytest.mark.parametrize("client_resets,state", [(True, "RSTO"), (False, "RSTR")])
def test_rst_after_establishment(client_resets, state):
    r = Rec()
    s = TcpSession(SBX, 40003, OUT, 80)
    r.feed(s.handshake() + s.reset(client_resets))
    assert r.state() == state


def test_half_close_then_timeout_is_s2():
    r = Rec(tcp_timeout=10.0, linger=1.0)
    s = TcpSession(SBX, 40004, OUT, 80)
    r.feed(s.handshake() + s.send(b"x") + [s._frame(True, 0x11)])
    r.table.expire(r.t + 11)
    assert r.state() == "S2"
    assert r.table.stats().flows == 0


def test_syn_fin_is_sh_and_syn_rst_is_rstos0():
    r = Rec()
    s = TcpSession(SBX, 40005, OUT, 80)
    r.feed(s.syn() + [tcp_packet(SBX, 40005, OUT, 80, 0x01, 1001)])
    r.table.expire(r.t + 60)
    assert r.state() == "SH"
    r2 = Rec()
    r2.feed(s.syn() + s.reset(True))
    assert r2.state() == "RSTOS0"


def test_midstream_is_oth_and_oriented_by_port():
    r = Rec()
    r.feed([tcp_packet(OUT, 443, SBX, 50000, TCP_ACK, 10, 20, b"abc")])
    r.table.flush()
    op = r.net("open")[0]
    assert op.src_ip == SBX and op.src_port == 50000 and op.dst_port == 443 and op.initiated
    assert r.state() == "OTH"


def test_synack_first_flips_originator():
    r = Rec()
    r.feed([tcp_packet(OUT, 22, SBX, 50001, TCP_SYN | TCP_ACK, 5, 6)])
    op = r.net("open")[0]
    assert op.src_port == 50001 and op.dst_port == 22


def test_inbound_connection_is_not_initiated_but_local_first():
    r = Rec()
    s = TcpSession(OUT, 51000, SBX, 8080)
    frames = s.handshake()
    for i, f in enumerate(frames):
        r.feed([f], from_local=(i == 1))  # the SYN-ACK comes from the sandbox
    op = r.net("open")[0]
    assert not op.initiated and op.src_ip == SBX and op.src_port == 8080 and op.dst_ip == OUT


def test_local_nets_decide_the_side():
    events = []
    table = FlowTable(events.append, local_nets=["10.213.0.0/16"])
    s = TcpSession(OUT, 51000, SBX, 8080)
    for f in s.handshake():
        table.process(decode_ethernet(f), 1.0)
    assert events[0].src_ip == SBX and not events[0].initiated


def test_bytes_from_sequence_numbers_when_packets_are_missing():
    r = Rec()
    s = TcpSession(SBX, 40006, OUT, 9000)
    frames = s.handshake() + s.send(b"a" * 14600) + s.close()
    data = [f for f in frames[3:-3]]
    kept = frames[:3] + data[:2] + data[-2:] + frames[-3:]  # most data packets filtered away
    r.feed(kept)
    close = r.net("close")[0]
    assert close.bytes_out == 14600
    assert close.packets_out < 10


def test_first_payload_buffer_is_bounded_and_reassembled():
    r = Rec(inspect_bytes=2048)
    s = TcpSession(SBX, 40007, OUT, 8443, mss=20)
    line = b'{"id":1,"method":"mining.authorize","params":["w.1","x"]}\n'
    r.feed(s.handshake() + s.send(line))
    t = r.net("traffic")
    assert len(t) == 1 and dict(t[0].detail)["login"] == "w.1"
    flow = r.table.flows()[0]
    assert not flow.o.inspecting and len(flow.o.buf) <= 2048


def test_inspection_stops_after_packet_limit():
    r = Rec(inspect_packets=3)
    s = TcpSession(SBX, 40008, OUT, 8000, mss=10)
    r.feed(s.handshake() + s.send(b"z" * 100))
    flow = r.table.flows()[0]
    assert not flow.o.inspecting and flow.o.data_pkts == 3 and r.net("traffic") == []


@pytest.mark.parametrize("reverse", [False, True])
def test_ssh_roles(reverse):
    r = Rec()
    s = TcpSession(SBX, 40009, OUT, 443)
    r.feed(s.handshake())
    r.feed(s.send(OPENSSH.encode() + b"\r\n" + kexinit(server=reverse)))
    r.feed(s.send(OPENSSH.encode() + b"\r\n" + kexinit(server=not reverse), False))
    ssh = [e for e in r.net("traffic") if e.app_protocol == "ssh"]
    banners = [e for e in ssh if dict(e.detail).get("banner")]
    roles = {dict(e.detail).get("ssh_server") for e in ssh} - {None}
    assert len(banners) == 2 and dict(banners[0].detail)["first_speaker"] == "local"
    assert roles == {"local" if reverse else "remote"}


def test_dns_udp_events():
    r = Rec()
    r.feed([udp_packet(SBX, 53000, "10.213.0.1", 53, dns_message("metadata.google.internal"))])
    r.feed(
        [
            udp_packet(
                "10.213.0.1",
                53,
                SBX,
                53000,
                dns_message(
                    "metadata.google.internal", answers=[(1, socket.inet_aton("169.254.169.254"))]
                ),
            )
        ]
    )
    dns = [e for e in r.events if isinstance(e, DnsEvent)]
    assert [d.answers for d in dns] == [(), ("169.254.169.254",)]
    assert all(d.query_name == "metadata.google.internal" and d.src_ip == SBX for d in dns)
    assert dns[1].rcode == "NOERROR"


def test_dns_over_tcp():
    r = Rec()
    s = TcpSession(SBX, 40010, "10.213.0.1", 53)
    q = dns_message("a.example")
    r.feed(s.handshake() + s.send(len(q).to_bytes(2, "big") + q))
    dns = [e for e in r.events if isinstance(e, DnsEvent)]
    assert [d.query_name for d in dns] == ["a.example"]


def test_eviction_closes_and_counts():
    r = Rec(max_flows=2)
    for port in (1, 2, 3):
        r.feed(TcpSession(SBX, 40000 + port, OUT, 80).syn())
    assert r.table.stats().evicted == 1
    close = r.net("close")[0]
    assert dict(close.detail)["reason"] == "evicted" and close.src_port == 40001


def test_port_reuse_with_new_isn_is_a_new_flow():
    r = Rec()
    r.feed(
        TcpSession(SBX, 40011, OUT, 80).handshake() + TcpSession(SBX, 40011, OUT, 80).reset(True)
    )
    r.feed(TcpSession(SBX, 40011, OUT, 80, cisn=99999).syn())
    assert len(r.net("open")) == 2


def test_update_events_for_long_flows():
    r = Rec(update_interval=10.0)
    s = TcpSession(SBX, 40012, OUT, 22)
    r.feed(s.handshake())
    for _ in range(3):
        r.t += 6
        r.feed(s.send(b"k"))
    updates = [e for e in r.net("traffic") if dict(e.detail).get("update")]
    assert len(updates) == 1 and float(dict(updates[0].detail)["duration"]) >= 10


def test_bulk_callback_after_inspection():
    seen = []
    events = []
    table = FlowTable(events.append, FlowConfig(bulk_pps=200), on_bulk=seen.append)
    s = TcpSession(SBX, 40013, OUT, 5001)
    t = 0.0
    for f in s.handshake() + s.send(b"b" * 1460 * 200):
        table.process(decode_ethernet(f), t, None)
        t += 0.0001
    assert seen and seen[0].o_port == 40013
    slow = FlowTable(events.append, FlowConfig(bulk_pps=200), on_bulk=seen.append)
    seen.clear()
    s2 = TcpSession(SBX, 40014, OUT, 5001)
    for f in s2.handshake() + s2.send(b"b" * 1460 * 100):
        slow.process(decode_ethernet(f), t, None)
        t += 0.1  # 10 pps
    assert seen == []


def test_sampled_packets_are_weighted_and_flagged():
    r = Rec()
    s = TcpSession(SBX, 40015, OUT, 5001)
    r.feed(s.handshake())
    p = decode_ethernet(s.send(b"q" * 100)[0])
    r.table.process(p, r.t, None, weight=64)
    r.table.flush()
    close = r.net("close")[0]
    assert close.packets_out == 2 + 64 and dict(close.detail)["packets_estimated"] == "true"


def test_quic_initial_fingerprint():
    r = Rec()
    r.feed(
        [
            udp_packet(
                SBX, 50000, OUT, 443, bytes([0xC3]) + (1).to_bytes(4, "big") + b"\x08" + b"\0" * 100
            )
        ]
    )
    t = r.net("traffic")
    assert t and t[0].app_protocol == "quic"


def test_hostname_from_dns_answers_and_sni():
    from watchkeeper.testing.packets import tls_client_hello, tls_ext_sni

    r = Rec()
    r.feed(
        [
            udp_packet(
                "10.213.0.1",
                53,
                SBX,
                53001,
                dns_message("pool.example", answers=[(1, socket.inet_aton(OUT))]),
            )
        ]
    )
    r.feed(TcpSession(SBX, 40020, OUT, 3333).syn())
    assert r.net("open")[-1].dst_hostname == "pool.example"
    s = TcpSession(SBX, 40021, "192.0.2.99", 443)
    r.feed(s.handshake() + s.send(tls_client_hello([0x1301], [tls_ext_sni("Api.Example.org")])))
    t = [e for e in r.net("traffic") if e.app_protocol == "tls"]
    assert t[0].dst_hostname == "api.example.org" and dict(t[0].detail)["sni"] == "Api.Example.org"


def test_buffer_budget_bounds_memory_and_buffers_are_freed():
    r = Rec(max_buffered=3000)
    for port in range(5):
        s = TcpSession(SBX, 41000 + port, OUT, 9999)
        r.feed(s.handshake() + s.send(b"\x00" * 1000))  # unrecognised, below the 2 KiB limit
    st = r.table.stats()
    assert st.buffered <= 3000
    r.table.flush()
    assert r.table.stats().buffered == 0


def test_cut_line_is_judged_when_the_flow_is_reset():
    r = Rec()
    s = TcpSession(SBX, 40030, OUT, 80)
    r.feed(
        s.handshake() + s.send(b'{"id":1,"method":"mining.subscribe","params":["x"') + s.reset(True)
    )
    acts = [(e.activity, e.app_protocol) for e in r.net()]
    assert acts == [("open", ""), ("traffic", "stratum"), ("close", "stratum")]


_PKT = st.tuples(
    st.booleans(),  # from the sandbox side
    st.integers(0, 0x3F),  # TCP flags
    st.integers(0, 0xFFFFFFFF),  # seq
    st.sampled_from(
        [
            b"",
            b"SSH-2.0-x\r\n",
            b'{"method":"mining.notify"}\n',
            b"\x16\x03\x01\x00\x05hello",
            b"x" * 3000,
        ]
    ),
    st.sampled_from([22, 53, 443, 3333]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PKT, max_size=40), st.booleans())
def test_random_packet_sequences_keep_the_invariants(packets, udp):
    events = []
    table = FlowTable(events.append, FlowConfig(max_flows=4))
    t = 0.0
    for from_sbx, flags, seq, payload, port in packets:
        if udp:
            frame = (
                udp_packet(SBX, 40000, OUT, port, payload)
                if from_sbx
                else udp_packet(OUT, port, SBX, 40000, payload)
            )
        elif from_sbx:
            frame = tcp_packet(SBX, 40000 + port % 3, OUT, port, flags, seq, 0, payload)
        else:
            frame = tcp_packet(OUT, port, SBX, 40000 + port % 3, flags, seq, 0, payload)
        table.process(decode_ethernet(frame), t, from_sbx)
        t += 0.5
        table.expire(t)
    table.flush(t + 1)
    st_ = table.stats()
    assert st_.opened == st_.closed and st_.buffered == 0 and st_.flows == 0
    net = [e for e in events if isinstance(e, NetworkEvent)]
    assert sum(e.activity == "open" for e in net) == sum(e.activity == "close" for e in net)
    assert all(e.bytes_out >= 0 and e.bytes_in >= 0 for e in net)
