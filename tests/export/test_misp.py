from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from watchkeeper.export import MispExporter, RunDir
from watchkeeper.export.misp import galaxy_tag
from watchkeeper.testing.rundir import RunDirBuilder

pymisp = pytest.importorskip("pymisp")


@pytest.fixture(scope="module")
def text(mining_dir: Path) -> str:
    out = io.StringIO()
    with RunDir(mining_dir) as run:
        MispExporter().write(run, out)
    return out.getvalue()


def test_loads_back_into_pymisp(text: str) -> None:
    assert list(json.loads(text)) == ["Event"]
    event = pymisp.MISPEvent()
    event.load(text)
    assert event.info == "watchkeeper run run-7f3a: Stratum Mining URI On Command Line (+5 more alerts)"
    assert event.threat_level_id == 1 and event.analysis == 0 and event.distribution == 0
    assert str(event.date) == "2025-01-01"
    tags = {t.name for t in event.tags}
    assert "tlp:amber" in tags
    assert 'misp-galaxy:mitre-attack-pattern="Resource Hijacking - T1496"' in tags
    assert 'misp-galaxy:mitre-attack-pattern="Protocol Tunneling - T1572"' in tags
    assert {o.name for o in event.objects} == {"network-connection", "process"}


def test_attributes(text: str) -> None:
    event = pymisp.MISPEvent()
    event.load(text)
    attrs = {(a.type, a.value): a for a in event.attributes}
    assert attrs[("ip-dst", "5.9.10.11")].to_ids is True
    assert attrs[("ip-dst", "198.51.100.23")].to_ids is False  # documentation range: context only
    assert attrs[("domain", "de.minexmr.com")].to_ids is True
    assert attrs[("url", "stratum+tcp://de.minexmr.com:4444")].to_ids is True
    assert attrs[("port", "4444")].to_ids is False
    assert attrs[("text", "ngrok tcp 22 --authtoken 2bXq")].to_ids is False
    assert any(t == "sha256" for t, _ in attrs)
    pool = attrs[("domain", "de.minexmr.com")]
    assert "run run-7f3a, episode ep-1, step 2, tool call call_2" in pool.comment
    assert "mining pool" in pool.comment
    assert {t.name for t in pool.tags} >= {galaxy_tag("T1496.001")}
    assert pool.first_seen is not None and pool.last_seen >= pool.first_seen


def test_connection_objects_carry_the_flow(text: str) -> None:
    event = pymisp.MISPEvent()
    event.load(text)
    conns = [o for o in event.objects if o.name == "network-connection"]
    assert len(conns) == 3  # one per destination and port, not one per name and address
    pool = next(o for o in conns if any(a.value == "de.minexmr.com" for a in o.attributes))
    values = {a.object_relation: a.value for a in pool.attributes}
    assert values["ip-dst"] == "5.9.10.11" and values["dst-port"] == "4444"
    assert values["layer7-protocol"] == "STRATUM" and values["community-id"].startswith("1:")


def test_stable_uuids_and_options(mining_dir: Path) -> None:
    with RunDir(mining_dir) as run:
        one = MispExporter().event(run)
        two = MispExporter(tlp="green", distribution=1).event(run)
    assert one.uuid == two.uuid
    assert [a.uuid for a in one.attributes] == [a.uuid for a in two.attributes]
    assert "tlp:green" in {t.name for t in two.tags} and two.distribution == 1
    assert galaxy_tag("T9999") == 'misp-galaxy:mitre-attack-pattern="T9999"'


def test_a_run_without_alerts(tmp_path: Path) -> None:
    with RunDir(RunDirBuilder().write(tmp_path / "run")) as run:
        event = MispExporter().event(run)
    assert event.info == "watchkeeper run run-test: no alerts" and event.threat_level_id == 4
    assert not event.attributes
