import pytest

from watchkeeper.netproto import identify
from watchkeeper.testing.packets import tls_client_hello, tls_ext_sni


@pytest.mark.parametrize(
    "data,proto",
    [
        (b'{"id":1,"method":"mining.subscribe","params":[]}\n', "stratum"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "ssh"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "http"),
        (b"HTTP/1.0 200 OK\r\n\r\n", "http"),
        (tls_client_hello([0x1301], [tls_ext_sni("a.example")]), "tls"),
    ],
)
def test_dispatch(data, proto):
    fp = identify(data)
    assert fp is not None and fp.app_protocol == proto


def test_quic_initial_on_udp():
    data = bytes([0xC3]) + (1).to_bytes(4, "big") + b"\x08" + b"\0" * 1200
    fp = identify(data, udp=True)
    assert fp is not None and fp.app_protocol == "quic" and fp.get("version") == "1"
    assert identify(b"\x40" + b"\0" * 30, udp=True) is None


def test_nothing():
    assert identify(b"") is None
    assert identify(b"\x00\x01binary", final=True) is None
