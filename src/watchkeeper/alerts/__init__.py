"""Alerts (OCSF Detection Findings) with severities and ATT&CK ids."""

from watchkeeper.alerts._alert import Alert, Evidence
from watchkeeper.alerts._severity import Severity

__all__ = ["Alert", "Evidence", "Severity"]
