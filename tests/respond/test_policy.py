from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.errors import PolicyError
from watchkeeper.respond.policy import Action, FailMode, Policy, PolicyErrors

KNOWN = {
    "detector:revshell", "detector:exfil", "detector:cpu", "detector:stratum", "sigma-1234",
    "detector:gpu-ungranted", "detector:gpu-undeclared", "detector:gpu-mining-profile",
}  # fmt: skip


def alert(rule_id: str, severity: Severity = Severity.MEDIUM) -> Alert:
    return Alert(rule_id=rule_id, title="t", severity=severity)


def test_the_shipped_default_policy_loads_and_decides() -> None:
    policy = Policy.default(KNOWN)
    assert policy.fail_mode is FailMode.FREEZE and policy.heartbeat_timeout_ms == 2000
    assert not policy.dry_run
    assert policy.decide(alert("detector:revshell", Severity.CRITICAL)) is Action.END_EPISODE
    assert policy.decide(alert("detector:cpu", Severity.HIGH)) is Action.ALERT
    assert policy.decide(alert("detector:gpu-ungranted", Severity.HIGH)) is Action.KILL
    assert policy.decide(alert("detector:gpu-mining-profile", Severity.HIGH)) is Action.KILL
    assert policy.decide(alert("detector:gpu-undeclared", Severity.HIGH)) is Action.ALERT
    assert policy.decide(alert("sigma-1234", Severity.CRITICAL)) is Action.KILL
    assert policy.decide(alert("sigma-1234", Severity.HIGH)) is Action.KILL
    assert policy.decide(alert("sigma-1234", Severity.MEDIUM)) is Action.ALERT
    assert "defaults.medium" in policy.explain(alert("sigma-1234"))
    assert "<default>:" in policy.explain(alert("detector:revshell"))


def test_exact_ids_beat_globs_and_longer_globs_beat_shorter(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "version: 1\n"
        "defaults: {critical: freeze}\n"
        "rules:\n"
        "  '*': alert\n"
        "  'detector:*': cut_network\n"
        "  detector:stratum: kill\n"
        "fail_mode: kill\n"
        "heartbeat_timeout_ms: 500\n"
        "dry_run: true\n"
    )
    policy = Policy.load(path, KNOWN)
    assert policy.decide(alert("detector:stratum")) is Action.KILL
    assert policy.decide(alert("detector:exfil")) is Action.CUT_NETWORK
    assert policy.decide(alert("sigma-1234", Severity.CRITICAL)) is Action.ALERT
    assert (policy.fail_mode, policy.heartbeat_timeout_ms, policy.dry_run) == (
        FailMode.KILL,
        500,
        True,
    )
    assert policy.actions() == {Action.ALERT, Action.CUT_NETWORK, Action.KILL, Action.FREEZE}
    assert policy.defaults[Severity.CRITICAL] is Action.FREEZE
    assert policy.defaults[Severity.HIGH] is Action.KILL  # left out: the built-in default


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("version: 1\ndefaults:\n  high: nuke\n", 3, "defaults.high", "unknown action 'nuke'"),
        (
            "version: 1\nrules:\n  detector:nope: kill\n",
            3,
            "rules.detector:nope",
            "unknown rule id",
        ),
        ("version: 1\nrules:\n  'gpu:*': kill\n", 3, "rules.gpu:*", "matches no known rule"),
        ("version: 1\nrules:\n  detector:cpu: [kill]\n", 3, "rules.detector:cpu", "single value"),
        ("version: 1\ndefaults:\n  severe: kill\n", 3, "defaults.severe", "unknown severity"),
        ("version: 1\nfail_mode: pause\n", 2, "fail_mode", "unknown fail_mode"),
        ("version: 1\nheartbeat_timeout_ms: 5\n", 2, "heartbeat_timeout_ms", "50 to 600000"),
        ("version: 1\ndry_run: maybe\n", 2, "dry_run", "true or false"),
        ("version: 1\nfailmode: kill\n", 2, "failmode", "unknown key"),
        ("version: 2\n", 1, "version", "unsupported version"),
        ("defaults: {}\n", 1, "version", "missing"),
        (
            "version: 1\nrules:\n  detector:cpu: kill\n  detector:cpu: alert\n",
            4,
            "rules.detector:cpu",
            "duplicate",
        ),
        ("version: 1\nrules: [a, b]\n", 2, "rules", "maps rule ids"),
    ],
)
def test_errors_carry_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        Policy.load(path, KNOWN)
    err = info.value
    assert err.location is not None
    assert (err.location.path, err.location.line, err.location.field) == (str(path), line, field)
    assert words in err.message
    assert "\n" not in str(err) and str(err).startswith(f"{path}:{line}")


def test_every_error_is_collected() -> None:
    text = "version: 1\ndefaults:\n  high: nuke\nrules:\n  x: kill\nfail_mode: pause\n"
    with pytest.raises(PolicyErrors) as info:
        Policy.loads(text, "p.yml", KNOWN)
    assert [e.location.line for e in info.value.errors if e.location] == [3, 5, 6]
    assert "(and 2 more)" in info.value.message


def test_unknown_ids_are_not_checked_without_a_known_list() -> None:
    policy = Policy.loads("version: 1\nrules:\n  anything: freeze\n")
    assert policy.decide(alert("anything")) is Action.FREEZE


@pytest.mark.parametrize(
    ("text", "line"),
    [("version: 1\nrules: {a: kill\n", 3), ("- just\n- a list\n", 1), ("version: [1\n", 2)],
)
def test_bad_yaml_and_wrong_shapes(text: str, line: int) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.loads(text, "p.yml")
    assert info.value.location is not None and info.value.location.line == line


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "absent.yml")


def test_actions_are_ordered_by_strength() -> None:
    order = [Action.ALERT, Action.CUT_NETWORK, Action.FREEZE, Action.KILL, Action.END_EPISODE]
    assert sorted(Action, key=lambda a: a.strength) == order
