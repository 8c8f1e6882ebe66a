"""The test .mmdb writer, checked with the real maxminddb reader (C extension and pure Python)."""

from __future__ import annotations

from pathlib import Path

import maxminddb
import pytest

from watchkeeper.testing.mmdb import write_mmdb


@pytest.mark.parametrize("mode", [maxminddb.MODE_AUTO, maxminddb.MODE_FILE])
@pytest.mark.parametrize("version", [4, 6])
def test_round_trip(tmp_path: Path, mode: int, version: int) -> None:
    record = {"s": "x" * 300, "f": 1.5, "u16": 7, "u32": 70_000, "u64": 2**40, "b": True,
              "a": [1, "two"], "m": {"k": {"names": {"en": "deep"}}}}
    networks = {"192.0.2.0/24": record, "198.51.100.128/25": {"n": 1}}
    if version == 6:
        networks["2001:db8::/32"] = {"n": 6}
    path = write_mmdb(tmp_path / "t.mmdb", networks, ip_version=version, database_type="T",
                      build_epoch=1_700_000_000)
    with maxminddb.open_database(str(path), mode) as reader:
        assert reader.metadata().database_type == "T"
        assert reader.metadata().build_epoch == 1_700_000_000
        assert reader.get_with_prefix_len("192.0.2.77") == (record, 24)
        assert reader.get_with_prefix_len("198.51.100.200") == ({"n": 1}, 25)
        assert reader.get("198.51.100.1") is None
        if version == 6:
            assert reader.get("2001:db8::5") == {"n": 6}


def test_overlaps_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overlaps"):
        write_mmdb(tmp_path / "t.mmdb", {"10.0.0.0/8": {}, "10.1.0.0/16": {}})
