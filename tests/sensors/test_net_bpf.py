import os
import socket

import pytest

from watchkeeper.netproto import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN
from watchkeeper.sensors._net_bpf import BPF_MAXINSNS, FilterConfig, attach, build_program
from watchkeeper.testing.cbpf import run_filter
from watchkeeper.testing.packets import ethernet, ip_packet, tcp_packet, tcp_segment, udp_packet

CFG = FilterConfig()
A, B = "10.213.0.2", "10.213.0.1"


def data(sport=40000, dport=3333, flags=TCP_ACK | TCP_PSH, size=1400):
    return tcp_packet(A, sport, B, dport, flags, payload=b"x" * size)


@pytest.mark.parametrize("flags", [TCP_SYN, TCP_SYN | TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST])
def test_control_packets_always_pass_in_full(flags):
    prog = build_program([(40000, 3333)])
    assert run_filter(prog, data(flags=flags), random=lambda: 1) == CFG.snap_data


def test_data_of_unlisted_flows_passes_snapped():
    prog = build_program([(40000, 3333)])
    assert run_filter(prog, data(sport=40001)) == CFG.snap_data
    assert run_filter(prog, udp_packet(A, 5000, B, 53, b"q")) == CFG.snap_data


@pytest.mark.parametrize("forward", [True, False])
def test_excluded_flow_is_sampled_both_directions(forward):
    prog = build_program([(40000, 3333)])
    pkt = data() if forward else tcp_packet(B, 3333, A, 40000, TCP_ACK)
    assert run_filter(prog, pkt, random=lambda: 0) == CFG.snap_headers  # the sampled one
    assert run_filter(prog, pkt, random=lambda: 5) == 0  # the rest stays in the kernel


def test_sampling_rate():
    prog = build_program([(40000, 3333)], FilterConfig(sample=8))
    passed = sum(bool(run_filter(prog, data(), random=lambda i=i: i)) for i in range(64))
    assert passed == 64 // 8


def test_ipv6_and_udp_exclusion():
    prog = build_program([(40000, 443)])
    v6 = ethernet(
        ip_packet("fd00::2", "fd00::1", 6, tcp_segment(40000, 443, TCP_ACK, payload=b"y"))
    )
    assert run_filter(prog, v6, random=lambda: 3) == 0
    v6syn = ethernet(ip_packet("fd00::2", "fd00::1", 6, tcp_segment(40000, 443, TCP_SYN)))
    assert run_filter(prog, v6syn, random=lambda: 3) == CFG.snap_data
    assert run_filter(prog, udp_packet(A, 40000, B, 443, b"quic"), random=lambda: 3) == 0


def test_other_frames():
    prog = build_program()
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28
    assert run_filter(prog, arp) == CFG.snap_other
    icmp = ethernet(ip_packet(A, B, 1, b"\x08\0\0\0" + b"p" * 100))
    assert run_filter(prog, icmp) == CFG.snap_other


def test_program_size_limits():
    pairs = [(10000 + i, 443) for i in range(CFG.max_excluded + 50)]
    prog = build_program(pairs)
    assert len(prog) <= BPF_MAXINSNS
    with pytest.raises(ValueError):
        FilterConfig(sample=3)
    with pytest.raises(ValueError):
        FilterConfig(max_excluded=2000)


@pytest.mark.root
def test_kernel_accepts_the_program():
    if os.geteuid() != 0:
        pytest.skip("needs root for AF_PACKET")
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        attach(sock, build_program())
        attach(sock, build_program([(10000 + i, 443) for i in range(CFG.max_excluded)]))
    finally:
        sock.close()
