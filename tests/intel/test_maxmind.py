"""MaxMindEnricher against tiny .mmdb files written by watchkeeper.testing.mmdb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import InputError
from watchkeeper.intel import MaxMindEnricher
from watchkeeper.testing.mmdb import write_mmdb

BUILD = 1_790_000_000  # 2026-09-21


@pytest.fixture()
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    asn = write_mmdb(tmp_path / "asn.mmdb", {
        "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"},
        "2001:4860::/32": {"autonomous_system_number": 15169,
                           "autonomous_system_organization": "GOOGLE"},
    }, database_type="GeoLite2-ASN", build_epoch=BUILD)
    city = write_mmdb(tmp_path / "city.mmdb", {
        "8.8.0.0/16": {
            "city": {"names": {"en": "Mountain View"}},
            "country": {"iso_code": "US", "names": {"en": "United States"}},
            "location": {"latitude": 37.386, "longitude": -122.0838, "accuracy_radius": 1000},
        },
    }, database_type="GeoLite2-City", build_epoch=BUILD, ip_version=4)
    return asn, city


def test_lookup_merges_asn_and_city(dbs: tuple[Path, Path]) -> None:
    with MaxMindEnricher(*dbs) as mm:
        info = mm.lookup("8.8.8.8")
        assert info is not None
        assert (info.asn, info.as_org, info.as_network) == (15169, "GOOGLE", "8.8.8.0/24")
        assert (info.country, info.country_name, info.city) == ("US", "United States", "Mountain View")
        assert info.accuracy_radius == 1000 and info.latitude == pytest.approx(37.386)
        assert [d.database_type for d in info.databases] == ["GeoLite2-ASN", "GeoLite2-City"]
        assert info.databases[0].build_date == "2026-09-21"
        # only the ASN database is IPv6-capable; the IPv4-only one is skipped, not an error
        v6 = mm.lookup("2001:4860::8888")
        assert v6 is not None and v6.asn == 15169 and v6.country is None
        partial = mm.lookup("8.8.4.4")
        assert partial is not None and partial.asn is None and partial.city == "Mountain View"
        assert mm.lookup("9.9.9.9") is None
        assert mm.lookup("not an ip") is None
        assert info.to_dict()["databases"][1]["path"].endswith("city.mmdb")


def test_missing_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such MaxMind database"):
        MaxMindEnricher(tmp_path / "nope.mmdb")
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"this is not a maxmind database at all" * 10)
    with pytest.raises(InputError, match="not a readable MaxMind DB") as err:
        MaxMindEnricher(bad)
    assert err.value.location is not None and err.value.location.path == str(bad)
    with pytest.raises(InputError):
        MaxMindEnricher(tmp_path)  # a folder


class _Reader:
    """A reader object in the shape of maxminddb.Reader (a corrupt answer, then a good one)."""

    def __init__(self, records: list[Any]) -> None:
        self.records = records
        self.closed = False

    def get_with_prefix_len(self, ip_address: str) -> tuple[Any, int]:
        return self.records.pop(0), 24

    def metadata(self) -> Any:
        class Meta:
            database_type = "DBIP-ASN-Lite"
            build_epoch = "not a number"
            description = None

        return Meta()

    def close(self) -> None:
        self.closed = True


def test_odd_records_from_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.mmdb"
    path.write_bytes(b"")
    reader = _Reader(["not a dict", {"autonomous_system_number": True, "country": "US"},
                      {"autonomous_system_number": 64500}])
    mm = MaxMindEnricher(path, opener=lambda p: reader)
    assert mm.databases[0].database_type == "DBIP-ASN-Lite" and mm.databases[0].build_date == ""
    assert mm.lookup("192.0.2.1") is None
    odd = mm.lookup("192.0.2.1")
    assert odd is not None and odd.asn is None and odd.country is None
    ok = mm.lookup("192.0.2.1")
    assert ok is not None and ok.asn == 64500 and ok.as_network == "192.0.2.0/24"
    mm.close()
    assert reader.closed
