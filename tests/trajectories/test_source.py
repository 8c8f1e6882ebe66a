"""Bounded JSON / JSONL reading."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from watchkeeper.trajectories import ReadIssue
from watchkeeper.trajectories._source import (
    ExtraData,
    ReadIssueError,
    iter_jsonl,
    load_json,
)


def _items(data: bytes, max_line: int = 1 << 20) -> list:
    return list(iter_jsonl("f.jsonl", io.BytesIO(data), max_line))


def test_lines_blank_bom_crlf():
    items = _items(b'\xef\xbb\xbf{"a": 1}\r\n\n   \n[2]\n"last"')
    assert items == [(1, {"a": 1}), (4, [2]), (5, "last")]


def test_malformed_line_is_an_issue_and_reading_goes_on():
    items = _items(b'{"a": 1}\n{"a": \n\xff\xfe\n' + b"[" * 100_000 + b'\n{"b": 2}\n')
    assert items[0] == (1, {"a": 1})
    assert [(i.location.line, i.message.split(":")[0]) for i in items[1:4]] == [
        (2, "invalid JSON"), (3, "not UTF-8 text"), (4, "JSON nested too deeply")]
    assert items[4] == (5, {"b": 2})


def test_over_long_line_is_skipped_without_holding_it():
    long_line = b'{"command": "' + b"A" * (8 << 20) + b'"}\n'
    data = b'{"n": 1}\n' + long_line + b'{"n": 3}\n'
    tracemalloc.start()
    try:
        items = _items(data, max_line=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert items[0] == (1, {"n": 1})
    assert isinstance(items[1], ReadIssue)
    assert items[1].location.line == 2
    assert "longer than 65536 bytes" in items[1].message
    assert items[2] == (3, {"n": 3})
    assert peak < 4 << 20  # the 8 MiB line never landed in memory whole


def test_line_exactly_at_the_limit_is_read():
    line = json.dumps({"x": "y" * 50}).encode()
    assert _items(line + b"\n", max_line=len(line)) == [(1, {"x": "y" * 50})]
    assert isinstance(_items(line + b"Z\n", max_line=len(line))[0], ReadIssue)


def test_binary_file_gives_up_after_leading_issues():
    items = _items(b"\x00\x01garbage\n" * 1000)
    assert len(items) == 101
    assert "rest of the file skipped" in items[-1].message


def test_load_json(tmp_path: Path):
    good = tmp_path / "g.json"
    good.write_bytes(b'\xef\xbb\xbf{"a": [1]}')
    assert load_json(str(good)) == {"a": [1]}
    multi = tmp_path / "m.json"
    multi.write_text('{"a": 1}\n{"a": 2}\n')
    with pytest.raises(ExtraData):
        load_json(str(multi))
    bad = tmp_path / "b.json"
    bad.write_text('{\n  "a": 1,\n  "b": }\n')
    with pytest.raises(ReadIssueError) as caught:
        load_json(str(bad))
    assert caught.value.issue.location.line == 3
    big = tmp_path / "big.json"
    big.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(ReadIssueError, match="over the 100-byte limit"):
        load_json(str(big), max_bytes=100)
    with pytest.raises(ReadIssueError, match="cannot read"):
        load_json(str(tmp_path / "missing.json"))
