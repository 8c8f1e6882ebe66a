from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import NetworkEvent, ProcessEvent
from watchkeeper.export import RunDir, StixExporter
from watchkeeper.export.stix import EXTENSION_ID, quote
from watchkeeper.testing.rundir import RunDirBuilder

stix2 = pytest.importorskip("stix2")


@pytest.fixture(scope="module")
def bundle(mining_dir: Path) -> dict:
    with RunDir(mining_dir) as run:
        text = StixExporter().bundle(run).serialize()
    return json.loads(text)


def by_type(bundle: dict, kind: str) -> list[dict]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def test_bundle_parses_back(bundle: dict) -> None:
    parsed = stix2.parse(json.dumps(bundle), allow_custom=True)
    assert parsed.type == "bundle" and len(parsed.objects) == len(bundle["objects"])
    ids = {o["id"] for o in bundle["objects"]}
    for obj in bundle["objects"]:  # every reference points inside the bundle
        for key, value in obj.items():
            refs = value if key.endswith("_refs") else [value] if key.endswith("_ref") else []
            for ref in refs:
                assert ref in ids or ref.startswith("marking-definition--"), (obj["id"], key)


def test_indicators_and_patterns(bundle: dict) -> None:
    patterns = {o["pattern"] for o in by_type(bundle, "indicator")}
    assert ("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = "
            "'5.9.10.11' AND network-traffic:dst_port = 4444]") in patterns  # fmt: skip
    assert "[domain-name:value = 'de.minexmr.com']" in patterns
    assert "[url:value = 'stratum+tcp://de.minexmr.com:4444']" in patterns
    assert "[process:command_line = 'ngrok tcp 22 --authtoken 2bXq']" in patterns
    assert any(p.startswith("[file:hashes.'SHA-256' = '9f86d0") for p in patterns)
    assert not any("198.51.100.23" in p for p in patterns)  # a documentation address: no IOC
    assert not any("10.203.0." in p for p in patterns)  # the sandbox's own address
    markup = next(p for p in patterns if "__wk_pwned" in p)
    assert "\\'<script>" in markup  # quotes escaped inside the pattern
    for ind in by_type(bundle, "indicator"):
        assert ind["pattern_type"] == "stix" and ind["indicator_types"] == ["malicious-activity"]
        assert ind["extensions"][EXTENSION_ID]["extension_type"] == "toplevel-property-extension"
        assert ind["x_watchkeeper_run"] == ["run-7f3a"] and ind["x_watchkeeper_step"]
        assert ind["object_marking_refs"] == [stix2.TLP_AMBER.id]


def test_sightings_tie_indicators_to_the_run(bundle: dict) -> None:
    [sandbox] = [o for o in by_type(bundle, "identity") if o["name"].startswith("watchkeeper sandbox")]
    assert "wk-sb-7f3a" in sandbox["name"] and sandbox["x_watchkeeper_run"] == "run-7f3a"
    sightings = by_type(bundle, "sighting")
    assert len(sightings) == len(by_type(bundle, "indicator"))
    pool = next(s for s in sightings if "5.9.10.11" in next(
        i["pattern"] for i in by_type(bundle, "indicator") if i["id"] == s["sighting_of_ref"]))
    assert pool["where_sighted_refs"] == [sandbox["id"]]
    assert pool["count"] == 3  # the flow's three events
    assert pool["first_seen"].startswith("2025-01-01T00:00:15.9")
    assert pool["last_seen"].startswith("2025-01-01T00:00:30.6")
    assert pool["x_watchkeeper_tool_call_id"] == ["call_2"]
    observed = {o["id"]: o for o in by_type(bundle, "observed-data")}
    assert pool["observed_data_refs"] and all(r in observed for r in pool["observed_data_refs"])


