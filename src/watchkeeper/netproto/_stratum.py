"""Stratum v1 and CryptoNote (XMRig-style) JSON-RPC recognition.

Both are newline-delimited JSON-RPC over raw TCP, on any port. A line counts as mining traffic
when its method is a stratum ``mining.*`` method, a getwork/getblocktemplate call, or a
CryptoNote method with the CryptoNote parameter shape (``login`` with login/pass, ``submit`` with
job_id/nonce, ``job`` with blob/job_id/target, ``keepalived``), or when it is a pool's answer
(a subscribe result naming mining.notify, a login result carrying a job). A CryptoNote ``login``
needs login, pass and one of agent/algo/rigid, so an application's JSON-RPC login is not taken
for a miner.
"""

from __future__ import annotations

import json
import re
from typing import Any

from watchkeeper.netproto._fingerprint import Fingerprint, clean

MAX_LINES = 4
MAX_LINE = 4096

STRATUM_CLIENT_METHODS = frozenset(
    {"mining.subscribe", "mining.authorize", "mining.submit", "mining.get_transactions",
     "mining.extranonce.subscribe", "mining.configure", "mining.suggest_difficulty"}
)  # fmt: skip
STRATUM_SERVER_METHODS = frozenset(
    {"mining.notify", "mining.set_difficulty", "mining.set_extranonce", "mining.set_version_mask"}
)
GBT_METHODS = frozenset({"getblocktemplate", "submitblock", "getwork", "getjob"})
CRYPTONOTE_CLIENT_METHODS = frozenset({"login", "submit", "keepalived", "getjob"})
CRYPTONOTE_SERVER_METHODS = frozenset({"job"})

_METHOD_RE = re.compile(rb'"method"\s*:\s*"([A-Za-z0-9_.]{1,64})"')
_STR_RE = {
    key: re.compile(rb'"' + key.encode() + rb'"\s*:\s*"([^"\\]{0,256})')
    for key in ("agent", "login", "user", "algo")
}


def parse_stratum(data: bytes, final: bool = False) -> Fingerprint | None:
    """Recognise stratum/CryptoNote JSON-RPC at the start of ``data``.

    Args:
        data: The first payload bytes of one direction of a flow.
        final: No more bytes will come: also judge an unterminated (cut) first line, by pattern.
    """
    head = data.lstrip(b" \t\r\n")
    if not head.startswith(b"{"):
        return None
    parts = head.split(b"\n", MAX_LINES)
    for line in parts[:-1]:
        fp = _judge_line(line)
        if fp is not None:
            return fp
    if final and parts[-1].strip():
        return _judge_line(parts[-1][:MAX_LINE])
    return None


def _judge_line(line: bytes) -> Fingerprint | None:
    line = line.strip()
    if not line.startswith(b"{"):
        return None
    if len(line) > MAX_LINE:
        return _judge_loose(line[:MAX_LINE])
    try:
        msg = json.loads(line)
    except (ValueError, RecursionError):
        return _judge_loose(line)
    if not isinstance(msg, dict):
        return None
    return _judge_message(msg)


def _judge_message(msg: dict[str, Any]) -> Fingerprint | None:
    method = msg.get("method")
    params = msg.get("params")
    if isinstance(method, str):
        return _judge_method(method, params)
    result = msg.get("result")
    if "id" in msg and result is not None:
        return _judge_result(result)
    return None


def _judge_method(method: str, params: Any) -> Fingerprint | None:
    detail: list[tuple[str, str]] = [("method", clean(method, 64))]
    if method.startswith("mining."):
        role = "server" if method in STRATUM_SERVER_METHODS else "client"
        detail += [("variant", "stratum"), ("role", role)]
        if isinstance(params, list) and params and isinstance(params[0], str):
            if method == "mining.subscribe":
                detail.append(("agent", clean(params[0])))
            elif method in ("mining.authorize", "mining.submit"):
                detail.append(("login", clean(params[0])))
        return Fingerprint("stratum", tuple(detail))
    if method in GBT_METHODS:
        return Fingerprint(
            "stratum", (*detail, ("variant", "getblocktemplate"), ("role", "client"))
        )
    if method in CRYPTONOTE_CLIENT_METHODS or method in CRYPTONOTE_SERVER_METHODS:
        if not _cryptonote_shape(method, params):
            return None
        role = "server" if method in CRYPTONOTE_SERVER_METHODS else "client"
        detail += [("variant", "cryptonote"), ("role", role)]
        if isinstance(params, dict):
            for key in ("login", "agent", "algo", "rigid"):
                value = params.get(key)
                if isinstance(value, list):
                    value = ",".join(str(v) for v in value[:16])
                if isinstance(value, str | int) and value != "":
                    detail.append((key, clean(value)))
        return Fingerprint("stratum", tuple(detail))
    return None


def _cryptonote_shape(method: str, params: Any) -> bool:
    if method == "keepalived":
        return True
    if not isinstance(params, dict):
        return False
    keys = params.keys()
    if method == "login":  # XMRig sends login, pass, agent, algo; an app login lacks the last two
        return (
            "login" in keys
            and "pass" in keys
            and any(k in keys for k in ("agent", "algo", "rigid"))
        )
    if method == "submit":
        return "job_id" in keys and "nonce" in keys
    if method == "job":
        return "blob" in keys and "job_id" in keys
    if method == "getjob":
        return "id" in keys
    return False


def _judge_result(result: Any) -> Fingerprint | None:
    if isinstance(result, dict):
        job = result.get("job")
        if isinstance(job, dict) and "blob" in job and "job_id" in job:
            return Fingerprint(
                "stratum",
                (("method", "login.result"), ("variant", "cryptonote"), ("role", "server")),
            )
        return None
    if isinstance(result, list) and result and isinstance(result[0], list):
        text = json.dumps(result[0])[:MAX_LINE]
        if "mining.notify" in text or "mining.set_difficulty" in text:
            return Fingerprint(
                "stratum",
                (("method", "mining.subscribe.result"), ("variant", "stratum"), ("role", "server")),
            )
    return None


def _judge_loose(line: bytes) -> Fingerprint | None:
    """Pattern judgement of a line that is not complete JSON (cut by the snap length)."""
    m = _METHOD_RE.search(line)
    if m is None:
        return None
    method = m.group(1).decode("ascii")
    params: dict[str, Any] = {}
    for key, rx in _STR_RE.items():
        hit = rx.search(line)
        if hit is not None:
            params[key] = hit.group(1).decode("utf-8", "replace")
    if method.startswith("mining.") or method in GBT_METHODS:
        fp = _judge_method(method, None)
    elif (
        method == "login"
        and b'"login"' in line
        and b'"pass"' in line
        and (b'"agent"' in line or b'"algo"' in line or b'"rigid"' in line)
    ):
        fp = _judge_method(method, {"pass": "", "agent": "", **params})
    elif method == "submit" and b'"job_id"' in line and b'"nonce"' in line:
        fp = _judge_method(method, {"job_id": "", "nonce": ""})
    elif method == "job" and b'"blob"' in line and b'"job_id"' in line:
        fp = _judge_method(method, {"blob": "", "job_id": ""})
    elif method == "keepalived":
        fp = _judge_method(method, None)
    else:
        return None
    if fp is None:
        return None
    extra = tuple(
        (k, clean(v)) for k, v in params.items() if v and all(k != d for d, _ in fp.detail)
    )
    return Fingerprint("stratum", fp.detail + extra + (("partial", "true"),))
