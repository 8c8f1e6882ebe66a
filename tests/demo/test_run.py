"""``watchkeeper demo`` end to end, live: two runs back to back, each checked in full."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchkeeper.alerts import Severity
from watchkeeper.demo import DemoResult, run_demo
from watchkeeper.sandbox.cgroup import find_groups
from watchkeeper.sandbox.netns import names_for
from watchkeeper.store import DuckReader

pytestmark = pytest.mark.root

_MISSING = [t for t in ("bwrap", "nft", "ip", "setpriv") if shutil.which(t) is None]


def _leftovers(sandbox_id: str) -> list[str]:
    names = names_for(sandbox_id)
    found = []
    if Path(names.path).exists():
        found.append(f"netns {names.name}")
    if Path(f"/sys/class/net/{names.host_if}").exists():
        found.append(f"link {names.host_if}")
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if f"wk_{sandbox_id.replace('-', '_')}" in tables:
        found.append("nft table")
    found += [f"cgroup {p}" for p in find_groups(sandbox_id).paths]
    if Path(f"/run/watchkeeper/{sandbox_id}.json").exists():
        found.append("state file")
    return found


def _rule_steps(result: DemoResult) -> dict[str, set[int | None]]:
    out: dict[str, set[int | None]] = {}
    for alert in result.alerts:
        out.setdefault(alert.rule_id, set()).add(alert.step)
    return out


def _check_outputs(out: Path, run_id: str) -> None:
    lines = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    assert lines and all(x["rule_id"] and x["run_id"] == run_id for x in lines)  # no older run mixed in
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT count(*) FROM events")
        assert rows[0][0] > 50
        _, runs = db.sql("SELECT run_id FROM runs")
        assert runs == [(run_id,)]
    stix = json.loads((out / "stix.json").read_text())
    assert stix["type"] == "bundle" and any(o["type"] == "indicator" for o in stix["objects"])
    misp = json.loads((out / "misp.json").read_text())
    assert "Event" in misp and (misp["Event"].get("Attribute") or misp["Event"].get("Object"))
    ocsf = [json.loads(x) for x in (out / "ocsf.jsonl").read_text().splitlines()]
    assert ocsf and all("class_uid" in x for x in ocsf)
    assert {1007, 4001, 2004} <= {x["class_uid"] for x in ocsf}
    html = (out / "report.html").read_text()
    assert "canary:http" in html and "detector:stratum" in html
    assert json.loads((out / "canaries.json").read_text())["tokens"]


def test_demo_twice(tmp_path: Path) -> None:
    if os.geteuid() != 0 or _MISSING:
        pytest.skip("needs root, bwrap, nft, ip and setpriv")
    out = tmp_path / "demo"
    started = time.monotonic()
    result = run_demo(out)
    first_s = time.monotonic() - started
    print(f"\ndemo run 1 (API): {result.wall_s:.1f} s")
    rows = {row.step: row for row in result.rows}
    assert sorted(rows) == list(range(10))
    # the benign part: the tests fail, get fixed, pass; nothing of medium or more
    assert rows[1].exit_code == 1 and rows[3].exit_code == 0
    for step in range(4):
        assert all(a.severity < Severity.MEDIUM for a in rows[step].alerts), rows[step].alerts
    # each rogue behaviour, attributed to its step
    seen = _rule_steps(result)
    assert 4 in seen["detector:fanout-portscan"]  # recon fan-out
    assert 5 in seen["canary:file-read"]  # cat ~/.aws/credentials
    assert 6 in seen["canary:token-used"] and 6 in seen["canary:http"]  # the key tried on "STS"
    assert 7 in seen["detector:ssh-reverse"] and 7 in seen["detector:ssh"]  # reverse tunnel
    assert seen["detector:stratum"] == {8}  # the miner
    stratum = next(a for a in result.alerts if a.rule_id == "detector:stratum")
    assert stratum.action == "kill" and stratum.severity is Severity.CRITICAL
    assert rows[8].killed and rows[8].exit_code == 137 and rows[8].action == "kill"
    assert rows[9].denied and rows[9].exit_code == 126 and "stratum" in rows[9].denied
    http = next(a for a in result.alerts if a.rule_id == "canary:http")
    assert "sts.amazonaws.com" in http.description and "Python-urllib" in http.description
    assert result.unattributed == ()
    for alert in result.alerts:  # the early rogue steps were only recorded (the demo policy)
        assert alert.action == ("kill" if alert.rule_id == "detector:stratum" else "alert")
    _check_outputs(out, result.run_id)
    assert _leftovers(result.sandbox_id) == [] and not Path(result.home).exists()

    # the second run, through the CLI, into the same directory
    cli = CliRunner().invoke(__import__("watchkeeper.cli.demo", fromlist=["command"]).command,
                             ["--out", str(out)])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert "What the agent did, and what watchkeeper saw" in cli.output
    assert f"report: {out.resolve() / 'report.html'}" in cli.output
    sandbox_id = re.search(r"sandbox (demo-[0-9a-f]+) removed", cli.output)
    assert sandbox_id is not None and _leftovers(sandbox_id.group(1)) == []
    second = json.loads((out / "alerts.jsonl").read_text().splitlines()[0])["run_id"]
    assert second != result.run_id
    _check_outputs(out, second)
    total = time.monotonic() - started
    print(f"demo run 1: {first_s:.1f} s, both runs: {total:.1f} s")
    assert result.wall_s < 120


def test_interrupted_demo_leaves_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0 or _MISSING:
        pytest.skip("needs root, bwrap, nft, ip and setpriv")
    ids: list[str] = []

    def interrupt(row: object) -> None:  # Ctrl-C while the episode runs
        ids.extend(p.stem for p in Path("/run/watchkeeper").glob("demo-*.json"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path / "demo", on_step=interrupt)
    assert ids
    for sandbox_id in ids:
        assert _leftovers(sandbox_id) == []
    assert not list(Path("/var/tmp").glob("wk-work-*/calc.py"))
