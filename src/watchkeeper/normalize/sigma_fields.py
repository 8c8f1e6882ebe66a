"""Sigma field mapping: which Sigma field each event class provides, per logsource category.

Rules never see event attribute names: a rule field such as ``CommandLine`` resolves here to
an event attribute (``command_line``) plus an optional conversion to text. Every value a rule
sees is a ``str``; ``""`` means "absent or unknown" (our events use ``""`` for unknown text and
``None`` for unknown numbers, both become ``""``). Numbers become decimal text, booleans
``"true"``/``"false"``, tuples are joined with ``";"``.

The table is documented in docs/sigma-field-mapping.md; keep both in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent

Convert = Callable[[Any], str]


def _num(value: Any) -> str:
    return "" if value is None else str(value)


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _basename(value: Any) -> str:
    text = value if isinstance(value, str) else _num(value)
    return text.rsplit("/", 1)[-1]


def _joined(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ";".join(str(v) for v in value)
    return _num(value)


@dataclass(frozen=True, slots=True)
class SigmaField:
    """One Sigma field of a category.

    Attributes:
        name: The Sigma field name, e.g. "CommandLine".
        attr: The event attribute it is read from.
        convert: Turns the attribute into text; None when the attribute already is text.
        enum: The field takes few distinct values ("true", "tcp"...): a literal on it is a weak
            prefilter key.
        extension: A watchkeeper field, not one of the Sigma taxonomy.
        doc: One line for the mapping table.
    """

    name: str
    attr: str
    convert: Convert | None = None
    enum: bool = False
    extension: bool = False
    doc: str = ""


def _table(*fields: SigmaField) -> Mapping[str, SigmaField]:
    return MappingProxyType({f.name: f for f in fields})


_IMAGE = SigmaField("Image", "image", doc="executable path (or bare name)")
_CMD = SigmaField("CommandLine", "command_line", doc="command line as one string")

CATEGORY_FIELDS: Mapping[str, Mapping[str, SigmaField]] = MappingProxyType(
    {
        ProcessEvent.category: _table(
            _IMAGE,
            _CMD,
            SigmaField("ParentImage", "parent_image", doc="parent executable"),
            SigmaField("ParentCommandLine", "parent_command_line", doc="parent command line"),
            SigmaField("CurrentDirectory", "cwd", doc="working directory"),
            SigmaField("User", "user", doc="user name or uid"),
            SigmaField("ProcessId", "pid", _num, doc="pid, decimal"),
            SigmaField("ParentProcessId", "ppid", _num, doc="parent pid, decimal"),
            SigmaField("OriginalFileName", "image", _basename, doc="basename of image"),
            SigmaField(
                "Activity", "activity", enum=True, extension=True, doc='"launch" or "terminate"'
            ),
        ),
        NetworkEvent.category: _table(
            _IMAGE,
            _CMD,
            SigmaField("DestinationHostname", "dst_hostname", doc="destination name"),
            SigmaField("DestinationIp", "dst_ip", doc="destination address"),
            SigmaField("DestinationPort", "dst_port", _num, doc="destination port, decimal"),
            SigmaField("SourceIp", "src_ip", doc="source address"),
            SigmaField("SourcePort", "src_port", _num, doc="source port, decimal"),
            SigmaField("Initiated", "initiated", _bool, enum=True, doc='"true" or "false"'),
            SigmaField("Protocol", "protocol", enum=True, doc='"tcp", "udp", "icmp"'),
            SigmaField(
                "AppProtocol",
                "app_protocol",
                enum=True,
                extension=True,
                doc='fingerprinted protocol: "stratum", "ssh", "tls", "http", "dns"',
            ),
            SigmaField(
                "Activity",
                "activity",
                enum=True,
                extension=True,
                doc='"open", "close", "refuse", "deny", "traffic", "listen"',
            ),
            SigmaField("BytesOut", "bytes_out", _num, extension=True, doc="bytes sent"),
            SigmaField("BytesIn", "bytes_in", _num, extension=True, doc="bytes received"),
        ),
        DnsEvent.category: _table(
            SigmaField("QueryName", "query_name", doc="queried name"),
            SigmaField("QueryType", "query_type", enum=True, doc='"A", "AAAA", "TXT"...'),
            SigmaField("QueryResults", "answers", _joined, doc='answers joined with ";"'),
            SigmaField("QueryStatus", "rcode", enum=True, doc='response code, e.g. "NOERROR"'),
            _IMAGE,
            _CMD,
        ),
        FileEvent.category: _table(
            SigmaField("TargetFilename", "path", doc="target path"),
            _IMAGE,
            _CMD,
            SigmaField(
                "Activity",
                "activity",
                enum=True,
                extension=True,
                doc='"read", "create", "write", "delete", "rename", "chmod", "link"',
            ),
        ),
    }
)
"""Sigma fields by category (the event class's ``category``), by Sigma field name."""

CATEGORY_ALIASES: Mapping[str, str] = MappingProxyType({"dns_query": DnsEvent.category})
"""Sigma logsource categories that name one of our categories under another name."""

_BY_LOWER: dict[str, dict[str, SigmaField]] = {
    cat: {name.lower(): f for name, f in table.items()} for cat, table in CATEGORY_FIELDS.items()
}


def canonical_category(category: str) -> str | None:
    """Our category for a Sigma logsource category, or None when we have no events for it."""
    if category in CATEGORY_FIELDS:
        return category
    return CATEGORY_ALIASES.get(category)


def resolve_field(category: str, name: str) -> SigmaField | None:
    """The field ``name`` (matched case-insensitively) of ``category``, or None if unavailable."""
    table = _BY_LOWER.get(category)
    if table is None:
        return None
    return table.get(name.lower())


def field_reader(category: str, names: tuple[str, ...]) -> Callable[[Event], list[str]]:
    """A function that reads the given Sigma fields of an event as a list of text.

    Unknown names read as ``""`` (absent). One C-level attribute fetch reads every attribute,
    then only the converted fields run Python code.
    """
    from operator import attrgetter

    table = CATEGORY_FIELDS[category]
    specs = [table.get(n) for n in names]
    attrs = [s.attr for s in specs if s is not None]
    if not attrs:
        empty = [""] * len(names)
        return lambda event: list(empty)
    getter: Callable[[Event], Any] = attrgetter(*attrs)
    single = len(attrs) == 1
    # position in the output list -> (position in the getter tuple, converter)
    plan: list[tuple[int, Convert | None]] = []
    k = 0
    for s in specs:
        if s is None:
            plan.append((-1, None))
        else:
            plan.append((k, s.convert))
            k += 1
    direct = all(conv is None and idx == pos for pos, (idx, conv) in enumerate(plan))
    if direct and single:
        return lambda event: [getter(event)]
    if direct:
        return lambda event: list(getter(event))
    converted = tuple((pos, idx, conv) for pos, (idx, conv) in enumerate(plan) if conv is not None)
    missing = tuple(pos for pos, (idx, _) in enumerate(plan) if idx < 0)
    plain = tuple((pos, idx) for pos, (idx, conv) in enumerate(plan) if idx >= 0 and conv is None)

    def read(event: Event) -> list[str]:
        raw = getter(event)
        if single:
            raw = (raw,)
        out = [""] * len(names)
        for pos, idx in plain:
            out[pos] = raw[idx]
        for pos, idx, conv in converted:
            out[pos] = conv(raw[idx])
        for pos in missing:
            out[pos] = ""
        return out

    return read


def event_to_sigma(event: Event) -> dict[str, str]:
    """Every Sigma field of the event's category as a dict (absent fields left out).

    Handy to feed the same event to another Sigma evaluator, or to show what a rule sees.
    """
    table = CATEGORY_FIELDS[event.category]
    names = tuple(table)
    values = field_reader(event.category, names)(event)
    return {n: v for n, v in zip(names, values, strict=True) if v}
