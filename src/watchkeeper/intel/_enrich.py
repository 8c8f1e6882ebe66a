"""One call that combines the offline enrichments of an address, a domain and a port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchkeeper.intel._address import AddressClass, address_block
from watchkeeper.intel._lists import IocHit, IocLists, normalize_domain
from watchkeeper.intel._maxmind import GeoInfo, MaxMindEnricher


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What the offline sources say about an address, a domain and/or a port.

    Attributes:
        ip: The address asked about (None if none).
        address_class: Its class (None without an ip).
        address_block: The special-purpose block it is in, e.g. "100.64.0.0/10" (None for public).
        address_label: What that block is, e.g. "shared address space for carrier-grade NAT".
        domain: The domain asked about, normalised (lower case, no trailing dot).
        port: The port asked about.
        geo: ASN/country/city from the user's MaxMind DB files (public addresses only).
        hits: List entries that matched the domain or the port, with their provenance.
    """

    ip: str | None = None
    address_class: AddressClass | None = None
    address_block: str | None = None
    address_label: str | None = None
    domain: str | None = None
    port: int | None = None
    geo: GeoInfo | None = None
    hits: tuple[IocHit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; absent parts are left out."""
        out: dict[str, Any] = {}
        if self.ip is not None:
            out["ip"] = self.ip
            out["address_class"] = str(self.address_class)
            if self.address_block is not None:
                out["address_block"] = self.address_block
            out["address_label"] = self.address_label
        if self.domain is not None:
            out["domain"] = self.domain
        if self.port is not None:
            out["port"] = self.port
        if self.geo is not None:
            out["geo"] = self.geo.to_dict()
        if self.hits:
            out["hits"] = [h.to_dict() for h in self.hits]
        return out


class Enricher:
    """Combines address classes, indicator lists and (optionally) MaxMind lookups.

    Args:
        lists: Indicator lists; the bundled ones by default.
        maxmind: ASN/geo databases supplied by the user; none by default.
    """

    def __init__(self, lists: IocLists | None = None, maxmind: MaxMindEnricher | None = None) -> None:
        self.lists = IocLists.bundled() if lists is None else lists
        self.maxmind = maxmind

    def enrich(self, ip: str | None = None, domain: str | None = None,
               port: int | None = None) -> Enrichment:
        """Enrich any of an address, a domain name and a port (all offline)."""
        fields: dict[str, Any] = {}
        hits: list[IocHit] = []
        if ip is not None:
            block = address_block(ip)
            fields.update(ip=ip, address_class=block.cls, address_block=block.network,
                          address_label=block.label)
            if block.cls is AddressClass.PUBLIC and self.maxmind is not None:
                fields["geo"] = self.maxmind.lookup(ip)
        if domain is not None:
            fields["domain"] = normalize_domain(domain)
            hits.extend(self.lists.match_domain(domain))
        if port is not None and not isinstance(port, bool) and 0 <= port <= 0xFFFF:
            fields["port"] = port
            hits.extend(self.lists.match_port(port))
        return Enrichment(hits=tuple(hits), **fields)


def enrich(ip: str | None = None, domain: str | None = None, port: int | None = None) -> Enrichment:
    """Enrich with the bundled lists and address classes (no MaxMind; see :class:`Enricher`)."""
    return Enricher().enrich(ip=ip, domain=domain, port=port)
