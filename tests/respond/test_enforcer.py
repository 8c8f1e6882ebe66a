from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.errors import PolicyError
from watchkeeper.respond import (
    Action,
    Enforcer,
    FreezeResponder,
    KillResponder,
    Policy,
    Response,
    ResponseError,
    Targets,
)

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")


def alert(severity: Severity = Severity.HIGH, rule_id: str = "sigma-x") -> Alert:
    return Alert(rule_id=rule_id, title="t", severity=severity, sandbox_id="sbx")


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup

    group = Cgroup.create(f"test-enf-{os.getpid()}")
    try:
        yield group
    finally:
        group.remove()


def test_alert_actions_and_dry_run_touch_nothing() -> None:
    targets = Targets()  # nothing registered: any real action would fail
    policy = Policy.loads("version: 1\ndry_run: true\nfail_mode: kill\n")
    enforcer = Enforcer(policy, [KillResponder(targets)])
    low = enforcer.handle(alert(Severity.LOW))
    assert low.action == "alert" and low.tags == ()
    high = enforcer.handle(alert(Severity.HIGH))
    assert high.action == "alert" and high.tags == ("dry_run:kill",)
    assert not enforcer.responses


def test_a_policy_action_without_a_responder_is_refused() -> None:
    policy = Policy.loads("version: 1\nrules:\n  x: cut_network\n")
    with pytest.raises(PolicyError, match="cut_network, freeze"):
        Enforcer(policy, [KillResponder(Targets())])


@pytest.mark.root
@root
def test_a_failed_freeze_escalates_to_kill_and_says_so(cgroup: object) -> None:
    class Unfreezable:  # the cgroup's kill only: freezing is not offered
        def kill(self) -> None:
            cgroup.kill()  # type: ignore[attr-defined]

    proc = subprocess.Popen(["sleep", "30"])
    try:
        cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
        targets = Targets()
        targets.register("sbx", cgroup=Unfreezable())
        seen: list[Response] = []
        policy = Policy.loads("version: 1\ndefaults: {high: freeze}\nfail_mode: kill\n")
        enforcer = Enforcer(
            policy,
            [FreezeResponder(targets), KillResponder(targets)],
            on_response=lambda a, r: (seen.append(r), 1 / 0),  # a failing observer is ignored
        )
        done = enforcer.handle(alert())
        assert proc.wait(5) == -9
        assert done.action == "kill"
        assert done.tags[-1].startswith("response_failed:freeze:")
        assert [r.action for r in seen] == [Action.KILL]
    finally:
        proc.kill()
        proc.wait()


def test_a_failed_kill_raises_for_the_runtime() -> None:
    enforcer = Enforcer(Policy.loads("version: 1\nfail_mode: kill\n"), [KillResponder(Targets())])
    with pytest.raises(ResponseError):
        enforcer.handle(alert(Severity.CRITICAL))
