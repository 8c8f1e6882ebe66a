"""``watchkeeper rules check`` and ``watchkeeper rules list``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.cli.rules import command

REPO = Path(__file__).resolve().parents[2]
SIGMAHQ = REPO.parent / "shared" / "data" / "sigmahq-linux"

GOOD = """title: Netcat exec
id: nc-exec
level: high
tags: [attack.execution, attack.t1059.004]
logsource: {product: linux, category: process_creation}
detection:
    sel:
        Image|endswith: /nc
        CommandLine|contains: ' -e '
    condition: sel
"""

BAD = """title: Counting
id: counting
logsource: {product: linux, category: process_creation}
detection:
    sel:
        Image|endswith: /nc
    condition: sel | count() > 5
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad.yml").write_text(BAD)
    return tmp_path


def test_check_prints_issues_and_summary(rules_dir: Path) -> None:
    result = CliRunner().invoke(command, ["check", str(rules_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{rules_dir / 'bad.yml'}:7: counting Counting: aggregation in condition (| count() ...) is not supported"
    assert lines[-1] == "loaded 1, unsupported 1 (aggregation: 1)"


def test_check_bad_path_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["check", str(tmp_path / "missing")])
    assert result.exit_code == 2


def test_list(rules_dir: Path) -> None:
    result = CliRunner().invoke(command, ["list", "--rules", str(rules_dir), "--no-builtin"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["nc-exec", "high", "T1059.004", "Netcat", "exec"]
    assert lines[-1].startswith("loaded 1, unsupported 1")


def test_list_without_rules_is_empty() -> None:
    result = CliRunner().invoke(command, ["list", "--no-builtin"])
    assert result.exit_code == 0
    assert result.output.strip() == "loaded 0, unsupported 0"


@pytest.mark.skipif(not SIGMAHQ.is_dir(), reason=f"SigmaHQ Linux rules not found at {SIGMAHQ}")
def test_check_sigmahq() -> None:
    result = CliRunner().invoke(command, ["check", str(SIGMAHQ)])
    assert result.exit_code == 0
    issues = result.output.splitlines()[:-1]
    assert issues and all(line.startswith(str(SIGMAHQ)) for line in issues)
    assert result.output.splitlines()[-1].startswith("loaded 13")
