import pytest

from watchkeeper.netproto import parse_http


def test_request_fields():
    fp = parse_http(
        b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: curl/8.0\r\n\r\n"
    )
    assert fp is not None and fp.app_protocol == "http"
    assert fp.get("method") == "GET" and fp.get("path") == "/latest/meta-data/"
    assert fp.get("host") == "169.254.169.254" and fp.get("user_agent") == "curl/8.0"


def test_response_status():
    fp = parse_http(b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n")
    assert fp is not None and fp.get("status") == "404" and fp.get("server") == "x"


def test_connect_and_websocket_upgrade():
    fp = parse_http(b"CONNECT pool.example:3333 HTTP/1.1\r\nHost: pool.example:3333\r\n\r\n")
    assert (
        fp is not None and fp.get("method") == "CONNECT" and fp.get("path") == "pool.example:3333"
    )
    fp = parse_http(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")
    assert fp is not None and fp.get("upgrade") == "websocket"


def test_json_rpc_getwork_body():
    body = b'{"method": "getblocktemplate", "params": [], "id": 1}\n'
    fp = parse_http(b"POST / HTTP/1.1\r\nHost: n\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert fp is not None and fp.get("jsonrpc_method") == "getblocktemplate"


def test_incomplete_head():
    assert parse_http(b"GET / HTTP/1.1\r\nHost: a\r\n") is None
    fp = parse_http(b"GET / HTTP/1.1\r\nHost: a\r\n", final=True)
    assert fp is not None and fp.get("partial") == "true"


@pytest.mark.parametrize(
    "data",
    [b"GETX / HTTP/1.1\r\n\r\n", b"HTTP/1.1 20 OK\r\n\r\n", b"GET /\r\n\r\n", b"Hello\r\n\r\n"],
)
def test_not_http(data):
    assert parse_http(data, final=True) is None
