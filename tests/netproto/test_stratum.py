import json

import pytest

from watchkeeper.netproto import parse_stratum


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def test_subscribe_with_agent():
    fp = parse_stratum(line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10"]}))
    assert fp is not None and fp.app_protocol == "stratum"
    assert fp.get("method") == "mining.subscribe" and fp.get("agent") == "cgminer/4.10"
    assert fp.get("role") == "client" and fp.get("variant") == "stratum"


def test_authorize_login():
    fp = parse_stratum(line({"id": 2, "method": "mining.authorize", "params": ["wallet.rig", "x"]}))
    assert fp is not None and fp.get("login") == "wallet.rig"


@pytest.mark.parametrize("method", ["mining.notify", "mining.set_difficulty"])
def test_server_notifications(method):
    fp = parse_stratum(line({"id": None, "method": method, "params": [1]}))
    assert fp is not None and fp.get("role") == "server"


def test_unknown_mining_method_still_counts():
    fp = parse_stratum(line({"id": 3, "method": "mining.something_new", "params": []}))
    assert fp is not None and fp.get("method") == "mining.something_new"


def test_cryptonote_login():
    msg = {
        "id": 1,
        "jsonrpc": "2.0",
        "method": "login",
        "params": {"login": "4WALLET", "pass": "x", "agent": "XMRig/6.21.0", "algo": ["rx/0"]},
    }
    fp = parse_stratum(line(msg))
    assert fp is not None and fp.get("variant") == "cryptonote"
    assert fp.get("login") == "4WALLET" and fp.get("agent") == "XMRig/6.21.0"
    assert fp.get("algo") == "rx/0"


@pytest.mark.parametrize(
    "msg",
    [
        {"id": 1, "method": "job", "params": {"blob": "00", "job_id": "1", "target": "ff"}},
        {
            "id": 1,
            "method": "submit",
            "params": {"id": "w", "job_id": "1", "nonce": "00", "result": "ab"},
        },
        {"id": 1, "method": "keepalived", "params": {"id": "w"}},
        {
            "id": 1,
            "jsonrpc": "2.0",
            "error": None,
            "result": {"job": {"blob": "07", "job_id": "a", "target": "b"}},
        },
        {
            "id": 1,
            "result": [[["mining.set_difficulty", "1"], ["mining.notify", "1"]], "08", 4],
            "error": None,
        },
        {"id": 1, "method": "getblocktemplate", "params": []},
    ],
)
def test_cryptonote_and_pool_answers(msg):
    assert parse_stratum(line(msg)) is not None


@pytest.mark.parametrize(
    "data",
    [
        line(
            {"id": 1, "method": "login", "params": {"user": "bob", "password": "pw"}}
        ),  # app login
        line({"id": 1, "method": "submit", "params": {"form": 1}}),
        line({"id": 1, "method": "textDocument/didOpen", "params": {}}),  # LSP
        line({"jsonrpc": "2.0", "result": {"ok": True}, "id": 1}),
        b'{"hello": "world"}\n',
        b"[1,2,3]\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"",
    ],
)
def test_not_stratum(data):
    assert parse_stratum(data, final=True) is None


def test_waits_for_the_line_end_unless_final():
    data = b'{"id":1,"method":"mining.subscribe","params":["agent'
    assert parse_stratum(data) is None
    fp = parse_stratum(data, final=True)
    assert fp is not None and fp.get("method") == "mining.subscribe" and fp.get("partial") == "true"


def test_cut_cryptonote_login_is_recognised_by_pattern():
    msg = line(
        {
            "id": 1,
            "jsonrpc": "2.0",
            "method": "login",
            "params": {
                "login": "4" + "A" * 94,
                "pass": "x",
                "agent": "XMRig/6.21.0",
                "algo": ["x"] * 300,
            },
        }
    )
    fp = parse_stratum(msg[:200], final=True)
    assert fp is not None and fp.get("login") == "4" + "A" * 94


def test_second_line_counts():
    data = b'{"id":0,"method":"hello"}\n' + line(
        {"id": 1, "method": "mining.subscribe", "params": []}
    )
    fp = parse_stratum(data)
    assert fp is not None and fp.get("method") == "mining.subscribe"


def test_deep_nesting_does_not_raise():
    data = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    assert parse_stratum(data, final=True) is None


def test_application_login_is_not_a_miner():
    assert (
        parse_stratum(
            line({"id": 1, "method": "login", "params": {"login": "bob", "pass": "pw"}}), final=True
        )
        is None
    )
