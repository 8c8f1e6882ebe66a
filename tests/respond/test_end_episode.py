from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.respond import (
    EndEpisodeResponder,
    EpisodeEndedError,
    EpisodeLatch,
    ResponseError,
    Targets,
)

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup

    group = Cgroup.create(f"test-end-{os.getpid()}")
    try:
        yield group
    finally:
        group.remove()


ALERT = Alert(
    rule_id="detector:revshell", title="Reverse shell", severity=Severity.CRITICAL, sandbox_id="sbx"
)


@pytest.mark.root
@root
def test_end_episode_refuses_later_commands_and_kills(cgroup: object) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
        latch = EpisodeLatch()
        latch.check()  # still running: no error
        targets = Targets()
        targets.register("sbx", cgroup=cgroup, episode=latch)
        response = EndEpisodeResponder(targets).respond(ALERT)
        assert proc.wait(5) == -9
        assert latch.ended and "detector:revshell" in latch.reason and latch.ended_at
        assert response.detail.startswith("episode ended; cgroup.kill")
        with pytest.raises(EpisodeEndedError, match="Reverse shell"):
            latch.check()
        latch.end_episode("second reason")
        assert "second" not in latch.reason
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.root
@root
def test_without_an_episode_gate_it_still_kills_and_reports(cgroup: object) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
        targets = Targets()
        targets.register("sbx", cgroup=cgroup)
        with pytest.raises(ResponseError, match="no episode gate"):
            EndEpisodeResponder(targets).respond(ALERT)
        assert proc.wait(5) == -9
    finally:
        proc.kill()
        proc.wait()
