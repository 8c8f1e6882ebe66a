from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.attribution.external import ExternalAlert, LineIssue, ReadOptions, read_alerts

DATA = Path(__file__).resolve().parents[2] / "data" / "external"

Read = Callable[..., tuple[list[ExternalAlert], list[LineIssue]]]


def _read(path: Path | str, fmt: str = "auto", **options: Any) -> tuple[list[ExternalAlert], list[LineIssue]]:
    alerts: list[ExternalAlert] = []
    issues: list[LineIssue] = []
    for item in read_alerts([path], fmt=fmt, options=ReadOptions(**options)):
        if isinstance(item, LineIssue):
            issues.append(item)
        else:
            alerts.append(item)
    return alerts, issues


@pytest.fixture()
def data() -> Path:
    """The sample logs, sandbox maps and trajectories (base time 2026-11-27T10:00:00Z)."""
    return DATA


@pytest.fixture()
def read() -> Read:
    """read(path, fmt="auto", **ReadOptions fields) -> (alerts, issues)."""
    return _read