def test_attack_patterns_infrastructure_and_relationships(bundle: dict) -> None:
    patterns = {o["external_references"][0]["external_id"]: o for o in by_type(bundle, "attack-pattern")}
    assert patterns["T1496.001"]["name"] == "Compute Hijacking"
    assert patterns["T1496.001"]["external_references"][0]["source_name"] == "mitre-attack"
    infra = {o["name"]: o for o in by_type(bundle, "infrastructure")}
    assert infra["Mining pool: de.minexmr.com:4444"]["infrastructure_types"] == ["command-and-control"]
    assert infra["Tunnel endpoint: tunnel.us.ngrok.com:443"]["infrastructure_types"] == ["anonymization"]
    assert infra["Download source: downloads.example.net:80"]["infrastructure_types"] == ["hosting-malware"]
    rels = {(r["source_ref"].split("--")[0], r["relationship_type"], r["target_ref"].split("--")[0])
            for r in by_type(bundle, "relationship")}  # fmt: skip
    assert rels == {
        ("indicator", "indicates", "attack-pattern"), ("indicator", "indicates", "infrastructure"),
        ("indicator", "based-on", "observed-data"), ("infrastructure", "consists-of", "domain-name"),
        ("infrastructure", "consists-of", "ipv4-addr"),
    }
    pool_infra = infra["Mining pool: de.minexmr.com:4444"]["id"]
    pool_ind = next(i["id"] for i in by_type(bundle, "indicator")
                    if i["pattern"] == "[domain-name:value = 'de.minexmr.com']")  # fmt: skip
    assert any(r["source_ref"] == pool_ind and r["target_ref"] == pool_infra
               for r in by_type(bundle, "relationship"))  # fmt: skip


def test_export_is_deterministic_and_tlp_is_applied(mining_dir: Path) -> None:
    with RunDir(mining_dir) as run:
        a = StixExporter().bundle(run).serialize()
        b = StixExporter().bundle(run).serialize()
        red = json.loads(StixExporter(tlp="red").bundle(run).serialize())
    assert a == b
    assert {tuple(o.get("object_marking_refs", [])) for o in red["objects"]
            if o["type"] in ("indicator", "sighting")} == {(stix2.TLP_RED.id,)}  # fmt: skip
    with pytest.raises(ValueError):
        StixExporter(tlp="purple")


def test_odd_values_make_valid_patterns_or_none(tmp_path: Path) -> None:
    b = RunDirBuilder()
    cmd = "python -c 'print(\"\\\\x41\")' \\ ; echo \u00e9\n<b>"
    proc = ProcessEvent(ts=5.0, pid=9, image="/usr/bin/python3", command_line=cmd, **b.ctx(0))
    net = NetworkEvent(ts=6.0, pid=9, dst_ip="2001:4860:4860::8888", dst_port=53, protocol="udp",
                       dst_hostname="bad host name!", **b.ctx(0))  # fmt: skip
    b.add(proc, net)
    b.alert(Alert(rule_id="r", title="odd", severity=Severity.MEDIUM, ts=6.0, attack=("T9999", "bogus"),
                  evidence=(Evidence(event=proc), Evidence(event=net)), **b.ctx(0)))  # fmt: skip
    with RunDir(b.write(tmp_path / "run")) as run:
        bundle = json.loads(StixExporter().bundle(run).serialize())
    patterns = {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert f"[process:command_line = {quote(cmd)}]" in patterns
    assert ("[network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value = "
            "'2001:4860:4860::8888' AND network-traffic:dst_port = 53]") in patterns  # fmt: skip
    assert not any("bad host" in p for p in patterns)
    assert [o["name"] for o in bundle["objects"] if o["type"] == "attack-pattern"] == ["T9999"]
    stix2.parse(json.dumps(bundle), allow_custom=True)


def test_a_run_without_alerts_gives_a_small_valid_bundle(tmp_path: Path) -> None:
    with RunDir(RunDirBuilder().write(tmp_path / "run")) as run:
        bundle = json.loads(StixExporter().bundle(run).serialize())
    kinds = sorted({o["type"] for o in bundle["objects"]})
    assert kinds == ["extension-definition", "identity", "marking-definition", "report"]
    stix2.parse(json.dumps(bundle), allow_custom=True)


@pytest.mark.slow
def test_official_validator(bundle: dict) -> None:
    validator = pytest.importorskip("stix2validator")
    results = validator.validate_string(json.dumps(bundle), validator.ValidationOptions(strict=False))
    errors = [str(e) for e in results.errors]
    assert results.is_valid, errors
