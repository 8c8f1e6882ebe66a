"""STIX 2.1 bundle of a run, built with the ``stix2`` library.

What goes in (docs/exports.md has the full mapping):

* ``indicator`` per destination, URL, command line and SHA-256 an alert points at (STIX
  patterns; private and loopback addresses are observed but never made indicators),
* ``observed-data`` per alert with its SCOs (ipv4/ipv6-addr, domain-name, url,
  network-traffic, process, file),
* ``sighting`` per indicator, seen by an ``identity`` that stands for the watchkeeper sandbox
  and run, with first/last seen and a count,
* ``attack-pattern`` per ATT&CK technique (``mitre-attack`` external reference),
* ``infrastructure`` for mining pools, tunnel endpoints, command-and-control, exfiltration
  and download hosts,
* ``relationship``: indicator *indicates* attack-pattern / infrastructure, indicator
  *based-on* observed-data, infrastructure *consists-of* its address or name,
* a ``report`` that lists it all, TLP marking on every object, and the agent context in
  ``x_watchkeeper_*`` properties (run, episode, step, tool call, sandbox, rule, action).

Ids of SDOs and SROs are UUIDv5 over the run and the object's content, so exporting the same
run twice gives the same objects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from watchkeeper.errors import PrerequisiteError
from watchkeeper.export._attack import tactics_of, technique_name, technique_url, techniques
from watchkeeper.export._enrich import NetIntel
from watchkeeper.export._indicators import ROLES, Observable, collect
from watchkeeper.export._rundir import AlertRecord, RunDir

NAMESPACE = uuid.UUID("6f1c2a4e-8c53-4f0b-9a55-77a0c3d5e2b1")
"""Namespace of watchkeeper's STIX ids."""

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
"""``created`` of the objects that do not belong to one run (producer, extension)."""

CONTEXT_PROPERTIES = (
    "x_watchkeeper_run", "x_watchkeeper_episode", "x_watchkeeper_step",
    "x_watchkeeper_tool_call_id", "x_watchkeeper_sandbox", "x_watchkeeper_rule_id",
    "x_watchkeeper_action", "x_watchkeeper_severity", "x_watchkeeper_roles",
)  # fmt: skip
"""The agent-context properties, declared by :data:`EXTENSION_ID`."""


def stable_uuid(key: str) -> uuid.UUID:
    """A UUID in version-4 form whose bits come from a hash of ``key`` (same key, same id)."""
    return uuid.UUID(bytes=uuid.uuid5(NAMESPACE, key).bytes, version=4)


EXTENSION_ID = f"extension-definition--{stable_uuid('watchkeeper agent context v1')}"
PRODUCER_ID = f"identity--{stable_uuid('watchkeeper producer')}"

TLP_LEVELS = ("clear", "green", "amber", "red")

_INFRA_TYPES: dict[str, list[str]] = {
    "mining-pool": ["command-and-control"],
    "tunnel": ["anonymization"],
    "c2": ["command-and-control"],
    "exfiltration": ["exfiltration"],
    "ingress": ["hosting-malware"],
}


def _stix2() -> Any:
    try:
        import stix2
    except ImportError:
        raise PrerequisiteError(
            "the STIX export needs the stix2 package", fix="pip install stix2"
        ) from None
    return stix2


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(max(value, 0.0), UTC)


