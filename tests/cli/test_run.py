"""``watchkeeper run``: a whole command in a watched sandbox."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.cli.run import command, parse_gpu
from watchkeeper.errors import InputError, PolicyError, PrerequisiteError
from watchkeeper.store import DuckReader

pytestmark = pytest.mark.root

_MISSING = [t for t in ("bwrap", "nft", "ip", "setpriv") if shutil.which(t) is None]


@pytest.fixture(scope="module")
def live() -> Iterator[None]:
    """Root and the sandbox tools; one monitor shared by the in-process runs."""
    if os.geteuid() != 0 or _MISSING:
        pytest.skip("needs root, bwrap, nft, ip and setpriv")
    from watchkeeper.runtime import Monitor

    monitor = Monitor.acquire()
    try:
        yield
    finally:
        monitor.release()


def _no_leftovers(out: Path) -> None:
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT config FROM runs")
    sandbox_id = json.loads(rows[0][0])["sandbox_id"]
    assert not Path(f"/run/watchkeeper/{sandbox_id}.json").exists()
    assert not Path(f"/run/netns/wk-{sandbox_id}").exists()
    assert not Path(f"/sys/fs/cgroup/unified/wk-{sandbox_id}").exists()


def test_miner_flags_are_killed_with_137(live: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    work = tmp_path / "work"
    work.mkdir()
    args = ["--out", str(out), "--workdir", str(work), "--",
            "python3", "-c", "import time; time.sleep(8)", "--donate-level=1"]  # fmt: skip
    started = time.monotonic()
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 137, result.output
    assert time.monotonic() - started < 6
    assert "action=kill" in result.output and "[high]" in result.output
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    killed = [a for a in alerts if a["action"] == "kill"]
    assert killed and "--donate-level" in killed[0]["cmdline"] and killed[0]["step"] == 0
    assert killed[0]["exe"].endswith(("python3", "python3.11")) and killed[0]["pid"]
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT count(*) FROM events WHERE category = 'process_creation'")
        assert rows[0][0] >= 1
    _no_leftovers(out)


def test_exit_code_passes_through_and_outputs_are_out_of_reach(live: None, tmp_path: Path) -> None:
    out = tmp_path / "out"  # inside the work dir: the command must not be able to touch it
    script = f"echo hi > note.txt; touch {out}/forged 2>/dev/null || echo blocked > blocked.txt; exit 3"
    result = CliRunner().invoke(command, ["--out", str(out), "--workdir", str(tmp_path), "--",
                                          "sh", "-c", script])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "0 alert(s)" in result.output
    assert (tmp_path / "note.txt").read_text() == "hi\n"
    assert (tmp_path / "blocked.txt").exists() and not (out / "forged").exists()
    assert (out / "events.duckdb").exists() and (out / "alerts.jsonl").read_text() == ""


def test_policy_error_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.yml"
    bad.write_text("version: 1\nrules:\n  detector:stratum: nuke\n")
    result = CliRunner().invoke(command, ["--policy", str(bad), "--", "true"])
    if os.geteuid() != 0 or _MISSING:
        assert isinstance(result.exception, PrerequisiteError)
        return
    assert isinstance(result.exception, PolicyError)
    assert f"{bad}:3 (field 'rules.detector:stratum')" in str(result.exception)


def test_not_root_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(command, ["--", "true"])
    assert isinstance(result.exception, PrerequisiteError)
    assert "root" in str(result.exception) and "fix:" in str(result.exception)


def test_ctrl_c_tears_down_and_exits_130(live: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    work = tmp_path / "work"
    work.mkdir()
    # A test suite started in the background inherits SIGINT ignored (and so would the console
    # script); a terminal's Ctrl-C reaches a process that has Python's default handler.
    entry = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv[0] = 'watchkeeper'; from watchkeeper.cli.main import main; main()")
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, "run", "--out", str(out), "--workdir", str(work), "--",
         "sh", "-c", "touch started; sleep 30"],  # fmt: skip
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (work / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (work / "started").exists(), proc.stderr.read() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            assert proc.stderr is not None
            raise AssertionError("no exit 15 s after SIGINT; stderr: " + proc.stderr.read().decode()) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
    _no_leftovers(out)


@pytest.mark.parametrize(
    ("values", "devices", "everything"),
    [
        ((), (), False),
        (("none",), (), False),
        (("all",), (), True),
        (("ALL",), (), True),
        (("0,1",), ("0", "1"), False),
        (("0", "2"), ("0", "2"), False),
        ((" 1 , GPU-5c1f-aa",), ("1", "GPU-5c1f-aa"), False),
        (("01", "1"), ("1",), False),
    ],
)
def test_gpu_option_values(values: tuple[str, ...], devices: tuple[str, ...], everything: bool) -> None:
    grant = parse_gpu(values)
    assert grant.devices == devices and grant.everything is everything


@pytest.mark.parametrize("bad", ["gpu0", "0,", "all,0", "none,all", "-1", "GPU-", "1;rm"])
def test_bad_gpu_value_is_an_input_error_naming_the_option(bad: str) -> None:
    with pytest.raises(InputError) as info:
        parse_gpu([bad])
    text = str(info.value)
    assert text.startswith("--gpu: ") and "\n" not in text


def test_bad_gpu_value_is_one_line_from_the_cli() -> None:
    """The whole command line: one error line naming --gpu, before anything is set up."""
    exe = Path(sys.executable).with_name("watchkeeper")
    done = subprocess.run(
        [str(exe), "run", "--gpu", "0", "--gpu", "nvidia0", "--", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("watchkeeper: error: --gpu: ") and "nvidia0" in done.stderr
