"""The live runtime: a watched sandbox (``Sandbox``), its monitor and the dispatch of events
through detection and response. See docs/runtime.md."""

from watchkeeper.runtime.monitor import Monitor
from watchkeeper.runtime.output import ALERTS_FILE, alert_line, alert_record
from watchkeeper.runtime.pipeline import DETECTOR_IDS, RULE_SENSOR_FAILED, RULE_SENSOR_LOSS
from watchkeeper.runtime.session import ExecResult, Sandbox
from watchkeeper.sandbox.gpu import GpuGrant

__all__ = [
    "ALERTS_FILE",
    "DETECTOR_IDS",
    "RULE_SENSOR_FAILED",
    "RULE_SENSOR_LOSS",
    "ExecResult",
    "GpuGrant",
    "Monitor",
    "Sandbox",
    "alert_line",
    "alert_record",
]
