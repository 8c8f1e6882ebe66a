"""ASN and geolocation from user-supplied MaxMind DB files (never bundled, never fetched)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from watchkeeper.errors import InputError, Location, PrerequisiteError


class MmdbReader(Protocol):
    """What MaxMindEnricher needs of a reader (``maxminddb.Reader`` has it)."""

    def get_with_prefix_len(self, ip_address: str) -> tuple[Any, int]:
        """The record for ``ip_address`` (or None) and the matched prefix length."""

    def metadata(self) -> Any:
        """The database metadata (``database_type``, ``build_epoch``, ``description``)."""

    def close(self) -> None:
        """Release the file."""


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """Provenance of one database: what it is and when it was built."""

    path: str
    database_type: str
    build_date: str  # YYYY-MM-DD (UTC) from the metadata's build_epoch, "" if absent
    description: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"path": self.path, "database_type": self.database_type,
                "build_date": self.build_date, "description": self.description}


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """What the databases know of one address. Fields are None when no database has them.

    Attributes:
        asn, as_org: Autonomous system number and organisation (ASN databases).
        as_network: The announced prefix the ASN record covers.
        country, country_name: ISO 3166 code and English name (City/Country databases).
        city: English city name.
        latitude, longitude, accuracy_radius: Location, radius in km.
        databases: Provenance of the databases that answered.
    """

    asn: int | None = None
    as_org: str | None = None
    as_network: str | None = None
    country: str | None = None
    country_name: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius: int | None = None
    databases: tuple[DatabaseInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (None fields left out, provenance included)."""
        out: dict[str, Any] = {}
        for name in ("asn", "as_org", "as_network", "country", "country_name", "city",
                     "latitude", "longitude", "accuracy_radius"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["databases"] = [d.to_dict() for d in self.databases]
        return out


def _open_maxminddb(path: str) -> MmdbReader:
    try:
        import maxminddb
    except ImportError:
        raise PrerequisiteError("reading .mmdb files needs the maxminddb package",
                                fix="pip install maxminddb") from None
    reader: MmdbReader = maxminddb.open_database(path)
    return reader


def _text(value: Any, limit: int = 256) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _name(node: Any) -> str | None:
    if isinstance(node, dict):
        names = node.get("names")
        if isinstance(names, dict):
            return _text(names.get("en"))
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class MaxMindEnricher:
    """Looks addresses up in one or more ``.mmdb`` files (ASN, City or Country, any vendor).

    Works with MaxMind GeoLite2/GeoIP2 and DB-IP Lite files in MaxMind DB format. The files are
    the user's: watchkeeper ships none (GeoLite2's licence forbids it) and makes no network
    lookups. Use as a context manager or call ``close()``.

    Raises:
        InputError: A file that is missing or is not a MaxMind DB.
        PrerequisiteError: The ``maxminddb`` package is not installed.
    """

    def __init__(
        self,
        *paths: str | Path,
        opener: Callable[[str], MmdbReader] | None = None,
    ) -> None:
        if not paths:
            raise ValueError("MaxMindEnricher needs at least one .mmdb path")
        open_one = opener or _open_maxminddb
        self._readers: list[tuple[MmdbReader, DatabaseInfo]] = []
        try:
            for entry in paths:
                path = str(entry)
                if not Path(path).is_file():
                    raise InputError("no such MaxMind database file", Location(path))
                try:
                    reader = open_one(path)
                except (OSError, ValueError, RuntimeError) as exc:
                    raise InputError(f"not a readable MaxMind DB file ({exc})",
                                     Location(path)) from None
                self._readers.append((reader, _info(path, reader)))
        except BaseException:
            self.close()
            raise

    @property
    def databases(self) -> tuple[DatabaseInfo, ...]:
        """Provenance of every open database."""
        return tuple(info for _, info in self._readers)

    def lookup(self, ip: str) -> GeoInfo | None:
        """What the databases know of ``ip``; None if it is not an address or nothing matched."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except (ValueError, AttributeError):
            return None
        fields: dict[str, Any] = {}
        used: list[DatabaseInfo] = []
        for reader, info in self._readers:
            try:
                record, prefix = reader.get_with_prefix_len(str(address))
            except (ValueError, TypeError, RuntimeError):
                continue  # e.g. an IPv6 address in an IPv4-only database, or a corrupt node
            if not isinstance(record, dict):
                continue
            used.append(info)
            _merge(fields, record, address, prefix)
        if not used:
            return None
        return GeoInfo(databases=tuple(used), **fields)

    def close(self) -> None:
        """Close every database."""
        for reader, _ in self._readers:
            try:
                reader.close()
            except (OSError, RuntimeError):
                pass
        self._readers = []

    def __enter__(self) -> MaxMindEnricher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _info(path: str, reader: MmdbReader) -> DatabaseInfo:
    meta = reader.metadata()
    kind = _text(getattr(meta, "database_type", None)) or "unknown"
    epoch = getattr(meta, "build_epoch", None)
    built = ""
    if isinstance(epoch, int) and not isinstance(epoch, bool) and 0 < epoch < 2**40:
        built = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
    description = getattr(meta, "description", None)
    text = _text(description.get("en")) if isinstance(description, dict) else None
    return DatabaseInfo(path, kind, built, text or "")


def _merge(
    fields: dict[str, Any],
    record: dict[str, Any],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    prefix: int,
) -> None:
    """Fill fields not yet set from one record (the first database to answer wins)."""
    asn = record.get("autonomous_system_number")
    if isinstance(asn, int) and not isinstance(asn, bool) and "asn" not in fields:
        fields["asn"] = asn
        fields["as_org"] = _text(record.get("autonomous_system_organization"))
        if 0 <= prefix <= address.max_prefixlen:
            fields["as_network"] = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    country = record.get("country")
    if isinstance(country, dict) and "country" not in fields:
        code = _text(country.get("iso_code"), 8)
        if code:
            fields["country"] = code
            fields["country_name"] = _name(country)
    city = _name(record.get("city"))
    if city and "city" not in fields:
        fields["city"] = city
    location = record.get("location")
    if isinstance(location, dict) and "latitude" not in fields:
        lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
        if lat is not None and lon is not None:
            fields["latitude"], fields["longitude"] = lat, lon
            radius = location.get("accuracy_radius")
            if isinstance(radius, int) and not isinstance(radius, bool):
                fields["accuracy_radius"] = radius


def open_enricher(paths: Sequence[str | Path]) -> MaxMindEnricher | None:
    """A MaxMindEnricher over ``paths``, or None when there are none."""
    return MaxMindEnricher(*paths) if paths else None
