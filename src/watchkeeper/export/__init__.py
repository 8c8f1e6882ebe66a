"""Exporters of a run directory: the forensic HTML report, STIX 2.1, MISP and OCSF.

Each exporter has a ``name``, a ``default_filename`` and ``write(run, out)``; open the run
with :func:`open_run_dir` and write through :func:`atomic_text` so a failure leaves nothing
half-written. ``stix2`` and ``pymisp`` are imported only when their export runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchkeeper.export._enrich import HostIntel, ListHit, NetIntel
    from watchkeeper.export._exporter import EXPORTERS, Exporter, exporter_for
    from watchkeeper.export._indicators import Observable, collect
    from watchkeeper.export._rundir import (
        ALERTS_FILENAME,
        AlertRecord,
        FlowRecord,
        LoadIssue,
        ResourcePoint,
        RunDir,
        RunInfo,
        StepInfo,
        alert_from_dict,
        open_run_dir,
    )
    from watchkeeper.export._write import atomic_text
    from watchkeeper.export.misp import MispExporter
    from watchkeeper.export.ocsf import OcsfExporter, alert_to_ocsf, event_to_ocsf
    from watchkeeper.export.report_html import HtmlReport
    from watchkeeper.export.stix import StixExporter

_WHERE: dict[str, str] = {
    "ALERTS_FILENAME": "watchkeeper.export._rundir",
    "AlertRecord": "watchkeeper.export._rundir",
    "EXPORTERS": "watchkeeper.export._exporter",
    "Exporter": "watchkeeper.export._exporter",
    "FlowRecord": "watchkeeper.export._rundir",
    "HostIntel": "watchkeeper.export._enrich",
    "HtmlReport": "watchkeeper.export.report_html",
    "ListHit": "watchkeeper.export._enrich",
    "LoadIssue": "watchkeeper.export._rundir",
    "MispExporter": "watchkeeper.export.misp",
    "NetIntel": "watchkeeper.export._enrich",
    "Observable": "watchkeeper.export._indicators",
    "OcsfExporter": "watchkeeper.export.ocsf",
    "ResourcePoint": "watchkeeper.export._rundir",
    "RunDir": "watchkeeper.export._rundir",
    "RunInfo": "watchkeeper.export._rundir",
    "StepInfo": "watchkeeper.export._rundir",
    "StixExporter": "watchkeeper.export.stix",
    "alert_from_dict": "watchkeeper.export._rundir",
    "alert_to_ocsf": "watchkeeper.export.ocsf",
    "atomic_text": "watchkeeper.export._write",
    "collect": "watchkeeper.export._indicators",
    "event_to_ocsf": "watchkeeper.export.ocsf",
    "exporter_for": "watchkeeper.export._exporter",
    "open_run_dir": "watchkeeper.export._rundir",
}
"""Where each public name lives: loaded on first use, so importing
``watchkeeper.export.ocsf`` does not pull in DuckDB, stix2 or pymisp."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ALERTS_FILENAME",
    "EXPORTERS",
    "AlertRecord",
    "Exporter",
    "FlowRecord",
    "HostIntel",
    "HtmlReport",
    "ListHit",
    "LoadIssue",
    "MispExporter",
    "NetIntel",
    "Observable",
    "OcsfExporter",
    "ResourcePoint",
    "RunDir",
    "RunInfo",
    "StepInfo",
    "StixExporter",
    "alert_from_dict",
    "alert_to_ocsf",
    "atomic_text",
    "collect",
    "event_to_ocsf",
    "exporter_for",
    "open_run_dir",
]
