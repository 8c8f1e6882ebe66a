from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from watchkeeper.cli.correlate import command
from watchkeeper.errors import InputError
from watchkeeper.testing.fleet import make_fleet
from watchkeeper.testing.mmdb import write_mmdb

DATA = Path(__file__).resolve().parents[1] / "data" / "external"
T0 = 1795773600.0  # 2026-11-27T10:00:00Z
BOOT = str(T0 - 3600)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args])


def sample(*extra: str | Path) -> Result:
    return run("--alerts", DATA / "logs", "--traces", DATA / "traces.jsonl",
               "--sandbox-map", DATA / "sandbox_map.csv", "--year", "2026", "--boot-time", BOOT,
               *extra)


def test_sample_logs_to_a_folder(tmp_path: Path) -> None:
    result = sample("--out", tmp_path / "out")
    assert result.exit_code == 2, result.output  # the samples hold malformed lines
    assert "eve.json:7: not valid JSON" in result.stderr
    assert "23 alerts from 9 file(s)" in result.stderr and "6 malformed" in result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / "attributions.jsonl").read_text().splitlines()]
    by_source = {r["source"].rsplit("/", 1)[1]: r for r in rows}
    curl = by_source["eve.json:1"]
    assert (curl["trajectory_id"], curl["step"], curl["tool_call_id"], curl["confidence"],
            curl["side"]) == ("ep-a", 0, "call_a0", 1.0, "src")
    assert by_source["eve.json:4"]["reason"] == "skew-margin"
    assert by_source["eve.json:5"]["trajectory_id"] == "ep-b"  # same address, later episode
    assert by_source["eve.json:5"]["side"] == "dst"
    assert by_source["eve.json:8"]["trajectory_id"] is None  # the address was idle then
    assert by_source["dmesg.txt:2"]["step"] == 2 and by_source["nft.log:1"]["step"] == 2
    assert by_source["notice.log:9"]["tool_call_id"] == "call_a1"
    # Community ID: kept from the log, computed when the log has none
    assert curl["community_id"] == "1:0q5Z1hCnZ/fkqdX0XSlhS/GGaMU="
    assert by_source["kern.log:2"]["community_id"].startswith("1:")
    summaries = [json.loads(line) for line in (tmp_path / "out" / "summary.jsonl").read_text().splitlines()]
    ep_a = next(s for s in summaries if s["trajectory_id"] == "ep-a")
    assert ep_a["steps"] == {"0": 2, "1": 4, "2": 3}
    assert ep_a["by_severity"]["high"] == 2 and ep_a["first_alert"] == T0 + 7.5
    assert summaries[-1]["trajectory_id"] is None and summaries[-1]["alerts"] == 3


def test_table_and_jsonl_on_stdout() -> None:
    table = sample("--format", "table")
    assert "ep-a" in table.stdout and "(unattributed)" in table.stdout and "stratum login" in table.stdout
    lines = sample().stdout.splitlines()
    assert len(lines) == 23 and all(json.loads(line)["kind"] for line in lines)


def test_jsonl_map_gives_the_same_attributions() -> None:
    csv_rows = sample().stdout
    jsonl = run("--alerts", DATA / "logs", "--traces", DATA / "traces.jsonl", "--sandbox-map",
                DATA / "sandbox_map.jsonl", "--year", "2026", "--boot-time", BOOT).stdout
    assert csv_rows == jsonl


def test_refusals_and_warnings(tmp_path: Path) -> None:
    result = run("--alerts", DATA / "logs" / "dmesg.txt", "--traces", DATA / "traces.jsonl",
                 "--sandbox-map", DATA / "sandbox_map.csv")
    assert isinstance(result.exception, InputError) and "--boot-time" in str(result.exception)
    both = sample("--out", tmp_path, "--output", tmp_path / "x.jsonl")
    assert both.exit_code != 0 and "not both" in both.output
    nomap = run("--alerts", DATA / "logs" / "eve.json", "--traces", DATA / "traces.jsonl")
    assert "no sandbox addresses in trajectory metadata" in nomap.stderr
    assert all(json.loads(line)["trajectory_id"] is None for line in nomap.stdout.splitlines())
    bad = run("--alerts", DATA / "logs" / "eve.json", "--traces", DATA / "traces.jsonl",
              "--boot-time", "soon")
    assert bad.exit_code == 2 and "--boot-time" in bad.output


def test_enrich_remote_side(tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", {"198.51.100.0/24": {"autonomous_system_number": 64500}})
    result = sample("--enrich", "--mmdb", db, "--eve-types", "alert,dns")
    rows = {json.loads(line)["source"].rsplit("/", 1)[1]: json.loads(line) for line in result.stdout.splitlines()}
    stratum = rows["eve.json:4"]["remote"]
    assert stratum["ip"] == "198.51.100.9" and stratum["address_class"] == "documentation"
    assert stratum["port"] == 3333 and stratum["hits"][0]["list"] == "falco_miner_ports"
    assert "geo" not in stratum  # geo only for public addresses
    dns = rows["eve.json:3"]["remote"]
    assert dns["domain"] == "pool.minexmr.com" and any(h["category"] == "miner-pool" for h in dns["hits"])
    assert rows["eve.json:5"]["remote"]["ip"] == "203.0.113.50"  # inbound: the remote is the source


def test_fleet_end_to_end(tmp_path: Path) -> None:
    fleet = make_fleet(episodes=120, addresses=20, seed=21)
    fleet.write_alerts(tmp_path / "logs")
    fleet.write_trajectories(tmp_path / "traces.jsonl")
    fleet.write_sandbox_map(tmp_path / "map.csv")
    result = run("--alerts", tmp_path / "logs", "--traces", tmp_path / "traces.jsonl",
                 "--sandbox-map", tmp_path / "map.csv", "--year", str(fleet.year),
                 "--boot-time", str(fleet.boot_time), "--output", tmp_path / "att.jsonl")
    assert result.exit_code == 0, result.output
    truth = {a.key: a for a in fleet.alerts}
    right = total = 0
    for line in (tmp_path / "att.jsonl").read_text().splitlines():
        row = json.loads(line)
        expected = truth[(row["src_ip"], row["src_port"], row["dst_ip"], row["dst_port"])]
        total += 1
        right += (row["trajectory_id"], row["step"]) == (expected.trajectory_id, expected.step)
    assert total == len(fleet.alerts) and right / total >= 0.99


@pytest.mark.parametrize("tz", ["UTC", "+02:00", "Europe/Paris", "local"])
def test_log_time_zones(tz: str) -> None:
    assert sample("--log-tz", tz).exit_code == 2  # runs (the samples' malformed lines give 2)


def test_unknown_time_zone() -> None:
    result = sample("--log-tz", "Mars/Olympus")
    assert result.exit_code == 2 and "unknown time zone" in result.output