def quote(value: str) -> str:
    """A STIX pattern string literal: ``'...'`` with ``\\`` and ``'`` escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern_of(obs: Observable) -> str | None:
    """The STIX pattern of an observable, or None when it should not become an indicator."""
    if obs.kind in ("ipv4-addr", "ipv6-addr"):
        if obs.intel is not None and obs.intel.address_class and not obs.intel.is_public:
            return None
        if obs.port is not None:
            return (
                f"[network-traffic:dst_ref.type = '{obs.kind}' AND "
                f"network-traffic:dst_ref.value = {quote(obs.value)} AND "
                f"network-traffic:dst_port = {int(obs.port)}]"
            )
        return f"[{obs.kind}:value = {quote(obs.value)}]"
    if obs.kind == "domain-name":
        return f"[domain-name:value = {quote(obs.value)}]"
    if obs.kind == "url":
        return f"[url:value = {quote(obs.value)}]"
    if obs.kind == "process":
        return f"[process:command_line = {quote(obs.value)}]"
    if obs.kind == "file":
        return f"[file:hashes.'SHA-256' = {quote(obs.value)}]"
    return None


class StixExporter:
    """Builds the STIX 2.1 bundle of a run directory.

    Args:
        intel: Enrichment (address classes, list hits); bundled lists by default.
        tlp: TLP level for every object: "clear", "green", "amber" (default) or "red".
    """

    name = "stix"
    default_filename = "stix.json"

    def __init__(self, intel: NetIntel | None = None, tlp: str = "amber") -> None:
        if tlp not in TLP_LEVELS:
            raise ValueError(f"tlp must be one of {', '.join(TLP_LEVELS)}")
        self.intel = intel
        self.tlp = tlp
        self.skipped: list[str] = []
        """Indicators left out, with why (e.g. a value that makes no valid pattern)."""

    def write(self, run: RunDir, out: TextIO) -> None:
        """Write the bundle as indented JSON."""
        out.write(to_json(self.bundle(run)))
        out.write("\n")

    def bundle(self, run: RunDir) -> Any:
        """The ``stix2.Bundle`` of the run."""
        stix2 = _stix2()
        intel = self.intel if self.intel is not None else NetIntel()
        alerts = run.alerts()
        runs = run.runs()
        run_id = runs[0].run_id if runs else (run.run_ids() or [str(run.path)])[0]
        stamps = [r.alert.ts for r in alerts if r.alert.ts > 0]
        if runs and runs[0].started:
            stamps.append(runs[0].started)
        if runs and runs[0].ended:
            stamps.append(runs[0].ended)
        created = _ts(max(stamps)) if stamps else datetime.now(UTC)
        first = _ts(min(stamps)) if stamps else created
        marking = {
            "clear": stix2.TLP_WHITE, "green": stix2.TLP_GREEN,
            "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED,
        }[self.tlp]  # fmt: skip
        b = _Builder(stix2, run_id, created, marking.id)
        sandboxes = sorted({r.alert.sandbox_id for r in alerts if r.alert.sandbox_id})
        producer = stix2.Identity(
            id=PRODUCER_ID, created=EPOCH, modified=EPOCH, name="watchkeeper",
            identity_class="system", description="watchkeeper, a security runtime for AI agents",
        )  # fmt: skip
        extension = stix2.ExtensionDefinition(
            id=EXTENSION_ID, created=EPOCH, modified=EPOCH, created_by_ref=PRODUCER_ID,
            name="watchkeeper agent context",
            description="Which agent run, episode, step and tool call an object comes from, "
                        "the sandbox, the rule that fired and the response taken.",
            schema="Top-level properties: x_watchkeeper_run, x_watchkeeper_episode, "
                   "x_watchkeeper_tool_call_id, x_watchkeeper_sandbox, x_watchkeeper_rule_id, "
                   "x_watchkeeper_action, x_watchkeeper_severity (strings, or lists of strings "
                   "on objects that aggregate alerts), x_watchkeeper_step (integer or list of "
                   "integers: the 0-based agent step), x_watchkeeper_roles (list of strings).",
            version="1.0.0", extension_types=["toplevel-property-extension"],
            extension_properties=list(CONTEXT_PROPERTIES),
        )  # fmt: skip
        b.producer = producer.id
        sandbox = b.add(
            stix2.Identity, "identity", f"sandbox:{run_id}",
            name=f"watchkeeper sandbox {', '.join(sandboxes) or '(unnamed)'} (run {run_id})",
            identity_class="system",
            description="The sandbox the agent ran in; where the indicators were sighted.",
            x_watchkeeper_run=run_id, x_watchkeeper_sandbox=sandboxes,
        )  # fmt: skip

        patterns: dict[str, Any] = {}
        for tid in sorted({t for r in alerts for t in techniques(list(r.alert.attack))}):
            url = technique_url(tid)
            ref: dict[str, str] = {"source_name": "mitre-attack", "external_id": tid}
            if url:
                ref["url"] = url
            patterns[tid] = b.add(stix2.AttackPattern, "attack-pattern", tid,
                                  name=technique_name(tid), external_references=[ref])  # fmt: skip

        observables = collect(alerts, run.flows(), intel)
        scos = _Scos(stix2, b)
        observed: dict[int, Any] = {}
        by_alert: dict[int, list[Observable]] = {}
        for obs in observables:
            for named in obs.alerts:
                by_alert.setdefault(named.index, []).append(obs)
        for record in alerts:
            refs = scos.refs_for(record, by_alert.get(record.index, []))
            if not refs:
                continue
            when = _ts(record.alert.ts) if record.alert.ts > 0 else first
            observed[record.index] = b.add(
                stix2.ObservedData, "observed-data", f"alert:{record.index}:{record.alert.rule_id}",
                first_observed=when, last_observed=when, number_observed=1, object_refs=refs,
                **_context(record),
            )  # fmt: skip

        indicators: dict[str, Any] = {}
        for obs in observables:
            pattern = pattern_of(obs)
            if pattern is None:
                continue
            indicator = indicators.get(pattern)
            if indicator is None:
                try:  # stix2 validates the pattern
                    indicator = self._indicator(b, obs, pattern, first)
                except stix2.exceptions.STIXError:
                    self.skipped.append(f"{obs.kind} {obs.value[:80]!r}: not a valid STIX pattern")
                    continue
                indicators[pattern] = indicator
                self._sighting(b, obs, indicator, sandbox.id, observed, first)
            for tid in techniques([t for r in obs.alerts for t in r.alert.attack]):
                b.relate(indicator.id, "indicates", patterns[tid].id)
            for record in obs.alerts:
                if record.index in observed:
                    b.relate(indicator.id, "based-on", observed[record.index].id)
            if obs.is_destination and obs.roles:
                infra = self._infrastructure(b, obs, first)
                b.relate(indicator.id, "indicates", infra.id)
                sco = scos.address(obs)
                if sco is not None:
                    b.relate(infra.id, "consists-of", sco)

        b.add(
            stix2.Report, "report", "run",
            name=f"watchkeeper run {run_id}",
            description=f"Indicators and observations from the watchkeeper run {run_id}: "
                        f"{len(alerts)} alerts, {len(indicators)} indicators.",
            published=created, report_types=["indicator", "observed-data", "attack-pattern"],
            object_refs=[o.id for o in b.objects] or [producer.id],
            x_watchkeeper_run=run_id,
        )  # fmt: skip
        objects = [marking, producer, extension, *scos.objects, *b.objects]
        return stix2.Bundle(
            objects=objects, allow_custom=True,
            id=f"bundle--{stable_uuid(f'{run_id}|bundle|{len(objects)}')}",
        )  # fmt: skip

    def _indicator(self, b: _Builder, obs: Observable, pattern: str, first: datetime) -> Any:
        records = obs.alerts
        worst = max(records, key=lambda r: (r.alert.severity, r.alert.confidence))
        name = {
            "ipv4-addr": "Destination", "ipv6-addr": "Destination", "domain-name": "Domain",
            "url": "URL", "process": "Command line", "file": "Executable",
        }.get(obs.kind, obs.kind)  # fmt: skip
        roles = ", ".join(ROLES[r].lower() for r in obs.roles)
        phases = [
            {"kill_chain_name": "mitre-attack", "phase_name": p}
            for p in _tactics(records)
        ]  # fmt: skip
        extra: dict[str, Any] = {}
        if phases:
            extra["kill_chain_phases"] = phases
        return b.add(
            b.stix2.Indicator, "indicator", pattern,
            name=f"{name} {(obs.value if obs.kind == 'domain-name' else obs.label())[:200]}"
            + (f" ({roles})" if roles else ""),
            description="; ".join(sorted({r.alert.title for r in records}))[:2000],
            pattern=pattern, pattern_type="stix",
            valid_from=_ts(obs.first_seen) if obs.first_seen > 0 else first,
            indicator_types=["malicious-activity"],
            confidence=round(worst.alert.confidence * 100),
            labels=[worst.alert.severity.label],
            **_context_many(records), **extra,
        )  # fmt: skip

    def _sighting(self, b: _Builder, obs: Observable, indicator: Any, where: str,
                  observed: dict[int, Any], first: datetime) -> Any:  # fmt: skip
        start = _ts(obs.first_seen) if obs.first_seen > 0 else first
        end = _ts(obs.last_seen) if obs.last_seen > 0 else start
        refs = [observed[r.index].id for r in obs.alerts if r.index in observed]
        extra: dict[str, Any] = {"observed_data_refs": refs} if refs else {}
        return b.add(
            b.stix2.Sighting, "sighting", indicator.id,
            sighting_of_ref=indicator.id, where_sighted_refs=[where],
            first_seen=start, last_seen=max(start, end), count=max(1, min(obs.count, 999_999_999)),
            description=f"Seen in the watchkeeper sandbox during {len(obs.alerts)} alert(s).",
            **_context_many(obs.alerts), **extra,
        )  # fmt: skip

    def _infrastructure(self, b: _Builder, obs: Observable, first: datetime) -> Any:
        kinds = sorted({t for r in obs.roles for t in _INFRA_TYPES.get(r, [])}) or ["unknown"]
        title = " / ".join(ROLES[r] for r in obs.roles)
        hits = obs.intel.hits if obs.intel is not None else ()
        lists = sorted({f"{h.list_name} ({h.category})" for h in hits})
        start = _ts(obs.first_seen) if obs.first_seen > 0 else first
        return b.add(
            b.stix2.Infrastructure, "infrastructure", f"{obs.roles}|{obs.label()}",
            name=f"{title}: {obs.label()[:200]}", infrastructure_types=kinds,
            description=(f"{title} contacted by the agent"
                         + (f"; on lists: {', '.join(lists)}" if lists else "")),
            first_seen=start, last_seen=max(start, _ts(obs.last_seen)),
            x_watchkeeper_roles=list(obs.roles),
        )  # fmt: skip


class _Builder:
    """Creates SDOs/SROs with deterministic ids, the producer and the marking."""

    def __init__(self, stix2: Any, run_id: str, created: datetime, marking: str) -> None:
        self.stix2 = stix2
        self.run_id = run_id
        self.created = created
        self.marking = marking
        self.producer: str | None = None
        self.objects: list[Any] = []
        self._ids: set[str] = set()

    def new_id(self, kind: str, key: str) -> str:
        return f"{kind}--{stable_uuid(f'{self.run_id}|{kind}|{key}')}"

    def add(self, cls: Any, kind: str, key: str, **props: Any) -> Any:
        oid = self.new_id(kind, key)
        common: dict[str, Any] = {
            "id": oid, "created": self.created, "modified": self.created,
            "object_marking_refs": [self.marking], "allow_custom": True,
        }  # fmt: skip
        if self.producer is not None:
            common["created_by_ref"] = self.producer
        if any(k.startswith("x_watchkeeper_") for k in props):
            common["extensions"] = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
        obj = cls(**common, **props)
        if oid not in self._ids:
            self._ids.add(oid)
            self.objects.append(obj)
        return obj

    def relate(self, source: str, kind: str, target: str) -> None:
        self.add(self.stix2.Relationship, "relationship", f"{source}|{kind}|{target}",
                 source_ref=source, relationship_type=kind, target_ref=target)  # fmt: skip


class _Scos:
    """The cyber observables, created once each (their ids are STIX's deterministic ones)."""

    def __init__(self, stix2: Any, b: _Builder) -> None:
        self.stix2 = stix2
        self.b = b
        self.objects: list[Any] = []
        self._by_key: dict[tuple[str, str, int | None], str] = {}

    def _keep(self, key: tuple[str, str, int | None], obj: Any) -> str:
        if key not in self._by_key:
            self._by_key[key] = obj.id
            self.objects.append(obj)
        return self._by_key[key]

    def address(self, obs: Observable) -> str | None:
        key = (obs.kind, obs.value, None)
        if key in self._by_key:
            return self._by_key[key]
        cls = {"ipv4-addr": self.stix2.IPv4Address, "ipv6-addr": self.stix2.IPv6Address,
               "domain-name": self.stix2.DomainName}.get(obs.kind)  # fmt: skip
        if cls is None:
            return None
        return self._keep(key, cls(value=obs.value))

    def refs_for(self, record: AlertRecord, observables: Iterable[Observable]) -> list[str]:
        refs: list[str] = []
        for obs in observables:
            try:
                refs += self._one(record, obs)
            except (ValueError, self.stix2.exceptions.STIXError):
                continue
        return list(dict.fromkeys(refs))

    def _one(self, record: AlertRecord, obs: Observable) -> list[str]:
        s = self.stix2
        if obs.is_destination:
            dst = self.address(obs)
            if dst is None:
                return []
            out = [dst]
            if obs.port is not None:
                protocols = [obs.protocol or "tcp"]
                key = ("network-traffic", dst, obs.port)
                out.append(self._keep(key, s.NetworkTraffic(
                    dst_ref=dst, dst_port=obs.port, protocols=protocols,
                )))  # fmt: skip
            return out
        if obs.kind == "url":
            return [self._keep(("url", obs.value, None), s.URL(value=obs.value))]
        if obs.kind == "file":
            name = record.exe.rsplit("/", 1)[-1] if record.exe else None
            props: dict[str, Any] = {"hashes": {"SHA-256": obs.value}}
            if name:
                props["name"] = name
            return [self._keep(("file", obs.value, None), s.File(**props))]
        if obs.kind == "process":
            pid = record.pid if record.cmdline == obs.value else None
            pkey: tuple[str, str, int | None] = ("process", f"{pid}|{obs.value}", None)
            if pkey not in self._by_key:
                props = {"command_line": obs.value}
                if pid is not None and pid >= 0:
                    props["pid"] = pid
                props["id"] = f"process--{stable_uuid(f'{self.b.run_id}|process|{pid}|{obs.value}')}"
                self._keep(pkey, s.Process(**props))
            return [self._by_key[pkey]]
        return []


def _context(record: AlertRecord) -> dict[str, Any]:
    a = record.alert
    out: dict[str, Any] = {
        "x_watchkeeper_run": a.run_id, "x_watchkeeper_episode": a.episode_id,
        "x_watchkeeper_tool_call_id": a.tool_call_id, "x_watchkeeper_sandbox": a.sandbox_id,
        "x_watchkeeper_rule_id": a.rule_id, "x_watchkeeper_action": a.action,
        "x_watchkeeper_severity": a.severity.label,
    }  # fmt: skip
    if a.step is not None:
        out["x_watchkeeper_step"] = a.step
    return {k: v for k, v in out.items() if v not in ("", None)}


def _context_many(records: Iterable[AlertRecord]) -> dict[str, Any]:
    recs = list(records)
    out: dict[str, Any] = {
        "x_watchkeeper_run": sorted({r.alert.run_id for r in recs if r.alert.run_id}),
        "x_watchkeeper_episode": sorted({r.alert.episode_id for r in recs if r.alert.episode_id}),
        "x_watchkeeper_step": sorted({r.alert.step for r in recs if r.alert.step is not None}),
        "x_watchkeeper_tool_call_id": sorted({r.alert.tool_call_id for r in recs
                                              if r.alert.tool_call_id}),
        "x_watchkeeper_sandbox": sorted({r.alert.sandbox_id for r in recs if r.alert.sandbox_id}),
        "x_watchkeeper_rule_id": sorted({r.alert.rule_id for r in recs}),
        "x_watchkeeper_action": sorted({r.alert.action for r in recs if r.alert.action}),
    }  # fmt: skip
    return {k: v for k, v in out.items() if v}


def _tactics(records: Iterable[AlertRecord]) -> list[str]:
    out: list[str] = []
    for record in records:
        for tactic in tactics_of(record.alert.tags):
            if tactic not in out:
                out.append(tactic)
    return out


def to_json(bundle: Any) -> str:
    """Indented JSON of a bundle.

    ``serialize(pretty=True)`` of stix2 re-sorts every object's properties and grows
    quadratically with the bundle; compact serialisation re-indented keeps stix2's order.
    """
    return json.dumps(json.loads(bundle.serialize()), indent=2, ensure_ascii=False)


def bundle_json(run: RunDir, **options: Any) -> str:
    """The bundle of ``run`` as a JSON string (options as for :class:`StixExporter`)."""
    return to_json(StixExporter(**options).bundle(run))


__all__ = [
    "EXTENSION_ID", "NAMESPACE", "TLP_LEVELS", "StixExporter", "bundle_json", "pattern_of", "quote",
    "stable_uuid", "to_json",
]  # fmt: skip
