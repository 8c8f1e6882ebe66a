"""Offline enrichment of the run's destinations for reports and exports.

A thin adapter over :mod:`watchkeeper.intel` (address classes, Community ID, bundled indicator
lists, the user's MaxMind DB). Each part degrades on its own: if the intel package lacks a
function, the matching column stays empty and :attr:`NetIntel.missing` says why.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from watchkeeper.errors import InputError, Location

try:
    from watchkeeper import intel as _intel
except ImportError:  # pragma: no cover - the intel package is part of the product
    _intel = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ListHit:
    """A destination found on an indicator list, with the list's provenance."""

    list_name: str
    category: str
    value: str
    date: str = ""
    source: str = ""
    licence: str = ""


@dataclass(frozen=True, slots=True)
class HostIntel:
    """What the offline sources say about one destination.

    Attributes:
        ip: The address ("" when only a name is known).
        address_class: "public", "private", "loopback", "cloud-metadata"... ("" unknown).
        address_label: The special-purpose block it is in, in words.
        hits: Indicator-list entries matched by the domain or the port.
        asn / as_org / as_network / country / city: From the user's MaxMind DB, public
            addresses only.
    """

    ip: str = ""
    address_class: str = ""
    address_label: str = ""
    hits: tuple[ListHit, ...] = ()
    asn: int | None = None
    as_org: str = ""
    as_network: str = ""
    country: str = ""
    city: str = ""

    @property
    def is_public(self) -> bool:
        """True for a globally routable address."""
        return self.address_class == "public"

    def categories(self) -> set[str]:
        """The list categories hit ("miner-pool", "tunnel-service", "miner-port"...)."""
        return {h.category for h in self.hits}

    def geo_text(self) -> str:
        """"AS64500 Example Org, DE Berlin" or ""."""
        parts = []
        if self.asn is not None:
            parts.append(f"AS{self.asn}" + (f" {self.as_org}" if self.as_org else ""))
        place = " ".join(p for p in (self.country, self.city) if p)
        if place:
            parts.append(place)
        return ", ".join(parts)


class NetIntel:
    """Enriches destinations with :mod:`watchkeeper.intel`; see the module docstring.

    Args:
        mmdb: MaxMind DB files (ASN, City or Country) supplied by the user.

    Raises:
        InputError: an ``.mmdb`` file is missing or unreadable.
    """

    def __init__(self, mmdb: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.missing: list[str] = []
        """Enrichments that are unavailable, in words."""
        self.sources: list[str] = []
        """Provenance of the lists and databases in use, one line each."""
        self._enricher: Any = None
        self._maxmind: Any = None
        self._community_id: Any = getattr(_intel, "community_id", None)
        self._classify: Any = getattr(_intel, "address_block", None)
        if self._community_id is None:
            self.missing.append("Community ID (watchkeeper.intel.community_id is not available)")
        if self._classify is None:
            self.missing.append("address classes from watchkeeper.intel (using ipaddress)")
        enricher_cls = getattr(_intel, "Enricher", None)
        open_enricher = getattr(_intel, "open_enricher", None)
        if mmdb:
            if open_enricher is None:
                raise InputError(
                    "MaxMind enrichment is not available in this build",
                    Location("--mmdb"),
                )
            self._maxmind = open_enricher([os.fspath(p) for p in mmdb])
            for db in getattr(self._maxmind, "databases", ()):
                built = f", built {db.build_date}" if db.build_date else ""
                self.sources.append(f"MaxMind DB {db.path} ({db.database_type}{built})")
        if enricher_cls is None:
            self.missing.append("indicator lists (watchkeeper.intel.Enricher is not available)")
        else:
            self._enricher = enricher_cls(maxmind=self._maxmind)
            for ioc in getattr(getattr(self._enricher, "lists", None), "lists", ()):
                date = f", copied {ioc.date}" if ioc.date else ""
                self.sources.append(
                    f"list {ioc.name} ({ioc.category}; {ioc.source}; {ioc.licence}{date})"
                )
        if not mmdb:
            self.missing.append("ASN/geo (no --mmdb given)")
        self._cache: dict[tuple[str, str, int | None], HostIntel] = {}

    def close(self) -> None:
        """Close the MaxMind databases."""
        if self._maxmind is not None:
            self._maxmind.close()
            self._maxmind = None

    def __enter__(self) -> NetIntel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_geo(self) -> bool:
        """True when a MaxMind DB is open."""
        return self._maxmind is not None

    def host(self, ip: str = "", domain: str = "", port: int | None = None) -> HostIntel:
        """Enrich a destination (any of address, name, port)."""
        key = (ip, domain, port)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._host(ip, domain, port)
        if len(self._cache) < 100_000:
            self._cache[key] = result
        return result

    def _host(self, ip: str, domain: str, port: int | None) -> HostIntel:
        fields: dict[str, Any] = {"ip": ip}
        if self._enricher is not None:
            found = self._enricher.enrich(
                ip=ip or None, domain=domain or None,
                port=port if port is not None and 0 <= port <= 0xFFFF else None,
            )  # fmt: skip
            if ip:
                fields["address_class"] = str(found.address_class or "")
                fields["address_label"] = str(found.address_label or "")
            fields["hits"] = tuple(
                ListHit(h.list_name, h.category, h.value, h.date, h.source, h.licence)
                for h in found.hits
            )
            geo = found.geo
            if geo is not None:
                fields.update(
                    asn=geo.asn, as_org=geo.as_org or "", as_network=geo.as_network or "",
                    country=geo.country or "", city=geo.city or "",
                )  # fmt: skip
        elif ip:
            fields["address_class"], fields["address_label"] = _classify_fallback(
                ip, self._classify
            )
        return HostIntel(**fields)

    def community_id(
        self, protocol: str, src_ip: str, src_port: int | None, dst_ip: str, dst_port: int | None
    ) -> str:
        """The flow's Community ID v1, or "" when it cannot be computed."""
        if self._community_id is None or not src_ip or not dst_ip:
            return ""
        try:
            return str(self._community_id(protocol or "tcp", src_ip, src_port, dst_ip, dst_port))
        except (ValueError, TypeError, KeyError):
            return ""


def _classify_fallback(ip: str, classify: Any) -> tuple[str, str]:
    if classify is not None:
        block = classify(ip)
        return str(block.cls), str(block.label)
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid", "not an IP address"
    for name in ("loopback", "private", "link_local", "multicast", "reserved"):
        if getattr(addr, f"is_{name}"):
            return name.replace("_", "-"), name.replace("_", "-")
    return ("public", "public") if addr.is_global else ("bogon", "not globally routable")
