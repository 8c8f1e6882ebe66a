"""Readers of recorded agent trajectories (one per format) into a common model.

Use :func:`read_trajectories` to read files and folders in any supported format
(:data:`FORMATS`); malformed records come back as :class:`ReadIssue` items.
"""

from watchkeeper.trajectories._base import Reader, ReadIssue, Source
from watchkeeper.trajectories._classify import make_call
from watchkeeper.trajectories._detect import FORMATS, READERS, reader_for
from watchkeeper.trajectories._model import Step, ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._read import (
    SUFFIXES,
    ReadStats,
    TrajectoryStream,
    parse_record,
    read_trajectories,
)
from watchkeeper.trajectories._source import MAX_JSON_BYTES, MAX_LINE_BYTES

__all__ = [
    "FORMATS",
    "MAX_JSON_BYTES",
    "MAX_LINE_BYTES",
    "READERS",
    "SUFFIXES",
    "ReadIssue",
    "ReadStats",
    "Reader",
    "Source",
    "Step",
    "ToolCall",
    "ToolKind",
    "Trajectory",
    "TrajectoryStream",
    "make_call",
    "parse_record",
    "read_trajectories",
    "reader_for",
]
