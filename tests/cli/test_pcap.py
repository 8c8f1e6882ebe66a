import json
from pathlib import Path

from click.testing import CliRunner

from watchkeeper.cli.pcap import command

DATA = Path(__file__).parent.parent / "data" / "pcap"
FIELDS = {
    "rule_id",
    "title",
    "severity",
    "attack",
    "action",
    "ts",
    "pid",
    "exe",
    "cmdline",
    "destination",
    "step",
    "evidence",
}


def invoke(*args):
    return CliRunner().invoke(command, [str(a) for a in args])


def alerts(output: str):
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_jsonl_alert_fields_over_several_files():
    r = invoke(
        DATA / "stratum_443.pcap",
        DATA / "ssh_80.pcapng",
        DATA / "metadata.pcap",
        DATA / "benign_http.pcap",
    )
    assert r.exit_code == 0, r.output
    recs = alerts(r.output)
    assert {a["rule_id"] for a in recs} == {
        "detector:stratum",
        "detector:ssh",
        "detector:metadata",
        "detector:metadata-credentials",
    }
    for a in recs:
        assert FIELDS <= a.keys()
        assert (
            a["action"] == "alert"
            and a["pid"] is None
            and a["exe"] is None
            and a["cmdline"] is None
        )
        assert a["evidence"] and a["evidence"][0]["event"]["source"] == "pcap"
    stratum = next(a for a in recs if a["rule_id"] == "detector:stratum")
    assert stratum["destination"].endswith(":443") and stratum["attack"] == ["T1496", "T1571"]
    assert (
        next(a for a in recs if a["evidence"][0]["field"] == "query_name")["destination"]
        == "metadata.google.internal"
    )


def test_benign_capture_has_no_alerts():
    r = invoke(DATA / "benign_http.pcap")
    assert r.exit_code == 0 and r.output == ""


def test_allow_ssh_and_reverse_shape():
    r = invoke(DATA / "ssh_80.pcapng", "--allow-ssh", "10.213.0.0/16")
    assert r.exit_code == 0 and alerts(r.output) == []
    r = invoke(DATA / "ssh_80.pcapng", "--allow-ssh", "192.0.2.1,10.213.0.0/16")
    assert r.exit_code == 0 and alerts(r.output) == []
    r = invoke(DATA / "ssh_80.pcapng", "--allow-ssh", "192.0.2.1")
    assert [a["rule_id"] for a in alerts(r.output)] == ["detector:ssh"]
    r = invoke(DATA / "ssh_reverse.pcap", "--allow-ssh", "10.213.0.0/16")
    assert [a["rule_id"] for a in alerts(r.output)] == ["detector:ssh-reverse"]


def test_table_and_output_file_and_events(tmp_path):
    out, ev = tmp_path / "alerts.txt", tmp_path / "events.jsonl"
    r = invoke(DATA / "portscan.pcap", "--format", "table", "--output", out, "--events", ev)
    assert r.exit_code == 0
    text = out.read_text()
    assert "detector:fanout-portscan" in text and "T1046" in text
    events = [json.loads(x) for x in ev.read_text().splitlines()]
    assert {e["category"] for e in events} == {"network_connection"}
    assert sum(e["activity"] == "open" for e in events) >= 20


def test_truncated_file_gives_alerts_so_far_and_exit_2(tmp_path):
    data = (DATA / "stratum_443.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 40])
    r = CliRunner().invoke(command, [str(cut), str(DATA / "metadata.pcap")])
    assert r.exit_code == 2
    rules = [a["rule_id"] for a in alerts(r.stdout)]
    assert "detector:stratum" in rules and "detector:metadata" in rules
    assert "cut.pcap" in r.stderr and "offset" in r.stderr and "Traceback" not in r.stderr


def test_missing_and_foreign_files(tmp_path):
    txt = tmp_path / "x.txt"
    txt.write_text("hello")
    r = CliRunner().invoke(command, [str(tmp_path / "none.pcap"), str(txt)])
    assert r.exit_code == 2
    assert "none.pcap" in r.stderr and "x.txt" in r.stderr


def test_bad_local_net():
    r = invoke(DATA / "benign_http.pcap", "--local-net", "not-a-net")
    assert r.exit_code != 0 and "not a network" in str(r.exception)
