import hashlib
import ssl

import pytest

from watchkeeper.netproto import is_grease, parse_tls
from watchkeeper.testing.packets import (
    tls_client_hello,
    tls_ext_alpn,
    tls_ext_sni,
    tls_ext_u16s,
    tls_server_hello,
)

# The worked example of the JA4 specification (FoxIO technical_details/JA4.md).
SPEC_CIPHERS = [
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
]
SPEC_EXT_ORDER = [
    0x001B,
    0x0000,
    0x0033,
    0x0010,
    0x4469,
    0x0017,
    0x002D,
    0x000D,
    0x0005,
    0x0023,
    0x0012,
    0x002B,
    0xFF01,
    0x000B,
    0x000A,
    0x0015,
]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_hello(grease: bool = False) -> bytes:
    exts = []
    for e in SPEC_EXT_ORDER:
        if e == 0x0000:
            exts.append(tls_ext_sni("example.com"))
        elif e == 0x0010:
            exts.append(tls_ext_alpn([b"h2", b"http/1.1"]))
        elif e == 0x000D:
            exts.append(tls_ext_u16s(13, SPEC_SIGALGS))
        elif e == 0x002B:
            exts.append(tls_ext_u16s(43, [0x0304, 0x0303], len_bytes=1))
        elif e == 0x000A:
            exts.append(tls_ext_u16s(10, [0x001D, 0x0017]))
        elif e == 0x000B:
            exts.append((11, b"\x01\x00"))
        else:
            exts.append((e, b""))
    ciphers = list(SPEC_CIPHERS)
    if grease:
        ciphers = [0x0A0A, *ciphers]
        exts = [(0x1A1A, b""), *exts, (0xFAFA, b"\0")]
    return tls_client_hello(ciphers, exts)


@pytest.mark.parametrize("grease", [False, True])
def test_ja4_matches_the_specification_example(grease):
    fp = parse_tls(spec_hello(grease))
    assert fp is not None and fp.app_protocol == "tls"
    a, b, c = fp.get("ja4").split("_")
    assert a == "t13d1516h2"
    assert b == "8daaf6152771"
    assert c == "e5627efa2ab1"


def test_client_hello_fields_and_ja3():
    fp = parse_tls(spec_hello(grease=True))
    assert fp is not None
    assert fp.get("hello") == "client" and fp.get("sni") == "example.com"
    assert fp.get("alpn") == "h2,http/1.1" and fp.get("version") == "1.3"
    ja3 = fp.get("ja3")
    version, ciphers, exts, groups, formats = ja3.split(",")
    assert version == "771"
    assert ciphers == "-".join(str(c) for c in SPEC_CIPHERS)  # GREASE removed
    assert exts == "-".join(str(e) for e in SPEC_EXT_ORDER)
    assert groups == "29-23" and formats == "0"
    assert fp.get("ja3_md5") == hashlib.md5(ja3.encode()).hexdigest()


def test_no_sni_no_alpn():
    fp = parse_tls(tls_client_hello([0x002F], [tls_ext_u16s(10, [23])]))
    assert fp is not None
    assert fp.get("ja4").startswith("t12i0101" + "00_")
    assert fp.get("sni") == ""


def test_non_alphanumeric_alpn_uses_hex():
    fp = parse_tls(tls_client_hello([0x002F], [tls_ext_alpn([b"\xab\xcd"])]))
    assert fp is not None and fp.get("ja4")[8:10] == "ad"


def test_real_openssl_client_hello():
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="pool.example.org")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    fp = parse_tls(hello)
    assert fp is not None
    assert fp.get("sni") == "pool.example.org" and fp.get("alpn") == "h2,http/1.1"
    assert fp.get("ja4").startswith("t13d") and fp.get("ja4")[8:10] == "h2"


def test_server_hello():
    fp = parse_tls(tls_server_hello(0x1301, [(43, b"\x03\x04"), tls_ext_alpn([b"h2"])]))
    assert fp is not None and fp.get("hello") == "server"
    assert fp.get("version") == "1.3" and fp.get("cipher") == "0x1301" and fp.get("alpn") == "h2"
    assert fp.get("ja3s") == "771,4865,43-16"


def test_hello_split_across_records_and_cut():
    hello = spec_hello()
    hs = hello[5:]
    two = b"\x16\x03\x01" + (100).to_bytes(2, "big") + hs[:100]
    two += b"\x16\x03\x01" + (len(hs) - 100).to_bytes(2, "big") + hs[100:]
    fp = parse_tls(two)
    assert fp is not None and fp.get("sni") == "example.com"
    assert parse_tls(hello[:120]) is None  # wait for more
    cut = parse_tls(hello[:120], final=True)
    assert cut is not None and cut.get("partial") == "true"


@pytest.mark.parametrize(
    "data", [b"\x16\x03\x01\x00\x00", b"\x17\x03\x03\x00\x10" + b"\0" * 16, b"\x16\x05\x01\x00\x10"]
)
def test_not_a_hello(data):
    assert parse_tls(data, final=True) is None


def test_grease_values():
    assert (
        is_grease(0x0A0A) and is_grease(0xFAFA) and not is_grease(0x0A0B) and not is_grease(0x1301)
    )
