"""SandboxHost end to end: what a command sees inside, limits, responses, teardown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.errors import PrerequisiteError, SandboxError
from watchkeeper.sandbox import (
    Bind,
    Limits,
    SandboxHost,
    SandboxSpec,
    check_prerequisites,
    landlock,
    new_sandbox_id,
)
from watchkeeper.sandbox import _cmd as cmd

PY = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "Bad_Id"}, "invalid sandbox id"),
        ({"workdir": "relative"}, "absolute"),
        ({"allow": ("10.0.0.1:0",)}, "invalid allow entry"),
        ({"dns": {"a.test": ("not-an-ip",)}}, "does not appear"),
        ({"dns_resolver": "magic"}, "dns_resolver"),
    ],
)
def test_spec_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"id": "ok", "workdir": "/w"}
    base.update(kwargs)
    with pytest.raises(SandboxError, match=message):
        SandboxSpec(**base)  # type: ignore[arg-type]


def test_new_sandbox_id_is_valid() -> None:
    ident = new_sandbox_id()
    assert ident != new_sandbox_id()
    SandboxSpec(id=ident, workdir="/w")


def test_prerequisite_errors_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError, match="run as root"):
        check_prerequisites()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name, **_: None)
    monkeypatch.setattr(cmd, "_sbin_which", lambda name: None)
    with pytest.raises(PrerequisiteError, match="apt-get install bubblewrap"):
        check_prerequisites()


def test_not_set_up_errors() -> None:
    box = SandboxHost(SandboxSpec(id="never", workdir="/w"))
    with pytest.raises(SandboxError, match="not set up"):
        box.popen(["true"])
    with pytest.raises(SandboxError, match="not set up"):
        box.freeze()
    box.teardown()  # nothing was made: nothing to do


# ------------------------------------------------------------------ real sandboxes

pytestmark = pytest.mark.root

VIEW = r"""
import json, os, socket
out = {"pid": os.getpid(), "ifaces": sorted(n for _, n in socket.if_nameindex()),
       "hostname": socket.gethostname(), "env": sorted(os.environ)}
try:
    open("/usr/wk-probe", "w")
except OSError as e:
    out["usr"] = e.errno
