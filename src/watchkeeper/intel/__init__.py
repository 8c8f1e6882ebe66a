"""Offline enrichment: address classes, Community ID, dated indicator lists, MaxMind lookups.

Nothing here touches the network. Lists are bundled, dated copies with their source and licence
(see ``data/NOTICE``); ASN and geolocation come only from ``.mmdb`` files the user supplies.
"""

from watchkeeper.intel._address import AddressBlock, AddressClass, address_block, classify_address
from watchkeeper.intel._community_id import PROTOCOLS, community_id, protocol_number
from watchkeeper.intel._enrich import Enricher, Enrichment, enrich
from watchkeeper.intel._lists import (
    BUNDLED,
    IocHit,
    IocList,
    IocLists,
    normalize_domain,
    parse_list,
)
from watchkeeper.intel._maxmind import (
    DatabaseInfo,
    GeoInfo,
    MaxMindEnricher,
    MmdbReader,
    open_enricher,
)

__all__ = [
    "BUNDLED",
    "PROTOCOLS",
    "AddressBlock",
    "AddressClass",
    "DatabaseInfo",
    "Enricher",
    "Enrichment",
    "GeoInfo",
    "IocHit",
    "IocList",
    "IocLists",
    "MaxMindEnricher",
    "MmdbReader",
    "address_block",
    "classify_address",
    "community_id",
    "enrich",
    "normalize_domain",
    "open_enricher",
    "parse_list",
    "protocol_number",
]
