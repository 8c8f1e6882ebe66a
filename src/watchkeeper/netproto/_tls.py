"""TLS ClientHello/ServerHello recognition with JA3, JA3S and JA4 fingerprints.

JA3 (Salesforce): ``version,ciphers,extensions,groups,point_formats`` in decimal, GREASE
removed, and its MD5. JA3S: ``version,cipher,extensions`` of the ServerHello. JA4 (FoxIO, TCP
form only): ``t`` + version + ``d``/``i`` (SNI) + cipher count + extension count + ALPN first/last
character, then the truncated SHA-256 of the sorted cipher list and of the sorted extension list
(without SNI and ALPN) followed by the signature algorithms in order.
"""

from __future__ import annotations

import hashlib
import struct

from watchkeeper.netproto._fingerprint import Fingerprint, ascii_text

MAX_HANDSHAKE = 16384
MAX_RECORDS = 8

_U16 = struct.Struct("!H")
_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0200: "s2"}
_VERSION_NAMES = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0", 0x0300: "ssl3"}


def is_grease(value: int) -> bool:
    """True for the reserved GREASE values (0x0a0a, 0x1a1a ... 0xfafa)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class _Reader:
    """Bounds-checked cursor; every read past the end raises _Short."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))

    def u8(self) -> int:
        if self.pos + 1 > self.end:
            raise _Short
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        if self.pos + 2 > self.end:
            raise _Short
        self.pos += 2
        return int(_U16.unpack_from(self.data, self.pos - 2)[0])

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Short
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def left(self) -> int:
        return self.end - self.pos


class _Short(Exception):
    """The structure runs past the available bytes."""


def _handshake(data: bytes) -> tuple[int, bytes, bool] | None:
    """(handshake type, body, complete) from the TLS records at the start of ``data``."""
    if len(data) < 6 or data[0] != 0x16 or data[1] != 0x03 or data[2] > 0x04:
        return None
    buf = bytearray()
    pos = 0
    for _ in range(MAX_RECORDS):
        if len(data) < pos + 5 or data[pos] != 0x16:
            break
        rlen = _U16.unpack_from(data, pos + 3)[0]
        if rlen == 0 or rlen > 18432:
            return None
        buf += data[pos + 5 : pos + 5 + rlen]
        pos += 5 + rlen
        if len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[1:4], "big"):
            break
        if len(buf) > MAX_HANDSHAKE:
            break
    if len(buf) < 4:
        return None
    hs_type = buf[0]
    hs_len = int.from_bytes(buf[1:4], "big")
    if hs_len > MAX_HANDSHAKE:
        return None
    body = bytes(buf[4 : 4 + hs_len])
    return hs_type, body, len(body) == hs_len


def parse_tls(data: bytes, final: bool = False) -> Fingerprint | None:
    """Recognise a TLS ClientHello or ServerHello at the start of ``data``.

    Args:
        data: The first payload bytes of one direction of a flow.
        final: No more bytes will come: report a cut hello as ``partial``.
    """
    hs = _handshake(data)
    if hs is None:
        return None
    hs_type, body, complete = hs
    if hs_type not in (1, 2):
        return None
    if not complete and not final:
        return None
    try:
        return _client_hello(body) if hs_type == 1 else _server_hello(body)
    except _Short:
        if not final:
            return None
        role = "client" if hs_type == 1 else "server"
        return Fingerprint("tls", (("hello", role), ("partial", "true")))


def _extensions(r: _Reader) -> list[tuple[int, bytes]]:
    if r.left() == 0:
        return []
    total = r.u16()
    er = _Reader(r.data, r.pos, r.pos + total)
    if r.pos + total > r.end:
        raise _Short
    out: list[tuple[int, bytes]] = []
    while er.left() >= 4 and len(out) < 128:
        etype = er.u16()
        out.append((etype, er.take(er.u16())))
    return out


