from __future__ import annotations

from pathlib import Path

from watchkeeper.intel import AddressClass, Enricher, MaxMindEnricher, enrich
from watchkeeper.testing.mmdb import write_mmdb


def test_enrich_combines_class_lists_and_port() -> None:
    result = enrich(ip="169.254.169.254", domain="Pool.SupportXMR.com.", port=3333)
    assert result.address_class is AddressClass.CLOUD_METADATA
    assert result.domain == "pool.supportxmr.com" and result.port == 3333
    lists = {h.list_name for h in result.hits}
    assert {"falco_miner_domains", "sigma_miner_pool_hostnames", "falco_miner_ports"} <= lists
    as_dict = result.to_dict()
    assert as_dict["address_class"] == "cloud-metadata" and as_dict["hits"][0]["licence"]
    assert enrich().to_dict() == {}
    assert enrich(port=70000).port is None


def test_geo_only_for_public_addresses(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", {
        "8.8.8.0/24": {"autonomous_system_number": 15169},
        "10.0.0.0/8": {"autonomous_system_number": 64512},
    })
    with MaxMindEnricher(db) as mm:
        enricher = Enricher(maxmind=mm)
        public = enricher.enrich(ip="8.8.8.8")
        assert public.geo is not None and public.geo.asn == 15169
        assert enricher.enrich(ip="10.1.1.1").geo is None
