"""The prefilter: what each rule needs, and that it never changes what matches."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.detect import Engine
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.rules import SigmaRule, load_rules, parse_rules
from watchkeeper.rules._ir import Wild
from watchkeeper.rules._prefilter import required_clauses, required_literals

REPO = Path(__file__).resolve().parents[2]
SIGMAHQ = REPO.parent / "shared" / "data" / "sigmahq-linux"


def detection(body: str, category: str = "process_creation", rule_id: str = "r") -> SigmaRule:
    text = (f"title: T\nid: {rule_id}\nlogsource:\n    product: linux\n    category: {category}\n"
            f"detection:\n" + "".join(f"    {line}\n" for line in body.strip().splitlines()))
    ruleset = parse_rules(text)
    assert not ruleset.issues, [str(i) for i in ruleset.issues]
    return ruleset.rules[0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("sel:\n  Image|endswith: /NC\ncondition: sel", {("Image", "/nc")}),
        ("sel:\n  Image|endswith: [/nc, /ncat]\ncondition: sel", {("Image", "/nc"), ("Image", "/ncat")}),
        # AND keeps the best (longest shortest literal) part
        ("sel:\n  Image|endswith: /nc\n  CommandLine|contains: ' --exec '\ncondition: sel",
         {("CommandLine", " --exec ")}),
        # |all: any one value is required
        ("sel:\n  CommandLine|contains|all: [ab, abcdef]\ncondition: sel", {("CommandLine", "abcdef")}),
        # wildcard pattern: its longest literal run
        ("sel:\n  CommandLine: 'wget * | perl'\ncondition: sel", {("CommandLine", " | perl")}),
        # keywords may occur in any field
        ("keywords: [xmrig]\ncondition: keywords", {(None, "xmrig")}),
        # filters add nothing
        ("sel:\n  Image: /bin/sh\nf:\n  CommandLine: x\ncondition: sel and not f", {("Image", "/bin/sh")}),
        # not (a or b) is (not a) and (not b): nothing required
        ("a:\n  Image: x\nb:\n  Image: y\ncondition: not (a or b)", None),
        ("a:\n  Image: x\ncondition: not a", None),
        # not (not a) is a
        ("a:\n  Image: xyz\ncondition: not (not a)", {("Image", "xyz")}),
        # not (a and not b) is (not a) or b: nothing (not a needs nothing)
        ("a:\n  Image: x\nb:\n  Image: y\ncondition: not (a and not b)", None),
        # OR with a part that needs nothing needs nothing
        ("a:\n  Image: x\nb:\n  CommandLine|re: '.+'\ncondition: a or b", None),
        ("a:\n  Image: x\nb:\n  CommandLine|re: '.+'\ncondition: a and b", {("Image", "x")}),
        # regexes: a literal run every match contains, or a few alternatives
        ("a:\n  CommandLine|re: '\\s-[FT]\\s'\ncondition: a", {("CommandLine", "-f"), ("CommandLine", "-t")}),
        ("a:\n  CommandLine|re: 'x+y'\ncondition: a", {("CommandLine", "x")}),
        ("a:\n  CommandLine|re|i: 'Curl'\ncondition: a", {("CommandLine", "curl")}),
        # under IGNORECASE an i may match a dotless i: it ends the run
        ("a:\n  CommandLine|re|i: 'kill'\ncondition: a", {("CommandLine", "ll")}),
        # values that match without a literal
        ("a:\n  Image: '*'\ncondition: a", None),
        ("a:\n  Image: [null, /x]\ncondition: a", None),
        ("a:\n  Image|exists: true\ncondition: a", None),
        ("a:\n  ProcessId|gt: 5\ncondition: a", None),
        ("a:\n  Image|fieldref: ParentImage\ncondition: a", None),
        # cased literals still key the casefolded text
        ("a:\n  CommandLine|contains|cased: 'FoO'\ncondition: a", {("CommandLine", "foo")}),
    ],
)
def test_required_literals(body: str, expected: set[tuple[str | None, str]] | None) -> None:
    got = required_literals(detection(body).detection)
    assert (set(got) if got is not None else None) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # every item of a map is a clause, best first
        ("sel:\n  Image|endswith: /nc\n  CommandLine|contains: ' --exec '\ncondition: sel",
         [{("CommandLine", " --exec ")}, {("Image", "/nc")}]),
        # every literal run of a wildcard pattern is a clause
        ("sel:\n  CommandLine: 'wget * | perl'\ncondition: sel",
         [{("CommandLine", " | perl")}, {("CommandLine", "wget ")}]),
        # OR distributes: (a1 and a2) or b -> (a1 or b) and (a2 or b)
        ("a:\n  Image|endswith: /curl\n  CommandLine|contains: ' -T '\nb:\n  Image|endswith: /scp\n"
         "condition: a or b",
         [{("Image", "/curl"), ("Image", "/scp")}, {("CommandLine", " -t "), ("Image", "/scp")}]),
        # a one-character literal is not worth an extra clause
        ("sel:\n  CommandLine|contains|all: [':', 'stratum']\ncondition: sel", [{("CommandLine", "stratum")}]),
        # but it is kept when it is all there is
        ("sel:\n  CommandLine|contains: ':'\ncondition: sel", [{("CommandLine", ":")}]),
        ("f:\n  Image: x\ncondition: not f", []),
    ],
)
def test_required_clauses(body: str, expected: list[set[tuple[str | None, str]]]) -> None:
    assert [set(c) for c in required_clauses(detection(body).detection)] == expected


def test_weak_fields_lose_to_other_keys() -> None:
    body = "sel:\n  Initiated: 'true'\n  DestinationPort: [888, 999]\ncondition: sel"
    det = detection(body, category="network_connection").detection
    assert required_literals(det) == {("Initiated", "true")}
    assert required_literals(det, frozenset({"Initiated"})) == {
        ("DestinationPort", "888"),
        ("DestinationPort", "999"),
    }


SYNTHETIC = [
    "sel:\n  CommandLine|contains|all: [' -c ', 'import', 'pty']\ncondition: sel",
    "sel:\n  CommandLine|base64offset|contains: 'stratum+tcp://'\ncondition: sel",
    "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel",
    "sel:\n  CommandLine|contains|cased: 'ΣΑΣ'\ncondition: sel",
    "sel:\n  CommandLine|contains: 'straße'\ncondition: sel",
    "sel:\n  CommandLine: '*İ?x*'\ncondition: sel",
    "sel:\n  Image|endswith: /sh\nf:\n  ParentImage|startswith: /usr\ncondition: sel and not f",
    "f:\n  CommandLine|contains: safe\ncondition: not f",
    "keywords: ['wget * | sh', 'kelvin']\ncondition: keywords",
    "a:\n  CommandLine|re|i: 'x+y'\nb:\n  Image|contains: bin\ncondition: a and b",
    "a:\n  CommandLine|re|i: 'wi(get|ki).*http'\ncondition: a",
    "a:\n  CommandLine|re: '-(W|R)\\s'\ncondition: a",
    "a:\n  CommandLine|re: '(?i:stra)ße'\ncondition: a",
    "a:\n  ParentImage|fieldref|contains: CommandLine\ncondition: a",
    "a:\n  Image: null\nb:\n  CommandLine|contains: '\\x00'\ncondition: a or b",
    "a:\n  User: 'r??t'\ncondition: a",
    "a:\n  ProcessId|lt: 100\nb:\n  CommandLine|startswith: sudo\ncondition: 1 of them",
]


def synthetic_rules() -> list[SigmaRule]:
    out = [detection(body, rule_id=f"s{i}") for i, body in enumerate(SYNTHETIC)]
    out.append(detection("a:\n  QueryName|endswith: .pool.example\ncondition: a", "dns", "d1"))
    out.append(detection("a:\n  DestinationIp|cidr: 10.0.0.0/8\nb:\n  Initiated: 'true'\n"
                         "condition: a and b", "network_connection", "n1"))
    out.append(detection("a:\n  TargetFilename|contains: /cron\ncondition: a", "file_event", "f1"))
    return out


def all_rules() -> list[SigmaRule]:
    rules = synthetic_rules()
    rules += load_rules([SIGMAHQ] if SIGMAHQ.is_dir() else [], builtin=True).rules
    return rules


RULES = all_rules()
FAST = Engine(RULES)
SLOW = Engine(RULES, prefilter=False)


def fragments(rules: list[SigmaRule]) -> list[str]:
    out: set[str] = set()
    for r in rules:
        for sel in r.detection.selections:
            for alt in sel.alternatives:
                for item in alt:
                    for group in item.values:
                        for v in group:
                            out.add(v.raw)
                            out.add(v.text)
                            out.update(p for p in v.parts if not isinstance(p, Wild))
    out.discard("")
    return sorted(out)


FRAGMENTS = fragments(RULES)
SPECIAL = ["ß", "SS", "İ", "i̇", "ı", "ſ", "Σ", "ς", "σ", "\u212a", "\x00", "\n", " ", "/", "-", "\u2013",
           "10.1.2.3", "::ffff:10.0.0.1", "/usr/bin/", "/bin/bash", "sh -c ", " | ", "true"]
CASES: list[Callable[[str], str]] = [str, str.upper, str.lower, str.swapcase, str.title]

text = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(CASES)).map(lambda t: t[1](t[0])),
        st.sampled_from(SPECIAL),
        st.text(max_size=4),
    ),
    max_size=5,
).map("".join)
port = st.one_of(st.none(), st.integers(0, 65535))

events = st.one_of(
    st.builds(ProcessEvent, image=text, command_line=text, parent_image=text,
              parent_command_line=text, cwd=text, user=text, pid=port, ppid=port),
    st.builds(NetworkEvent, image=text, command_line=text, dst_hostname=text, dst_ip=text,
              src_ip=text, dst_port=port, src_port=port, initiated=st.booleans(),
              protocol=text, app_protocol=text),
    st.builds(DnsEvent, query_name=text, query_type=text, answers=st.lists(text, max_size=3).map(tuple),
              image=text, command_line=text),
    st.builds(FileEvent, path=text, image=text, command_line=text, activity=text),
)


def outcome(engine: Engine, event: Event) -> list[tuple[str, str, str]]:
    return [(m.rule.id, m.field, m.text) for m in engine.match(event)]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_prefilter_never_changes_results(event: Event) -> None:
    assert outcome(FAST, event) == outcome(SLOW, event)


def test_prefilter_equivalence_finds_matches() -> None:
    """A seeded sweep of rule-shaped events: equal results, and plenty of them are matches."""
    rng = random.Random(1)
    matched = 0
    for _ in range(3000):
        def t() -> str:
            parts = [rng.choice(CASES)(rng.choice(FRAGMENTS)) for _ in range(rng.randint(0, 3))]
            parts.insert(rng.randint(0, len(parts)), rng.choice(SPECIAL))
            return "".join(parts)

        kind = rng.randrange(4)
        event: Any
        if kind == 0:
            event = ProcessEvent(image=t(), command_line=t(), parent_image=t(), user=t(),
                                 pid=rng.choice([None, 42, 4444]))
        elif kind == 1:
            event = NetworkEvent(image=t(), command_line=t(), dst_hostname=t(), dst_ip=t(),
                                 dst_port=rng.choice([None, 4444, 3333, 80]), initiated=rng.random() < 0.5)
        elif kind == 2:
            event = DnsEvent(query_name=t(), answers=(t(),), image=t())
        else:
            event = FileEvent(path=t(), image=t(), command_line=t())
        fast = outcome(FAST, event)
        assert fast == outcome(SLOW, event), event
        matched += bool(fast)
    assert matched > 300


@pytest.mark.parametrize(
    ("body", "command_line"),
    [
        ("a:\n  CommandLine|re|i: 'kill'\ncondition: a", "KıLL -9 1"),  # dotless i
        ("a:\n  CommandLine|re|i: 'kelvin'\ncondition: a", "\u212aELVIN"),  # Kelvin sign
        ("a:\n  CommandLine|contains: 'strasse'\ncondition: a", "STRAßE"),
        ("a:\n  CommandLine|contains: 'ΣΑΣ'\ncondition: a", "σας"),
        ("a:\n  CommandLine|re: 'ΣΑΣ'\ncondition: a", "xΣΑΣx"),
    ],
)
def test_unicode_case_edges_match_with_prefilter(body: str, command_line: str) -> None:
    engine = Engine([detection(body)])
    event = ProcessEvent(command_line=command_line)
    assert engine.matches(event), "expected a match"
    assert engine.matches(event) == Engine([detection(body)], prefilter=False).matches(event)