def _u16_list(data: bytes, len_size: int = 2) -> list[int]:
    r = _Reader(data)
    n = r.u8() if len_size == 1 else r.u16()
    return [r.u16() for _ in range(min(n, r.left()) // 2)]


def _alpn(data: bytes) -> list[bytes]:
    r = _Reader(data)
    r.end = min(r.end, 2 + r.u16())
    out: list[bytes] = []
    while r.left() > 0 and len(out) < 16:
        out.append(r.take(r.u8()))
    return out


def _sni(data: bytes) -> str:
    r = _Reader(data)
    r.end = min(r.end, 2 + r.u16())
    while r.left() >= 3:
        kind = r.u8()
        name = r.take(r.u16())
        if kind == 0:
            return ascii_text(name)
    return ""


def _client_hello(body: bytes) -> Fingerprint:
    r = _Reader(body)
    version = r.u16()
    r.take(32)
    r.take(r.u8())
    clen = r.u16()
    raw = r.take(clen)
    ciphers = [_U16.unpack_from(raw, i)[0] for i in range(0, clen - clen % 2, 2)]
    r.take(r.u8())
    exts = _extensions(r)

    sni = alpn_first = ""
    alpns: list[bytes] = []
    groups: list[int] = []
    formats: list[int] = []
    sigalgs: list[int] = []
    versions: list[int] = []
    for etype, edata in exts:
        try:
            if etype == 0:
                sni = _sni(edata)
            elif etype == 16:
                alpns = _alpn(edata)
            elif etype == 10:
                groups = _u16_list(edata)
            elif etype == 11:
                formats = list(edata[1 : 1 + edata[0]]) if edata else []
            elif etype == 13:
                sigalgs = _u16_list(edata)
            elif etype == 43:
                versions = _u16_list(edata, 1)
        except _Short:
            continue

    c_ng = [c for c in ciphers if not is_grease(c)]
    e_ng = [e for e, _ in exts if not is_grease(e)]
    g_ng = [g for g in groups if not is_grease(g)]
    ja3 = ",".join(
        [
            str(version),
            "-".join(map(str, c_ng)),
            "-".join(map(str, e_ng)),
            "-".join(map(str, g_ng)),
            "-".join(map(str, formats)),
        ]
    )
    v_ng = [v for v in versions if not is_grease(v)]
    top = max(v_ng) if v_ng else version
    if alpns:
        alpn_first = _alpn_chars(alpns[0])
    ja4_a = "t{}{}{:02d}{:02d}{}".format(
        _VERSIONS.get(top, "00"),
        "d" if any(e == 0 for e in e_ng) else "i",
        min(len(c_ng), 99),
        min(len(e_ng), 99),
        alpn_first or "00",
    )
    ja4_b = _sha12(",".join(sorted(f"{c:04x}" for c in c_ng))) if c_ng else "0" * 12
    ext_text = ",".join(sorted(f"{e:04x}" for e in e_ng if e not in (0, 16)))
    if sigalgs:
        ext_text += "_" + ",".join(f"{s:04x}" for s in sigalgs if not is_grease(s))
    ja4_c = _sha12(ext_text) if e_ng else "0" * 12
    detail = [("hello", "client"), ("version", _VERSION_NAMES.get(top, f"0x{top:04x}"))]
    if sni:
        detail.append(("sni", sni))
    if alpns:
        detail.append(("alpn", ",".join(ascii_text(a, 32) for a in alpns)))
    detail += [
        ("ja3", ja3[:2048]),
        ("ja3_md5", hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest()),
        ("ja4", f"{ja4_a}_{ja4_b}_{ja4_c}"),
    ]
    return Fingerprint("tls", tuple(detail))


def _alpn_chars(value: bytes) -> str:
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if (
        chr(first).isascii()
        and chr(first).isalnum()
        and chr(last).isascii()
        and chr(last).isalnum()
    ):
        return chr(first) + chr(last)
    text = value.hex()
    return text[0] + text[-1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _server_hello(body: bytes) -> Fingerprint:
    r = _Reader(body)
    version = r.u16()
    r.take(32)
    r.take(r.u8())
    cipher = r.u16()
    r.u8()
    exts = _extensions(r)
    selected = version
    alpn = ""
    for etype, edata in exts:
        if etype == 43 and len(edata) == 2:
            selected = _U16.unpack_from(edata, 0)[0]
        elif etype == 16:
            try:
                names = _alpn(edata)
            except _Short:
                names = []
            alpn = ascii_text(names[0], 32) if names else ""
    ja3s = "{},{},{}".format(version, cipher, "-".join(str(e) for e, _ in exts if not is_grease(e)))
    detail = [
        ("hello", "server"),
        ("version", _VERSION_NAMES.get(selected, f"0x{selected:04x}")),
        ("cipher", f"0x{cipher:04x}"),
    ]
    if alpn:
        detail.append(("alpn", alpn))
    detail += [
        ("ja3s", ja3s),
        ("ja3s_md5", hashlib.md5(ja3s.encode(), usedforsecurity=False).hexdigest()),
    ]
    return Fingerprint("tls", tuple(detail))
