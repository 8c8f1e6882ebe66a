"""``watchkeeper cleanup``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.cli.cleanup import command
from watchkeeper.errors import PrerequisiteError

pytestmark = pytest.mark.root


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def test_nothing_to_clean(root: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "nothing to clean up" in result.output


def test_problems_exit_non_zero(root: None, tmp_path: Path) -> None:
    (tmp_path / "tcli-1.json").write_text("garbage")
    result = CliRunner().invoke(command, ["--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "unreadable state file" in result.output


def test_not_root_is_a_prerequisite_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(command, ["--state-dir", str(tmp_path)])
    assert isinstance(result.exception, PrerequisiteError) and "root" in str(result.exception)
