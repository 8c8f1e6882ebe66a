"""Random and mutated bytes never make a parser raise or hang."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.netproto import (
    decode_ethernet,
    decode_link,
    identify,
    parse_dns,
    parse_http,
    parse_ssh,
    parse_stratum,
    parse_tls,
    ssh_role,
)
from watchkeeper.testing.packets import dns_message, tcp_packet, tls_client_hello, tls_ext_sni

SEEDS = [
    tcp_packet("10.0.0.2", 1, "10.0.0.1", 2, 0x18, payload=b"SSH-2.0-x\r\n"),
    tls_client_hello([0x1301, 0x0A0A], [tls_ext_sni("example.com")]),
    dns_message("a.example", 1, answers=[(1, b"\x01\x02\x03\x04")]),
    b'{"id":1,"method":"mining.subscribe","params":["x"]}\n',
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all(data: bytes) -> None:
    decode_ethernet(data)
    for lt in (0, 1, 101, 113, 276):
        decode_link(lt, data)
    parse_dns(data)
    ssh_role(data)
    for final in (False, True):
        identify(data, final=final)
        identify(data, udp=True, final=final)
        parse_tls(data, final)
        parse_http(data, final)
        parse_ssh(data, final)
        parse_stratum(data, final)


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _all(data)


@FAST
@given(
    st.sampled_from(SEEDS),
    st.integers(0, 4096),
    st.binary(min_size=1, max_size=8),
    st.integers(0, 4096),
)
def test_mutated_seeds(seed, pos, junk, cut):
    pos %= len(seed)
    data = seed[:pos] + junk + seed[pos + len(junk) :]
    _all(data[: cut % (len(data) + 1)])


@FAST
@given(
    st.sampled_from(
        [b"\x16\x03\x01", b"SSH-2.0-", b"{", b"GET / HTTP/1.1\r\n", b"\x00\x01\x01\x00\x00\x01"]
    ),
    st.binary(max_size=1024),
)
def test_prefixed_random(prefix, rest):
    _all(prefix + rest)
