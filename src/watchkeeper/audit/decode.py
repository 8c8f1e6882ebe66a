"""Payload decoding for the offline analyser: base64, hex, escape sequences, compression.

Every function takes untrusted text, never raises on bad input (it returns ``None`` instead) and
caps what it produces at :data:`MAX_DECODED` bytes, so a decompression bomb or a huge blob costs
bounded time and memory.
"""

from __future__ import annotations

import binascii
import bz2
import lzma
import re
import zlib
from collections.abc import Iterator

MAX_DECODED = 1 << 20
"""Largest decoded payload kept (bytes); longer output is cut at this size."""

MIN_BLOB = 16
"""Shortest base64 run that :func:`find_base64_blobs` reports."""

_B64_CHARS = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX_CHARS = re.compile(r"[0-9A-Fa-f\s:]+")
_ESCAPE = re.compile(
    r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|0[0-7]{0,3}|[1-7][0-7]{0,2}|.)", re.S
)
_SIMPLE_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "e": b"\x1b",
    "E": b"\x1b",
    "\\": b"\\",
    "'": b"'",
    '"': b'"',
    "?": b"?",
}


def b64decode(text: str) -> bytes | None:
    """Decode standard or URL-safe base64 leniently (whitespace ignored, padding optional).

    Returns None when the text is not base64 or decodes to nothing.
    """
    if len(text) > 4 * MAX_DECODED:
        text = text[: 4 * MAX_DECODED]
    if not _B64_CHARS.fullmatch(text):
        return None
    s = "".join(text.split()).rstrip("=")
    if len(s) < 2:
        return None
    if "-" in s or "_" in s:
        s = s.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        out = binascii.a2b_base64(s)
    except (binascii.Error, ValueError):
        return None
    return out[:MAX_DECODED] or None


def b32decode(text: str) -> bytes | None:
    """Decode base32 (``base32 -d``) leniently; None when it is not base32."""
    s = "".join(text.split()).upper().rstrip("=")
    if not s or len(s) > 8 * MAX_DECODED:
        return None
    s += "=" * (-len(s) % 8)
    try:
        import base64

        return base64.b32decode(s)[:MAX_DECODED] or None
    except (binascii.Error, ValueError):
        return None


def hexdecode(text: str) -> bytes | None:
    """Decode a plain hex dump (``xxd -r -p``): whitespace, colons and ``\\x``/``0x`` prefixes ignored."""
    if len(text) > 4 * MAX_DECODED:
        text = text[: 4 * MAX_DECODED]
    if "x" in text:
        text = text.replace("\\x", "").replace("0x", "")
    if not _HEX_CHARS.fullmatch(text):
        return None
    s = "".join(text.split()).replace(":", "")
    if len(s) % 2:
        s = s[:-1]
    if not s:
        return None
    try:
        return bytes.fromhex(s)[:MAX_DECODED]
    except ValueError:
        return None


def unescape(text: str, *, echo: bool = False) -> bytes:
    """Interpret backslash escapes as ``printf``/``echo -e``/``$'...'`` do and return the bytes.

    ``\\xHH``, ``\\uHHHH``, octal (``\\NNN``; with ``echo=True`` only ``\\0NNN``), ``\\n`` and
    friends are decoded; an unknown escape keeps its backslash. Text is encoded as UTF-8.
    """
    if "\\" not in text:
        return text.encode("utf-8", "replace")
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos : m.start()].encode("utf-8", "replace")
        pos = m.end()
        esc = m.group(1)
        head = esc[0]
        if head == "x":
            if len(esc) > 1:
                out.append(int(esc[1:], 16))
            else:  # "\\x" with no hex digit stays as written, as printf keeps it
                out += b"\\x"
        elif head in "uU" and len(esc) > 1:
            out += chr(min(int(esc[1:], 16), 0x10FFFF)).encode("utf-8", "replace")
        elif head == "0" and echo:
            out.append(int(esc[1:], 8) & 0xFF if len(esc) > 1 else 0)
        elif head in "01234567" and not echo:
            out.append(int(esc[:3], 8) & 0xFF)
            out += esc[3:].encode()
        elif head in "1234567":
            out += b"\\" + esc.encode("utf-8", "replace")
        elif head in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[head]
        elif head == "c" and echo:
            return bytes(out)
        else:
            out += b"\\" + esc.encode("utf-8", "replace")
        if len(out) > MAX_DECODED:
            return bytes(out[:MAX_DECODED])
    out += text[pos:].encode("utf-8", "replace")
    return bytes(out[:MAX_DECODED])