open("work-file", "w").write("from inside")
open("/tmp/wk-inside", "w").write("x")
mounts = {line.split()[4]: line.split()[8] for line in open("/proc/self/mountinfo")}
out["tmp_fs"] = mounts.get("/tmp")
status = dict(l.split(":", 1) for l in open("/proc/self/status"))
out["nnp"] = status["NoNewPrivs"].strip(); out["capeff"] = status["CapEff"].strip()
out["seccomp"] = status["Seccomp"].strip()
out["procs"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["resolv"] = open("/etc/resolv.conf").read()
print(json.dumps(out))
"""


def test_what_a_command_sees(
    make_box: Callable[..., SandboxHost], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WK_HOST_SECRET", "leak")
    box = make_box("vw", env={"AGENT": "1"}, hostname="agentbox")
    assert box.info is not None
    result = box.run([PY, "-c", VIEW], timeout=30)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["pid"] == 2 and out["procs"] == [1, 2]  # own pid namespace: bwrap's init + us
    assert out["ifaces"] == sorted(["lo", box.info.sandbox_if])
    assert out["hostname"] == "agentbox"
    assert out["usr"] == 30  # EROFS: read-only root
    assert (workdir / "work-file").read_text() == "from inside"  # cwd = writable work dir
    assert out["tmp_fs"] == "tmpfs" and not Path("/tmp/wk-inside").exists()
    assert (out["nnp"], out["capeff"], out["seccomp"]) == ("1", "0000000000000000", "2")
    assert "WK_HOST_SECRET" not in out["env"] and "AGENT" in out["env"]
    assert f"nameserver {box.info.host_addr}" in out["resolv"]


def test_extra_binds_and_env_per_command(make_box: Callable[..., SandboxHost], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("payload\n")
    box = make_box("bd", nflog_group=None)
    result = box.run(
        ["sh", "-c", "cat /tmp/wkdata/f; head -c 3 /dev/wkfake0 | wc -c; echo $GPU_ENV; "
                     "touch /tmp/wkdata/x 2>/dev/null || echo ro"],
        env={"GPU_ENV": "visible"},
    )
    assert result.returncode == 0
    # binds given per popen (how GPU grants plug in)
    proc = box.popen(
        ["sh", "-c", "cat /tmp/wkdata/f; head -c 3 /dev/wkfake0 | wc -c; echo $GPU_ENV; "
                     "touch /tmp/wkdata/x 2>/dev/null || echo ro; head -c 2 /dev/wkfake1 | wc -c"],
        env={"GPU_ENV": "visible"},
        binds=[Bind(str(data), "/tmp/wkdata"), Bind("/dev/zero", "/dev/wkfake0", mode="dev")],
        bwrap_args=["--dev-bind", "/dev/zero", "/dev/wkfake1"],
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.decode().split() == ["payload", "3", "visible", "ro", "2"]
    assert b"payload" not in result.stdout  # the first run had no such bind
    with pytest.raises(SandboxError, match="read-only root"):
        box.popen(["true"], binds=[Bind(str(data), "/usr/wk-missing-dir")])


def test_unprivileged_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    work = Path(tempfile.mkdtemp(prefix="wk-uid-", dir="/var/tmp"))
    work.chmod(0o777)
    spec = SandboxSpec(id=new_sandbox_id("tuid"), workdir=str(work), uid=65534, nflog_group=None)
    try:
        with SandboxHost(spec) as box:
            result = box.run(["sh", "-c", "id -u; ls /root >/dev/null 2>&1 || echo no-root; "
                                          "touch ok && echo wrote"], timeout=30)
        assert result.stdout.decode().split() == ["65534", "no-root", "wrote"]
    finally:
        shutil.rmtree(work)


@pytest.mark.skipif(landlock.abi_version() < 1, reason="kernel without Landlock")
def test_landlock_layer(make_box: Callable[..., SandboxHost]) -> None:
    script = "echo x > /proc/self/comm 2>/dev/null && echo wrote || echo denied"
    assert make_box("ll", nflog_group=None).run(["sh", "-c", script]).stdout == b"denied\n"
    assert make_box("ln", landlock=False, nflog_group=None).run(["sh", "-c", script]).stdout == b"wrote\n"


def test_limits_inside(make_box: Callable[..., SandboxHost]) -> None:
    box = make_box("lm", limits=Limits(memory_bytes=64 << 20, pids_max=24), nflog_group=None)
    assert box.cgroup is not None
    forks = (
        "import os,time\nok=fail=0\n"
        "for _ in range(40):\n"
        "    try:\n        pid=os.fork()\n    except OSError:\n        fail+=1; continue\n"
        "    if pid==0:\n        os.close(1); time.sleep(2); os._exit(0)\n    ok+=1\n"
        "print(ok, fail)\n"
    )
    ok, fail = map(int, box.run([PY, "-c", forks], timeout=30).stdout.split())
    assert ok < 24 and fail > 16
    assert box.cgroup.events().pids_max_hits > 0
    box.kill()
    hog = box.run([PY, "-c", "b = bytearray(256 << 20); print('alive')"], timeout=30)
    assert hog.returncode in (137, -9) and b"alive" not in hog.stdout
    assert box.cgroup.events().oom_kills >= 1


LOOP_AND_DAEMON = (
    "import os,sys,time\n"
    "if os.fork()==0:\n"  # a double-forked setsid daemon
    "    os.setsid()\n"
    "    if os.fork(): os._exit(0)\n"
    "    time.sleep(60); os._exit(0)\n"
    "print('started', flush=True)\n"
    "while True:\n"  # and a fork loop
    "    if os.fork()==0:\n        time.sleep(30); os._exit(0)\n"
    "    time.sleep(0.002)\n"
)


def test_freeze_thaw_and_kill(make_box: Callable[..., SandboxHost]) -> None:
    box = make_box("kl", limits=Limits(pids_max=300), nflog_group=None)
    proc = box.popen([PY, "-c", LOOP_AND_DAEMON], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    time.sleep(0.2)
    box.freeze()
    assert box.cgroup is not None and box.cgroup.is_frozen()
    frozen = box.pids()
    time.sleep(0.2)
    assert box.pids() == frozen and len(frozen) > 5  # nothing forks while frozen
    box.thaw()
    time.sleep(0.1)
    assert len(box.pids()) > len(frozen)
    start = time.monotonic()
    box.kill()
    kill_ms = (time.monotonic() - start) * 1000
    assert box.pids() == [] and proc.returncode is not None
    assert kill_ms < 2000
    assert box.run(["true"]).returncode == 0  # still usable after a kill


def test_teardown_on_exception_leaves_nothing(
    live: None, workdir: Path, new_id: Callable[[str], str],
    leftover_parts: Callable[[str], list[str]],
) -> None:
    spec = SandboxSpec(id=new_id("ex"), workdir=str(workdir), allow=("host",), nflog_group=None)
    with pytest.raises(RuntimeError, match="agent failed"):
        with SandboxHost(spec) as box:
            box.popen(["sleep", "30"])
            assert leftover_parts(spec.id)  # everything exists while running
            raise RuntimeError("agent failed")
    assert leftover_parts(spec.id) == []
    assert box.teardown_ms is not None
    box.teardown()  # idempotent


def test_setup_failure_cleans_up(
    live: None, workdir: Path, new_id: Callable[[str], str],
    leftover_parts: Callable[[str], list[str]],
) -> None:
    spec = SandboxSpec(id=new_id("sf"), workdir=str(workdir), pools=("127.0.0.0/30",))
    with pytest.raises(SandboxError, match="no free /30"):
        SandboxHost(spec).setup()
    assert leftover_parts(spec.id) == []


def test_id_in_use(make_box: Callable[..., SandboxHost]) -> None:
    box = make_box("dup", nflog_group=None)
    with pytest.raises(SandboxError, match="in use"):
        SandboxHost(box.spec).setup()
    assert box.run(["true"]).returncode == 0


def test_setup_and_teardown_times(
    live: None, workdir: Path, new_id: Callable[[str], str],
    leftover_parts: Callable[[str], list[str]],
) -> None:
    setups, teardowns = [], []
    for _ in range(3):
        spec = SandboxSpec(id=new_id("tm"), workdir=str(workdir), allow=("host:80", "a.test"))
        with SandboxHost(spec) as box:
            assert box.info is not None
            setups.append(box.info.setup_ms)
        assert box.teardown_ms is not None
        teardowns.append(box.teardown_ms)
        assert leftover_parts(spec.id) == []
    print(f"setup ms {sorted(setups)}; teardown ms {sorted(teardowns)}")
    assert max(setups) < 5000 and max(teardowns) < 5000
