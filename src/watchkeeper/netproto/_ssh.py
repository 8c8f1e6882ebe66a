"""SSH recognition: the identification banner, and which side is the server.

Both SSH peers send ``SSH-protoversion-softwareversion [comments]`` first (RFC 4253 4.2); a server
may send other text lines before it. Which side is the *server* cannot be told from the banner
order (OpenSSH clients often speak first), so :func:`ssh_role` reads the unencrypted key exchange
that follows: the KEXINIT of OpenSSH-style peers names ``ext-info-c``/``kex-strict-c-*`` (client)
or ``ext-info-s``/``kex-strict-s-*`` (server), and the key-exchange messages 30/32/34 are sent by
clients, 31/33 by servers.
"""

from __future__ import annotations

import struct

from watchkeeper.netproto._fingerprint import Fingerprint, ascii_text

MAX_PRE_LINES = 8
MAX_LINE = 255
MAX_PACKETS = 8

_U32 = struct.Struct("!I")
_CLIENT_KEX = frozenset({30, 32, 34})
_SERVER_KEX = frozenset({31, 33})


def _banner_end(data: bytes) -> tuple[bytes, int] | None:
    """The version line and the offset just after it."""
    pos = 0
    for _ in range(MAX_PRE_LINES + 1):
        nl = data.find(b"\n", pos, pos + MAX_LINE + 1)
        if nl < 0:
            return None
        line = data[pos:nl].rstrip(b"\r")
        if line.startswith(b"SSH-"):
            return line, nl + 1
        if pos == 0 and not line.isascii():
            return None
        pos = nl + 1
    return None


def parse_ssh(data: bytes, final: bool = False) -> Fingerprint | None:
    """Recognise an SSH identification banner at the start of ``data``.

    Args:
        data: The first payload bytes of one direction of a flow.
        final: No more bytes will come: accept a banner without its line end.
    """
    found = _banner_end(data)
    if found is None:
        if not (final and data.startswith(b"SSH-")):
            return None
        line = data[:MAX_LINE].split(b"\r", 1)[0]
    else:
        line = found[0]
    parts = line.split(b"-", 2)
    if len(parts) < 3 or not parts[1] or not parts[1].replace(b".", b"").isdigit():
        return None
    software, _, comments = parts[2].partition(b" ")
    detail = [
        ("banner", ascii_text(line)),
        ("proto_version", ascii_text(parts[1], 8)),
        ("software", ascii_text(software, 128)),
    ]
    if comments:
        detail.append(("comments", ascii_text(comments, 128)))
    return Fingerprint("ssh", tuple(detail))


def ssh_role(data: bytes) -> str:
    """ "client", "server" or "" from the key exchange after the banner in ``data``."""
    found = _banner_end(data)
    if found is None:
        return ""
    pos = found[1]
    for _ in range(MAX_PACKETS):
        if len(data) < pos + 6:
            return ""
        length = _U32.unpack_from(data, pos)[0]
        pad = data[pos + 4]
        msg = data[pos + 5]
        if length < 5 or length > 35000 or pad < 4 or pad >= length:
            return ""
        if msg in _CLIENT_KEX:
            return "client"
        if msg in _SERVER_KEX:
            return "server"
        if msg == 20:  # KEXINIT: look at the (possibly cut) algorithm lists
            body = data[pos + 5 : pos + 4 + length]
            if b"ext-info-c" in body or b"kex-strict-c-v00@openssh.com" in body:
                return "client"
            if b"ext-info-s" in body or b"kex-strict-s-v00@openssh.com" in body:
                return "server"
        pos += 4 + length
    return ""