def printf_format(fmt: str, args: tuple[str, ...] | list[str]) -> bytes:
    """Render a ``printf`` invocation: escapes in the format, ``%s``/``%b``/``%d``/``%c`` conversions.

    The format is reused while arguments remain, as printf does (bounded to 64 rounds).
    """
    if "%" not in fmt:
        return unescape(fmt)
    out = bytearray()
    queue = list(args)
    for _ in range(64):
        out += _printf_once(fmt, queue)
        if not queue or len(out) > MAX_DECODED:
            break
    return bytes(out[:MAX_DECODED])


_CONV = re.compile(r"%(%|[-+ #0]*\d*(?:\.\d+)?([sbdicxXoqu]))")


def _printf_once(fmt: str, queue: list[str]) -> bytes:
    out = bytearray()
    pos = 0
    for m in _CONV.finditer(fmt):
        out += unescape(fmt[pos : m.start()])
        pos = m.end()
        conv = m.group(2)
        if m.group(1) == "%":
            out += b"%"
            continue
        arg = queue.pop(0) if queue else ""
        if conv == "b":
            out += unescape(arg, echo=True)
        elif conv == "c":
            out += arg[:1].encode("utf-8", "replace")
        elif conv in "dixXou":
            try:
                num = int(arg, 0) if arg else 0
            except ValueError:
                num = 0
            out += (
                format(num, "x" if conv == "x" else "X" if conv == "X" else "o" if conv == "o" else "d")
            ).encode()
        else:
            out += arg.encode("utf-8", "replace")
    out += unescape(fmt[pos:])
    return bytes(out)


def decompress(data: bytes, kind: str) -> bytes | None:
    """Decompress gzip/zlib (``"gzip"``), bzip2 (``"bzip2"``) or xz/lzma (``"xz"``), capped.

    Returns None when the data is not in that format.
    """
    try:
        if kind == "gzip":
            d = zlib.decompressobj(47)  # gzip or zlib header, auto-detected
            return d.decompress(data, MAX_DECODED) or None
        if kind == "bzip2":
            bd = bz2.BZ2Decompressor()
            return bd.decompress(data, MAX_DECODED) or None
        if kind == "xz":
            ld = lzma.LZMADecompressor()
            return ld.decompress(data, MAX_DECODED) or None
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return None
    return None


def as_text(data: bytes, *, min_printable: float = 0.85) -> str | None:
    """Decode bytes as UTF-8 when they look like text (mostly printable); None for binary."""
    if not data:
        return None
    text = data.decode("utf-8", "replace")
    if text.isprintable():
        return text
    good = sum(1 for ch in text if ch.isprintable() or ch in "\n\t\r")
    if good >= min_printable * len(text) and text.count("\ufffd") * 20 <= len(text):
        return text
    return None


def find_base64_blobs(text: str, *, limit: int = 32) -> Iterator[tuple[int, int, str]]:
    """Runs of at least :data:`MIN_BLOB` base64 characters that decode to text.

    Yields (start, end, decoded text); at most ``limit`` blobs are tried.
    """
    tried = 0
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if run.isalpha() or run.isdigit() or "/" in run and run.count("/") * 4 > len(run):
            continue  # a word, a number, or a path
        tried += 1
        if tried > limit:
            return
        data = b64decode(run)
        if data is None:
            continue
        decoded = as_text(data)
        if decoded is not None and len(decoded) >= 4:
            yield m.start(), m.end(), decoded


def looks_like_base64(word: str) -> bool:
    """A cheap trigger: a run of base64 alphabet of at least MIN_BLOB characters."""
    return len(word) >= MIN_BLOB and _B64_RUN.search(word) is not None


_SHEBANG = re.compile(r"#!\s*(?:/usr)?(?:/local)?/bin/(?:env\s+)?([A-Za-z0-9_.+-]+)")


def guess_language(text: str, path: str = "") -> str:
    """Guess "shell", "python" or another interpreter name for a script; "" when unclear.

    Uses the path's suffix, then a shebang line, then cheap token cues.
    """
    lower = path.lower()
    if lower.endswith((".sh", ".bash", ".zsh", ".ksh")):
        return "shell"
    if lower.endswith((".py", ".pyw")):
        return "python"
    for suffix, lang in ((".pl", "perl"), (".rb", "ruby"), (".js", "node"), (".php", "php")):
        if lower.endswith(suffix):
            return lang
    head = text[:200].lstrip()
    if head.startswith("#!"):
        m = _SHEBANG.match(head)
        if m:
            name = m.group(1)
            if name in _SHELLS:
                return "shell"
            if name.startswith("python"):
                return "python"
            return name.rstrip("0123456789.")
        return ""
    if lower.endswith((".txt", ".md", ".json", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".csv")):
        return ""
    if ("import " in head or "def " in head or "print(" in head) and "\nfi" not in text:
        return "python"
    return ""


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox"})
