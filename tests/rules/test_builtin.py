"""The builtin rule pack: metadata of every rule, and its true-positive and near-miss cases run
through the real pipeline (tool call -> audit extraction -> Sigma engine).

Cases live in tests/data/rule_cases/<family>.yml, one file per rule file. Each entry names a rule
(id and title) and lists ``fires`` cases (the rule must fire) and ``quiet`` cases (the rule must
not fire, and no rule may fire at medium or above). A case is a shell command (a string),
``{python: code}``, ``{write: path, content: text}``, or ``{event: {...}}`` for network and DNS
rules that only live sensors feed.
"""

from __future__ import annotations

import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchkeeper.alerts import Severity
from watchkeeper.audit import Auditor
from watchkeeper.detect import Engine
from watchkeeper.events import event_from_dict
from watchkeeper.rules import BUILTIN_PREFIX, SigmaRule, load_rules
from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "data" / "rule_cases"
BUILTIN = REPO / "src" / "watchkeeper" / "rules" / "builtin"
CATEGORIES = {"process_creation", "network_connection", "dns", "file_event"}
TACTICS = {
    "attack.impact", "attack.execution", "attack.command-and-control", "attack.discovery",
    "attack.credential-access", "attack.persistence", "attack.privilege-escalation",
    "attack.defense-evasion", "attack.exfiltration", "attack.lateral-movement",
    "attack.collection", "attack.reconnaissance",
}
TECHNIQUE = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")


@cache
def _pack() -> tuple[tuple[SigmaRule, ...], tuple[str, ...]]:
    ruleset = load_rules()
    rules = tuple(r for r in ruleset.rules if r.source == "builtin")
    issues = tuple(str(i) for i in ruleset.issues if i.path.startswith(BUILTIN_PREFIX))
    return rules, issues


@cache
def _auditor() -> Auditor:
    return Auditor.from_rules()


@cache
def _engine() -> Engine:
    return Engine.from_ruleset(load_rules())


def _family(rule: SigmaRule) -> str:
    return Path(rule.path.removeprefix(BUILTIN_PREFIX)).stem


def _entries() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES.glob("*.yml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            out.append((path.stem, entry))
    return out


def _cases(kind: str) -> list[Any]:
    params = []
    for family, entry in _entries():
        for i, case in enumerate(entry.get(kind) or []):
            params.append(pytest.param(entry["rule"], case, id=f"{family}:{entry['title']}:{i}"))
    return params


def _tool_call(case: str | dict[str, Any]) -> ToolCall:
    if isinstance(case, str):
        return ToolCall(id="t1", name="bash", kind=ToolKind.SHELL, command=case, arguments_text=case)
    if "python" in case:
        code = case["python"]
        return ToolCall(id="t1", name="python", kind=ToolKind.PYTHON, code=code, arguments_text=code)
    if "write" in case:
        return ToolCall(id="t1", name="write_file", kind=ToolKind.FILE_WRITE, path=case["write"],
                        content=case.get("content", ""), arguments_text=case["write"])
    raise AssertionError(f"unknown case form: {case!r}")


def _hits(case: str | dict[str, Any]) -> dict[str, Severity]:
    """Rule id -> severity of everything that fires on the case."""
    if isinstance(case, dict) and "event" in case:
        event = event_from_dict(dict(case["event"]))
        return {m.rule.id: m.rule.level for m in _engine().match(event)}
    step = Step(index=0, tool_calls=(_tool_call(case),))
    verdict = _auditor().audit(Trajectory(id="case", source="rule_cases", format="test", steps=(step,)))
    return {f.rule_id: f.severity for f in verdict.findings}


def test_every_builtin_rule_loads() -> None:
    rules, issues = _pack()
    assert issues == ()
    files = {p.name for p in BUILTIN.glob("*.yml")}
    assert {Path(r.path.removeprefix(BUILTIN_PREFIX)).name for r in rules} == files
    assert len(rules) >= 100


@pytest.mark.parametrize("rule", _pack()[0], ids=lambda r: f"{_family(r)}:{r.title}")
def test_rule_metadata(rule: SigmaRule) -> None:
    assert str(uuid.UUID(rule.id)) == rule.id
    assert rule.author == "watchkeeper"
    assert rule.status in ("test", "stable", "experimental")
    assert len(rule.description) >= 30
    assert rule.references and all(r.startswith("https://") or r.startswith("http://")
                                   for r in rule.references)
    assert any(r.startswith("https://attack.mitre.org/") for r in rule.references)
    assert rule.attack, "no ATT&CK technique id"
    techniques = [t for t in rule.tags if t.startswith("attack.t")]
    assert techniques and all(TECHNIQUE.match(t) for t in techniques)
    assert TACTICS & set(rule.tags), "no ATT&CK tactic tag"
    assert rule.falsepositives
    assert rule.logsource.product == "linux"
    assert rule.logsource.category in CATEGORIES
    assert rule.level in set(Severity)


def test_every_rule_has_cases() -> None:
    rules, _ = _pack()
    by_id = {r.id: r for r in rules}
    seen: dict[str, tuple[int, int]] = {}
    for family, entry in _entries():
        rule = by_id.get(entry["rule"])
        assert rule is not None, f"{family}: unknown rule id {entry['rule']}"
        assert rule.title == entry["title"], f"{family}: title of {rule.id} is {rule.title!r}"
        assert _family(rule) == family, f"{rule.title}: cases belong in {_family(rule)}.yml"
        assert entry["rule"] not in seen, f"{family}: {entry['title']} listed twice"
        seen[entry["rule"]] = (len(entry.get("fires") or []), len(entry.get("quiet") or []))
    lacking = [by_id[i].title for i in by_id if seen.get(i, (0, 0))[0] < 1 or seen[i][1] < 1]
    assert lacking == [], f"rules without a true positive and a near miss: {lacking}"


@pytest.mark.parametrize(("rule_id", "case"), _cases("fires"))
def test_true_positive(rule_id: str, case: str | dict[str, Any]) -> None:
    hits = _hits(case)
    assert rule_id in hits, f"did not fire; fired instead: {sorted(hits)}"


@pytest.mark.parametrize(("rule_id", "case"), _cases("quiet"))
def test_near_miss(rule_id: str, case: str | dict[str, Any]) -> None:
    hits = _hits(case)
    assert rule_id not in hits
    loud = {rid: sev.label for rid, sev in hits.items() if sev >= Severity.MEDIUM}
    assert loud == {}


def test_dual_use_stays_low() -> None:
    """The dual-use examples of the rule-pack policy never reach medium."""
    for command in (
        "ssh git@github.com",
        "git clone git@github.com:org/repo.git",
        "crontab -l",
        "nc -z localhost 8080",
        "curl https://pypi.org/simple/requests/",
        "ping -c 1 localhost",
        "cat ~/.ssh/config",
        "env | grep PATH",
        "docker ps",
        "nmap --version",
    ):
        loud = {rid: sev.label for rid, sev in _hits(command).items() if sev >= Severity.MEDIUM}
        assert loud == {}, command


def test_notice_names_list_sources() -> None:
    notice = (BUILTIN / "NOTICE").read_text(encoding="utf-8")
    assert "falcosecurity/rules" in notice and "Apache" in notice
    assert "SigmaHQ" in notice and "Detection Rule License" in notice
