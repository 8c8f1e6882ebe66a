"""The demo's project fails its tests until the episode's edit is applied."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from watchkeeper.demo import load_episode, write_project
from watchkeeper.trajectories import ToolKind


def _tests(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=cwd, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_project_is_fixed_by_the_episode(tmp_path: Path) -> None:
    assert {p.name for p in write_project(tmp_path)} == {"calc.py", "test_calc.py", "README.md"}
    before = _tests(tmp_path)
    assert before.returncode != 0 and "failures=1, errors=1" in before.stderr
    (edit,) = [c for s in load_episode().steps for c in s.tool_calls if c.kind is ToolKind.FILE_EDIT]
    args = json.loads(edit.arguments_text)
    calc = tmp_path / "calc.py"
    calc.write_text(calc.read_text().replace(args["old_str"], args["new_str"]))
    after = _tests(tmp_path)
    assert after.returncode == 0, after.stderr
