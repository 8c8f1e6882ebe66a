from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.cli.main import cli
from watchkeeper.testing.rundir import mining_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mining_run(tmp_path_factory.mktemp("cli-export") / "run")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["export", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("fmt", "name"), [("stix", "stix.json"), ("misp", "misp.json"),
                                            ("ocsf", "ocsf.jsonl")])  # fmt: skip
def test_default_outputs(tmp_path: Path, run_dir: Path, fmt: str, name: str) -> None:
    work = shutil.copytree(run_dir, tmp_path / "run")
    code, out, err = invoke(str(work), "--format", fmt)
    assert code == 0 and err == "" and out.strip() == str(work / name)
    text = (work / name).read_text()
    if fmt == "stix":
        assert json.loads(text)["type"] == "bundle"
    elif fmt == "misp":
        assert json.loads(text)["Event"]["info"].startswith("watchkeeper run run-7f3a")
    else:
        assert all(json.loads(line)["class_uid"] for line in text.splitlines())
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temp files left


def test_output_options(tmp_path: Path, run_dir: Path) -> None:
    target = tmp_path / "x.json"
    code, out, _ = invoke(str(run_dir), "--format", "misp", "--output", str(target), "--tlp", "red")
    assert code == 0 and out.strip() == str(target)
    assert {"name": "tlp:red"} in json.loads(target.read_text())["Event"]["Tag"]
    code, out, _ = invoke(str(run_dir), "--format", "ocsf", "--output", "-")
    assert code == 0 and json.loads(out.splitlines()[0])["class_uid"] == 1007


def test_bad_input(tmp_path: Path, run_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "stix"],
                                standalone_mode=False)  # fmt: skip
    assert result.exit_code != 0 and "not a watchkeeper run directory" in str(result.exception)
    code, _, err = invoke(str(run_dir), "--format", "pdf")
    assert code == 2 and "pdf" in err
    existing = tmp_path / "keep.json"
    existing.write_text("keep")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "events.duckdb").write_bytes(b"\0" * 4096)
    result = CliRunner().invoke(cli, ["export", str(bad), "--format", "stix", "-o", str(existing)],
                                standalone_mode=False)  # fmt: skip
    assert result.exit_code != 0 and existing.read_text() == "keep"
