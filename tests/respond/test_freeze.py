from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.respond import FreezeResponder, ResponseError, Targets

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")


@pytest.fixture
def cgroup() -> Iterator[object]:
    from watchkeeper.sandbox.cgroup import Cgroup

    group = Cgroup.create(f"test-freeze-{os.getpid()}")
    try:
        yield group
    finally:
        group.remove()


@pytest.mark.root
@root
def test_freeze_stops_the_sandbox_and_keeps_it(cgroup: object, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    code = f"import time\ni = 0\nwhile True:\n    i += 1\n    open({str(counter)!r}, 'w').write(str(i))\n    time.sleep(0.005)\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        cgroup.add_pid(proc.pid)  # type: ignore[attr-defined]
        time.sleep(0.2)
        targets = Targets()
        targets.register("sbx", cgroup=cgroup)
        alert = Alert(rule_id="r", title="t", severity=Severity.HIGH, sandbox_id="sbx")
        response = FreezeResponder(targets).respond(alert)
        assert response.detail == "cgroup.freeze" and cgroup.is_frozen()  # type: ignore[attr-defined]
        before = counter.read_text()
        time.sleep(0.2)
        assert counter.read_text() == before  # no progress while frozen
        assert proc.poll() is None and os.path.exists(f"/proc/{proc.pid}")  # kept for forensics
        cgroup.thaw()  # type: ignore[attr-defined]
        time.sleep(0.2)
        assert counter.read_text() != before
    finally:
        proc.kill()
        proc.wait()


def test_a_sandbox_without_a_freezer_is_an_error() -> None:
    targets = Targets()
    targets.register("sbx", cgroup=object())
    alert = Alert(rule_id="r", title="t", severity=Severity.HIGH, sandbox_id="sbx")
    with pytest.raises(ResponseError, match="no cgroup to freeze"):
        FreezeResponder(targets).respond(alert)
