"""External alerts (IDS and firewall logs) read into one model, for joining to agent steps.

Use :func:`read_alerts` to read Suricata EVE, Zeek (TSV or JSON), nftables/iptables packet
logs and generic CSV, detected per file; bad lines come back as :class:`LineIssue` items.
:mod:`watchkeeper.attribution.correlate` joins the alerts to trajectories.
"""

from watchkeeper.attribution.external._alert import (
    AlertKind,
    ExternalAlert,
    LineIssue,
    ReadOptions,
    new_alert,
)
from watchkeeper.attribution.external._common import AlertReader
from watchkeeper.attribution.external._read import (
    FORMATS,
    AlertStats,
    AlertStream,
    detect,
    make_reader,
    read_alerts,
)
from watchkeeper.attribution.external._sandbox_map import (
    Lease,
    leases_from_metadata,
    load_sandbox_map,
)
from watchkeeper.attribution.external._summary import Summarizer, TrajectorySummary
from watchkeeper.attribution.external.generic_csv import GenericCsvReader
from watchkeeper.attribution.external.netfilter import NetfilterReader
from watchkeeper.attribution.external.suricata import SuricataReader
from watchkeeper.attribution.external.zeek import ZeekReader

__all__ = [
    "FORMATS",
    "AlertKind",
    "AlertReader",
    "AlertStats",
    "AlertStream",
    "ExternalAlert",
    "GenericCsvReader",
    "Lease",
    "LineIssue",
    "NetfilterReader",
    "ReadOptions",
    "Summarizer",
    "SuricataReader",
    "TrajectorySummary",
    "ZeekReader",
    "detect",
    "leases_from_metadata",
    "load_sandbox_map",
    "make_reader",
    "new_alert",
    "read_alerts",
]
