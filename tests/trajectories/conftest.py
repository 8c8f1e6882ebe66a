"""Shared fixtures for the trajectory reader tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.trajectories import ReadIssue, ToolCall, Trajectory, read_trajectories

DATA = Path(__file__).resolve().parent.parent / "data" / "trajectories"

ReadAll = Callable[..., tuple[list[Trajectory], list[ReadIssue]]]


def _read_all(*paths: str | Path, **options: object) -> tuple[list[Trajectory], list[ReadIssue]]:
    trajectories: list[Trajectory] = []
    issues: list[ReadIssue] = []
    for item in read_trajectories(list(paths), **options):  # type: ignore[arg-type]
        if isinstance(item, ReadIssue):
            issues.append(item)
        else:
            trajectories.append(item)
    return trajectories, issues


def _read_one(path: str | Path, **options: object) -> Trajectory:
    trajectories, issues = _read_all(path, **options)
    assert issues == []
    assert len(trajectories) == 1
    return trajectories[0]


def _calls(trajectory: Trajectory) -> list[ToolCall]:
    return [call for step in trajectory.steps for call in step.tool_calls]


@pytest.fixture
def data() -> Path:
    """The folder of hand-written sample trajectories, one subfolder per format."""
    return DATA


@pytest.fixture
def read_all() -> ReadAll:
    """``read_all(*paths, **options)`` -> (trajectories, issues)."""
    return _read_all


@pytest.fixture
def read_one() -> Callable[..., Trajectory]:
    """``read_one(path, **options)`` -> the single trajectory of ``path`` (no issues)."""
    return _read_one


@pytest.fixture
def calls() -> Callable[[Trajectory], list[ToolCall]]:
    """``calls(trajectory)`` -> all its tool calls in order."""
    return _calls
