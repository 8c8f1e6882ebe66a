"""Write tiny MaxMind DB (``.mmdb``) files for tests, with no third-party writer.

Implements the parts of the MaxMind DB format 2.0 that small test databases need: a 24-bit
search tree (IPv4 or IPv6 with IPv4 under ``::/96``), and the data types map, UTF-8 string,
double, unsigned integers, boolean and array. The result opens with the real ``maxminddb``
reader, so tests exercise it rather than a fake.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
_RECORD_SIZE = 24


def _control(type_id: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 29 + 256:
        head, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        head, extra = 30, struct.pack("!H", size - 285)
    else:
        head, extra = 31, struct.pack("!I", size - 65821)[1:]
    if type_id <= 7:
        return bytes([(type_id << 5) | head]) + extra
    return bytes([head, type_id - 7]) + extra


def _uint(type_id: int, value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _control(type_id, len(raw)) + raw


class UInt(int):
    """An unsigned integer with an explicit MaxMind type: 5 uint16, 6 uint32, 9 uint64."""

    type_id: int = 6

    def __new__(cls, value: int, type_id: int = 6) -> UInt:
        obj = super().__new__(cls, value)
        obj.type_id = type_id
        return obj


def encode(value: Any) -> bytes:
    """One value in the MaxMind DB data-section encoding (ints get the smallest unsigned type)."""
    if isinstance(value, UInt):
        return _uint(value.type_id, int(value))
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, float):
        return _control(3, 8) + struct.pack("!d", value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative integers are not supported by this writer")
        if value < 1 << 16:
            return _uint(5, value)
        if value < 1 << 32:
            return _uint(6, value)
        return _uint(9, value)
    if isinstance(value, Mapping):
        out = bytearray(_control(7, len(value)))
        for key, item in value.items():
            out += encode(str(key)) + encode(item)
        return bytes(out)
    if isinstance(value, Sequence):
        out = bytearray(_control(11, len(value)))
        for item in value:
            out += encode(item)
        return bytes(out)
    raise TypeError(f"cannot encode {type(value).__name__}")


def write_mmdb(
    path: str | Path,
    records: Mapping[str, Mapping[str, Any]],
    *,
    database_type: str = "Test-DB",
    ip_version: int = 6,
    description: str = "watchkeeper test database",
    build_epoch: int | None = None,
) -> Path:
    """Write ``records`` (network "a.b.c.d/n" or IPv6 prefix -> record dict) to ``path``.

    Networks must not overlap. With ``ip_version=6`` IPv4 networks are stored under ``::/96``,
    as MaxMind does, so both families can be looked up.
    """
    nodes: list[list[Any]] = [[None, None]]
    data = bytearray()
    for text, record in records.items():
        net = ipaddress.ip_network(text, strict=False)
        if net.version == 6 and ip_version == 4:
            raise ValueError("an IPv6 network in an IPv4 database")
        offset = 96 if net.version == 4 and ip_version == 6 else 0
        value = int(net.network_address)
        total = net.max_prefixlen + offset
        prefix = net.prefixlen + offset
        if prefix == 0:
            raise ValueError("a network of prefix length 0 is not supported")
        data_at = len(data)
        data += encode(dict(record))
        node = 0
        for depth in range(prefix):
            bit = (value >> (total - 1 - depth)) & 1 if depth >= offset else 0
            if depth == prefix - 1:
                if isinstance(nodes[node][bit], int):
                    raise ValueError(f"network {text} overlaps another")
                nodes[node][bit] = ("data", data_at)
                break
            child = nodes[node][bit]
            if child is None:
                nodes.append([None, None])
                child = len(nodes) - 1
                nodes[node][bit] = child
            elif not isinstance(child, int):
                raise ValueError(f"network {text} overlaps another")
            node = child
    count = len(nodes)
    tree = bytearray()
    for left, right in nodes:
        for rec in (left, right):
            if rec is None:
                number = count
            elif isinstance(rec, int):
                number = rec
            else:
                number = count + 16 + rec[1]
            tree += number.to_bytes(3, "big")
    metadata = {
        # libmaxminddb (the C reader) checks these integer types exactly.
        "node_count": UInt(count, 6),
        "record_size": UInt(_RECORD_SIZE, 5),
        "ip_version": UInt(ip_version, 5),
        "database_type": database_type,
        "languages": ["en"],
        "binary_format_major_version": UInt(2, 5),
        "binary_format_minor_version": UInt(0, 5),
        "build_epoch": UInt(int(time.time()) if build_epoch is None else build_epoch, 9),
        "description": {"en": description},
    }
    out = Path(path)
    out.write_bytes(bytes(tree) + bytes(16) + bytes(data) + _METADATA_MARKER + encode(metadata))
    return out
