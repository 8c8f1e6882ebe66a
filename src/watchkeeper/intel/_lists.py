"""Dated indicator lists (miner pools, tunnel services, suspicious ports) and matching."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from watchkeeper.errors import InputError, Location

#: Longest list file read (bytes); lists are small, this bounds a hostile file.
MAX_LIST_BYTES = 16 * 1024 * 1024

# name -> (file, kind, category) of the bundled lists in watchkeeper/intel/data.
BUNDLED: dict[str, tuple[str, str, str]] = {
    "falco_miner_domains": ("falco_miner_domains.txt", "domain", "miner-pool"),
    "sigma_miner_pool_hostnames": ("sigma_miner_pool_hostnames.txt", "domain", "miner-pool"),
    "sigma_tunnel_service_domains": ("sigma_tunnel_service_domains.txt", "domain", "tunnel-service"),
    "falco_miner_ports": ("falco_miner_ports.txt", "port", "miner-port"),
    "sigma_malware_callback_ports": ("sigma_malware_callback_ports.txt", "port", "malware-callback-port"),
}
_SOURCE_RE = re.compile(r"^#\s*source:\s*(?P<source>.*?)(?:;\s*licen[cs]e:\s*(?P<licence>.*))?$", re.I)
_DATE_RE = re.compile(r"^#\s*(?:copied|date|fetched):\s*(?P<date>\d{4}-\d{2}-\d{2})", re.I)
_KIND_RE = re.compile(r"^#\s*kind:\s*(?P<kind>domain|port)\b", re.I)


@dataclass(frozen=True, slots=True)
class IocHit:
    """One list entry that matched, with the provenance a report must carry.

    Attributes:
        list_name: The list ("falco_miner_domains").
        value: The entry that matched (for a domain, the listed suffix).
        source: Where the list comes from (repository, file, commit).
        licence: The list's licence.
        date: When the copy was taken (YYYY-MM-DD), or "" if unknown.
        category: "miner-pool", "tunnel-service", "miner-port", "malware-callback-port"...
    """

    list_name: str
    value: str
    source: str
    licence: str
    date: str
    category: str = ""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"list": self.list_name, "value": self.value, "category": self.category,
                "source": self.source, "licence": self.licence, "date": self.date}


@dataclass(frozen=True, slots=True)
class IocList:
    """One loaded list: its values and provenance."""

    name: str
    kind: str  # "domain" or "port"
    category: str
    source: str
    licence: str
    date: str
    values: frozenset[str]

    def hit(self, value: str) -> IocHit:
        """An IocHit of ``value`` in this list."""
        return IocHit(self.name, value, self.source, self.licence, self.date, self.category)


def normalize_domain(name: str) -> str:
    """Lower case, no trailing dot, no surrounding space ("" when empty)."""
    return name.strip().rstrip(".").lower()


def parse_list(text: str, *, name: str, kind: str | None, category: str, where: str) -> IocList:
    """Parse a list file: ``#`` header lines (source, licence, copy date), one value a line.

    A line's value is its first tab-separated column. A ``# kind: domain|port`` header sets
    the kind when ``kind`` is None (else all-numeric values mean ports).
    """
    source = licence = date = ""
    values: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if m := _SOURCE_RE.match(stripped):
                source = source or m.group("source").strip()
                licence = licence or (m.group("licence") or "").strip()
            elif m := _DATE_RE.match(stripped):
                date = date or m.group("date")
            elif (m := _KIND_RE.match(stripped)) and kind is None:
                kind = m.group("kind").lower()
            continue
        value = stripped.split("\t", 1)[0].strip()
        if not value:
            continue
        if len(value) > 253:
            raise InputError("list entry longer than 253 characters", Location(where, number))
        values.add(value.lower())
    if kind is None:
        kind = "port" if values and all(v.isdigit() for v in values) else "domain"
    if kind == "port":
        bad = sorted(v for v in values if not (v.isdigit() and 0 <= int(v) <= 0xFFFF))
        if bad:
            raise InputError(f"port list holds a value that is not a port: {bad[0]!r}",
                             Location(where))
        values = {str(int(v)) for v in values}
    else:
        values = {normalize_domain(v) if not v.startswith(".") else "." + normalize_domain(v[1:])
                  for v in values}
        values.discard("")
        values.discard(".")
    return IocList(name, kind, category, source, licence, date, frozenset(values))


class IocLists:
    """A set of domain and port lists with fast matching.

    Domains match by suffix on label boundaries: the entry ``minexmr.com`` matches
    ``minexmr.com`` and ``pool.minexmr.com``; an entry written with a leading dot
    (``.localto.net``) matches subdomains only. Names and entries are compared in lower case
    without a trailing dot.
    """

    def __init__(self, lists: Iterable[IocList]) -> None:
        self.lists: tuple[IocList, ...] = tuple(lists)
        self._suffix: dict[str, list[IocHit]] = {}
        self._below: dict[str, list[IocHit]] = {}
        self._ports: dict[int, list[IocHit]] = {}
        for ioc in self.lists:
            for value in sorted(ioc.values):
                if ioc.kind == "port":
                    self._ports.setdefault(int(value), []).append(ioc.hit(value))
                elif value.startswith("."):
                    self._below.setdefault(value[1:], []).append(ioc.hit(value))
                else:
                    self._suffix.setdefault(value, []).append(ioc.hit(value))

    @classmethod
    def bundled(cls) -> IocLists:
        """The lists shipped in ``watchkeeper/intel/data`` (see its NOTICE)."""
        return _bundled()

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, category: str = "user") -> IocLists:
        """User lists (one value a line, same header format); the list name is the file stem.

        Raises:
            InputError: A file that is missing, too large, not text or holds a bad entry.
        """
        loaded = []
        for entry in paths:
            path = Path(entry)
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_LIST_BYTES + 1)
            except OSError as exc:
                raise InputError(f"cannot read list: {exc.strerror}", Location(str(path))) from None
            if len(data) > MAX_LIST_BYTES:
                raise InputError("list file larger than 16 MiB", Location(str(path)))
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("list file is not UTF-8 text", Location(str(path))) from None
            loaded.append(parse_list(text, name=path.stem, kind=None, category=category,
                                     where=str(path)))
        return cls(loaded)

    def __add__(self, other: IocLists) -> IocLists:
        return IocLists(self.lists + other.lists)

    def match_domain(self, name: str) -> list[IocHit]:
        """Every list entry that ``name`` or one of its parent domains is listed under."""
        labels = normalize_domain(name).split(".") if name else []
        if not labels or len(labels) > 127 or not all(labels):
            return []
        hits: list[IocHit] = []
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            found = self._suffix.get(suffix)
            if found:
                hits.extend(found)
            if i > 0:
                below = self._below.get(suffix)
                if below:
                    hits.extend(below)
        return hits

    def match_port(self, port: int) -> list[IocHit]:
        """Every port list that holds ``port``."""
        return list(self._ports.get(port, ()))


@functools.lru_cache(maxsize=1)
def _bundled() -> IocLists:
    folder = resources.files("watchkeeper.intel") / "data"
    loaded = []
    for name, (filename, kind, category) in BUNDLED.items():
        text = (folder / filename).read_text(encoding="utf-8")
        loaded.append(parse_list(text, name=name, kind=kind, category=category,
                                 where=f"watchkeeper/intel/data/{filename}"))
    return IocLists(loaded)
