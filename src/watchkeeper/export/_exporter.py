"""The exporter contract and the formats of ``watchkeeper export``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from watchkeeper.export._enrich import NetIntel
    from watchkeeper.export._rundir import RunDir


class Exporter(Protocol):
    """Writes one run directory in one format."""

    name: str
    default_filename: str

    def write(self, run: RunDir, out: TextIO) -> None:
        """Write the whole output to ``out``."""
        ...


EXPORTERS: dict[str, str] = {
    "stix": "STIX 2.1 bundle (stix.json)",
    "misp": "MISP event (misp.json)",
    "ocsf": "OCSF JSON lines: every event and alert (ocsf.jsonl)",
}
"""Formats of ``watchkeeper export --format``, with what they write."""


def exporter_for(fmt: str, intel: NetIntel | None = None, tlp: str = "amber") -> Exporter:
    """The exporter of a ``--format`` value.

    Raises:
        ValueError: an unknown format (the message lists the known ones).
    """
    if fmt == "stix":
        from watchkeeper.export.stix import StixExporter

        return StixExporter(intel, tlp=tlp)
    if fmt == "misp":
        from watchkeeper.export.misp import MispExporter

        return MispExporter(intel, tlp=tlp)
    if fmt == "ocsf":
        from watchkeeper.export.ocsf import OcsfExporter

        return OcsfExporter()
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(EXPORTERS)})")
