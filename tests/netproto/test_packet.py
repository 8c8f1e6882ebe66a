import struct

import pytest

from watchkeeper.netproto import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_SYN,
    decode_ethernet,
    decode_ip,
    decode_link,
    ip_text,
)
from watchkeeper.testing.packets import (
    ethernet,
    ip_packet,
    tcp_packet,
    tcp_segment,
    udp_datagram,
    udp_packet,
)


def test_ipv4_tcp_fields():
    frame = tcp_packet("10.0.0.2", 40000, "10.0.0.1", 3333, TCP_SYN | TCP_ACK, 7, 9, b"hello")
    p = decode_ethernet(frame)
    assert p is not None
    assert (p.version, p.proto, p.sport, p.dport) == (4, PROTO_TCP, 40000, 3333)
    assert ip_text(p.src) == "10.0.0.2" and ip_text(p.dst) == "10.0.0.1"
    assert p.tcp_flags == TCP_SYN | TCP_ACK and (p.seq, p.ack) == (7, 9)
    assert p.payload == b"hello" and p.payload_len == 5 and p.ip_len == 20 + 20 + 5


def test_ipv6_udp_and_extension_header():
    udp = udp_datagram(5353, 53, b"q" * 10)
    # hop-by-hop header (8 bytes) before UDP
    hbh = bytes([17, 0]) + b"\0" * 6
    ip = ip_packet("fd00::2", "fd00::1", 0, hbh + udp)
    p = decode_ip(ip)
    assert p is not None and p.proto == PROTO_UDP and p.dport == 53
    assert p.payload == b"q" * 10 and ip_text(p.src) == "fd00::2"


def test_snapped_packet_keeps_wire_lengths():
    frame = tcp_packet("10.0.0.2", 1, "10.0.0.1", 2, TCP_ACK, payload=b"x" * 1000)
    p = decode_ethernet(frame[:100])
    assert p is not None
    assert p.payload_len == 1000 and len(p.payload) == 100 - 54


def test_ethernet_padding_is_not_payload():
    frame = tcp_packet("10.0.0.2", 1, "10.0.0.1", 2, TCP_ACK) + b"\0" * 6
    p = decode_ethernet(frame)
    assert p is not None and p.payload == b"" and p.payload_len == 0


def test_vlan_tag():
    frame = tcp_packet("10.0.0.2", 1, "10.0.0.1", 2, TCP_SYN)
    tagged = frame[:12] + b"\x81\x00\x00\x05" + frame[12:]
    p = decode_ethernet(tagged)
    assert p is not None and p.sport == 1


def test_later_fragment_is_skipped_first_is_decoded():
    ip = bytearray(ip_packet("10.0.0.2", "10.0.0.1", 17, udp_datagram(1, 2, b"abc")))
    ip[6:8] = struct.pack("!H", 0x2000)  # MF, offset 0
    assert decode_ip(bytes(ip)) is not None
    ip[6:8] = struct.pack("!H", 0x0010)  # offset 16*8
    assert decode_ip(bytes(ip)) is None


def test_icmp_type_code_as_ports():
    ip = ip_packet("10.0.0.2", "10.0.0.1", 1, bytes([8, 0, 0, 0]) + b"\0\1\0\1ping")
    p = decode_ip(ip)
    assert p is not None and p.proto == PROTO_ICMP and (p.sport, p.dport) == (8, 0)


@pytest.mark.parametrize(
    "linktype,wrap",
    [
        (LINKTYPE_ETHERNET, lambda ip: ethernet(ip)),
        (LINKTYPE_RAW, lambda ip: ip),
        (LINKTYPE_LINUX_SLL, lambda ip: struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x0800) + ip),
        (
            LINKTYPE_LINUX_SLL2,
            lambda ip: struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 4, 6, b"\0" * 8) + ip,
        ),
        (0, lambda ip: struct.pack("<I", 2) + ip),
    ],
)
def test_link_types(linktype, wrap):
    ip = ip_packet("192.0.2.1", "192.0.2.2", 6, tcp_segment(1234, 22, TCP_SYN))
    p = decode_link(linktype, wrap(ip))
    assert p is not None and p.dport == 22


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 13,
        ethernet(b"\x45" + b"\0" * 10),  # short IPv4
        ethernet(bytes([0x44]) + b"\0" * 40),  # IHL 4*4 < 20
        ethernet(ip_packet("10.0.0.2", "10.0.0.1", 6, b"\0" * 12)),  # short TCP
        b"\xff" * 14 + b"\x08\x00",
    ],
)
def test_garbage_returns_none(frame):
    assert decode_ethernet(frame) is None


def test_udp_frame():
    p = decode_ethernet(udp_packet("10.0.0.2", 5000, "10.0.0.1", 53, b"abc"))
    assert p is not None and p.payload == b"abc" and p.payload_len == 3


def test_unsupported_linktype():
    assert decode_link(9999, b"\0" * 64) is None
