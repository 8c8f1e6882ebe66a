"""HTTP/1.x request and response recognition (first payload bytes of a direction)."""

from __future__ import annotations

from watchkeeper.netproto._fingerprint import Fingerprint, ascii_text
from watchkeeper.netproto._stratum import parse_stratum

METHODS = frozenset(
    {b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE"}
)
MAX_HEADERS = 64
MAX_HEAD = 8192
_KEEP = {b"host": "host", b"user-agent": "user_agent", b"upgrade": "upgrade",
         b"content-type": "content_type", b"server": "server"}  # fmt: skip


def parse_http(data: bytes, final: bool = False) -> Fingerprint | None:
    """Recognise an HTTP/1.x request or response at the start of ``data``.

    Args:
        data: The first payload bytes of one direction of a flow.
        final: No more bytes will come: accept a head without its blank line.
    """
    head_end = data.find(b"\r\n\r\n", 0, MAX_HEAD)
    if head_end < 0 and not final:
        return None  # wait for the whole head
    head = data[: head_end if head_end >= 0 else MAX_HEAD]
    lines = head.split(b"\r\n", MAX_HEADERS + 1)
    start = _start_line(lines[0])
    if start is None:
        return None
    detail = list(start)
    for line in lines[1 : MAX_HEADERS + 1]:
        name, sep, value = line.partition(b":")
        key = _KEEP.get(name.strip().lower())
        if sep and key is not None:
            detail.append((key, ascii_text(value.strip())))
    if head_end >= 0 and detail[0][0] == "method":
        body = data[head_end + 4 :]
        fp = parse_stratum(body, final=True) if body.lstrip().startswith(b"{") else None
        if fp is not None:
            detail.append(("jsonrpc_method", fp.get("method")))
    if head_end < 0:
        detail.append(("partial", "true"))
    return Fingerprint("http", tuple(detail))


def _start_line(line: bytes) -> tuple[tuple[str, str], ...] | None:
    parts = line.split(b" ", 2)
    if len(parts) < 2:
        return None
    if parts[0].startswith(b"HTTP/1.") and len(parts[0]) == 8:
        code = parts[1]
        if len(code) != 3 or not code.isdigit():
            return None
        return (("response", "true"), ("status", code.decode()))
    if parts[0] in METHODS and len(parts) == 3 and parts[2].startswith(b"HTTP/1."):
        return (("method", parts[0].decode()), ("path", ascii_text(parts[1])),
                ("version", ascii_text(parts[2][5:], 8)))  # fmt: skip
    return None
