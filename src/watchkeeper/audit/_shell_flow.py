"""Static data flow through pipelines: what ``echo``/``printf`` produce and what decoders
(``base64 -d``, ``xxd -r -p``, ``openssl base64 -d``, ``gunzip``, ``rev``, ``tr``) make of it.

Only commands whose output is a pure function of their arguments and stdin are modelled; for
everything else the output is unknown (None).
"""

from __future__ import annotations

import base64
import binascii

from watchkeeper.audit import decode
from watchkeeper.audit._shell_model import Payload, Span

Argv = tuple[str, ...]


def _opts(argv: Argv) -> tuple[set[str], list[str]]:
    """Short option letters / long options, and the other arguments."""
    flags: set[str] = set()
    args: list[str] = []
    for a in argv[1:]:
        if a.startswith("--"):
            flags.add(a)
        elif a.startswith("-") and len(a) > 1:
            flags.update(a[1:])
        else:
            args.append(a)
    return flags, args


def _echo(argv: Argv) -> tuple[bytes, bool]:
    i = 1
    newline = True
    escapes = False
    while i < len(argv):
        a = argv[i]
        if len(a) > 1 and a[0] == "-" and all(ch in "neE" for ch in a[1:]):
            newline = newline and "n" not in a
            if "e" in a:
                escapes = True
            if "E" in a:
                escapes = False
            i += 1
            continue
        break
    text = " ".join(argv[i:])
    data = decode.unescape(text, echo=True) if escapes else text.encode("utf-8", "replace")
    return (data + b"\n" if newline else data), escapes and "\\" in text


def _tr_set(spec: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            lo, hi = ord(spec[i]), ord(spec[i + 2])
            if lo <= hi and hi - lo < 256:
                out.extend(chr(c) for c in range(lo, hi + 1))
            i += 3
            continue
        out.append(spec[i])
        i += 1
    return "".join(out)


def _tr(argv: Argv, data: bytes) -> bytes | None:
    flags, args = _opts(argv)
    text = data.decode("latin-1")
    if "d" in flags and len(args) == 1:
        return text.translate({ord(c): None for c in _tr_set(args[0])}).encode("latin-1", "replace")
    if len(args) != 2 or flags:
        return None
    src, dst = _tr_set(args[0]), _tr_set(args[1])
    if not src or not dst:
        return None
    dst = dst + dst[-1] * max(0, len(src) - len(dst))
    table = {ord(a): ord(b) for a, b in zip(src, dst, strict=False)}
    return text.translate(table).encode("latin-1", "replace")


def _xxd_reverse(text: str, plain: bool) -> bytes | None:
    if plain:
        return decode.hexdecode(text)
    chunks: list[str] = []
    for line in text.splitlines():
        _, sep, rest = line.partition(":")
        body = rest if sep else line
        chunks.append(body.strip().split("  ", 1)[0])
    return decode.hexdecode(" ".join(chunks))


def _with(pl: Payload, data: bytes | None, step: str) -> Payload | None:
    if data is None:
        return None
    return Payload(data, pl.span, None, pl.source, pl.chain + (step,))


def stdout_of(
    argv: Argv, stdin: Payload | None, args_span: Span, exact: int | None
) -> Payload | None:
    """The statically known stdout of ``argv`` given its known stdin, or None.

    ``args_span`` is the span of the arguments (where an echo/printf payload is written);
    ``exact`` is the offset where the single argument lies verbatim, if it does.
    """
    if not argv:
        return None
    prog = argv[0]
    name = prog.rpartition("/")[2] if "/" in prog else prog
    if name == "echo":
        data, decoded = _echo(argv)
        text_ok = exact is not None and not decoded and len(argv) == 2
        return Payload(data, args_span, exact if text_ok else None, "echo")
    if name == "printf":
        if len(argv) < 2:
            return None
        i = 2 if argv[1] == "--" else 1
        if i >= len(argv):
            return None
        if argv[i] == "-v":
            return None
        data = decode.printf_format(argv[i], argv[i + 1 :])
        return Payload(data, args_span, None, "printf")
    if stdin is None:
        return None
    if name in ("cat", "tee", "dd", "pv"):
        flags, args = _opts(argv)
        if name == "tee" or name == "pv" or not args or args == ["-"]:
            return stdin if name != "dd" or not any(a.startswith("if=") for a in args) else None
        return None
    if name in ("base64", "base32", "basenc", "openssl", "b64"):
        return _base64ish(name, argv, stdin)
    if name == "xxd":
        flags, args = _opts(argv)
        if "r" not in flags or args:
            return None
        plain = bool(flags & {"p", "--ps", "--plain", "--postscript"}) or "s" in flags
        return _with(stdin, _xxd_reverse(stdin.text(), plain), "xxd")
    if name == "rev":
        lines = stdin.data.split(b"\n")
        return _with(stdin, b"\n".join(line[::-1] for line in lines), "rev")
    if name == "tr":
        return _with(stdin, _tr(argv, stdin.data), "tr")
    if name in _DECOMP:
        flags, args = _opts(argv)
        if args and args != ["-"]:
            return None
        if name in ("gzip", "bzip2", "xz") and not flags & {"d", "--decompress"}:
            return None
        kind = _DECOMP[name]
        step = {"gzip": "gunzip", "bzip2": "bunzip2", "xz": "unxz"}[kind]
        return _with(stdin, decode.decompress(stdin.data, kind), step)
    return None


def _base64ish(name: str, argv: Argv, stdin: Payload) -> Payload | None:
    flags, args = _opts(argv)
    if name == "openssl":
        if not args or args[0] not in ("base64", "enc", "b64"):
            return None
        if args[0] == "enc" and not (flags & {"a", "A"} or "-base64" in argv or "-a" in argv):
            return None
        if "-in" in argv:
            return None
        dec = "d" in flags
        args = []
    else:
        dec = bool(flags & {"d", "D", "--decode"})
        if name == "basenc" and "--base64" not in flags and "--base64url" not in flags:
            return None
    if args and args != ["-"]:
        return None
    if dec:
        data = decode.b32decode(stdin.text()) if name == "base32" else decode.b64decode(stdin.text())
        return _with(stdin, data, "base32" if name == "base32" else "base64")
    try:
        enc = base64.b32encode(stdin.data) if name == "base32" else base64.b64encode(stdin.data)
    except (binascii.Error, ValueError):
        return None
    return Payload(enc + b"\n", stdin.span, None, stdin.source, stdin.chain)


_DECOMP = {"gunzip": "gzip", "zcat": "gzip", "gzip": "gzip", "bunzip2": "bzip2", "bzcat": "bzip2",
           "bzip2": "bzip2", "unxz": "xz", "xzcat": "xz", "xz": "xz"}

FLOW_NAMES = frozenset(
    {"echo", "printf", "cat", "tee", "dd", "pv", "base64", "base32", "basenc", "openssl", "b64",
     "xxd", "rev", "tr", "gunzip", "zcat", "gzip", "bunzip2", "bzcat", "bzip2", "unxz", "xzcat",
     "xz"}
)
"""Commands :func:`stdout_of` knows."""
