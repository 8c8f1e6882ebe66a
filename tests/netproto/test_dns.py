import socket
import struct

import pytest

from watchkeeper.netproto import parse_dns
from watchkeeper.testing.packets import dns_message


def test_query():
    msg = parse_dns(dns_message("metadata.google.internal", 1))
    assert msg is not None and not msg.response
    assert (
        msg.questions == (("metadata.google.internal", "A"),)
        and msg.answers == ()
        and msg.rcode == ""
    )


def test_answers_with_compression():
    answers = [
        (5, b"\xc0\x0c"),
        (1, socket.inet_aton("192.0.2.7")),
        (28, socket.inet_pton(socket.AF_INET6, "2001:db8::1")),
    ]
    msg = parse_dns(dns_message("pool.example.org", 1, answers=answers))
    assert msg is not None and msg.response and msg.rcode == "NOERROR"
    assert [a[2] for a in msg.answers] == ["pool.example.org", "192.0.2.7", "2001:db8::1"]
    assert [a[1] for a in msg.answers] == ["CNAME", "A", "AAAA"]


def test_nxdomain_and_txt():
    msg = parse_dns(dns_message("x.example", 16, answers=[(16, b"\x05hello\x03abc")], rcode=3))
    assert msg is not None and msg.rcode == "NXDOMAIN" and msg.answers[0][2] == "helloabc"


def test_pointer_loop_is_bounded():
    header = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0)
    loop = header + b"\xc0\x0c" + b"\0\x01\0\x01"  # name points at itself
    assert parse_dns(loop) is None
    two = header + b"\xc0\x0e" + b"\xc0\x0c" + b"\0\x01\0\x01"  # two pointers at each other
    assert parse_dns(two) is None


def test_cut_answer_is_partial():
    full = dns_message("a.example", 1, answers=[(1, b"\x01\x02\x03\x04"), (1, b"\x05\x06\x07\x08")])
    msg = parse_dns(full[:-3])
    assert msg is not None and msg.partial and len(msg.answers) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0" * 11,
        struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0),
        struct.pack("!HHHHHH", 1, 0, 200, 0, 0, 0),
    ],
)
def test_not_dns(data):
    assert parse_dns(data) is None


def test_long_name_rejected():
    name = ".".join(["a" * 63] * 5)  # > 255
    assert parse_dns(dns_message(name)) is None
