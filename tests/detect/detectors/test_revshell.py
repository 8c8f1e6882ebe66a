from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors.revshell import RULE_ID, RevshellDetector
from watchkeeper.events import NetworkEvent, ProcessEvent


def launch(proc: subprocess.Popen[bytes], argv: tuple[str, ...]) -> ProcessEvent:
    return ProcessEvent(
        ts=time.time(), sandbox_id="sbx", step=2, tool_call_id="c2", pid=proc.pid,
        activity="launch", image=os.readlink(f"/proc/{proc.pid}/exe"), argv=argv,
        command_line=" ".join(argv),
    )  # fmt: skip


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    try:
        yield srv
    finally:
        srv.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


def test_shell_with_stdio_on_a_tcp_socket_is_a_critical_alert(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.settimeout(None)  # a blocking fd: the shell must not see EAGAIN
    conn, _ = listener.accept()
    proc = subprocess.Popen(["sh", "-c", "read x"], stdin=client.fileno(), stdout=client.fileno())
    client.close()
    try:
        det = RevshellDetector()
        ev = launch(proc, ("sh", "-c", "read x"))
        alerts = det.observe(ev)
    finally:
        _stop(proc)
        conn.close()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule_id == RULE_ID and alert.severity is Severity.CRITICAL
    assert alert.attack == ("T1059.004",) and (alert.step, alert.sandbox_id) == (2, "sbx")
    assert f"127.0.0.1:{port}" in alert.title
    peer = alert.evidence[1].event
    assert isinstance(peer, NetworkEvent) and (peer.dst_ip, peer.dst_port) == ("127.0.0.1", port)
    assert "fd 0,1" in alert.evidence[0].text and "established" in alert.evidence[0].text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for /dev/tcp")
def test_shell_that_wires_itself_after_exec_is_caught_by_a_recheck(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    script = f"sleep 0.2; exec 0<>/dev/tcp/127.0.0.1/{port} 1>&0; read x"
    proc = subprocess.Popen(["bash", "-c", script])
    det = RevshellDetector()
    try:
        assert det.observe(launch(proc, ("bash", "-c", script)), now=0.0) == []
        assert det.pending == 1
        conn, _ = listener.accept()
        time.sleep(0.05)
        assert det.poll(now=0.01) == []  # nothing due yet
        alerts = det.poll(now=0.06)
    finally:
        _stop(proc)
    conn.close()
    assert len(alerts) == 1 and alerts[0].severity is Severity.CRITICAL
    assert det.pending == 0


def test_a_network_event_of_a_pending_shell_triggers_the_recheck(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = (
        "import os, socket, sys\nsys.stdin.readline()\n"
        f"s = socket.create_connection(('127.0.0.1', {port}))\n"
        "os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)\nimport time; time.sleep(10)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    det = RevshellDetector()
    event = launch(proc, ("python3", "-c", code))
    try:
        assert det.observe(event, now=0.0) == []
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        conn, _ = listener.accept()
        time.sleep(0.1)
        net = NetworkEvent(ts=time.time(), pid=proc.pid, dst_ip="127.0.0.1", dst_port=port)
        alerts = det.observe(net, now=0.0)
    finally:
        _stop(proc)
    conn.close()
    assert len(alerts) == 1 and "python" in alerts[0].title


def test_unix_socketpair_and_half_wired_interpreter_are_not_alerts(listener: socket.socket) -> None:
    a, b = socket.socketpair()
    shell = subprocess.Popen(["sh", "-c", "read x"], stdin=a.fileno(), stdout=a.fileno())
    client = socket.create_connection(listener.getsockname(), timeout=5)
    client.settimeout(None)
    conn, _ = listener.accept()
    interp = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(10)"], stdout=client.fileno()
    )
    det = RevshellDetector()
    try:
        assert det.observe(launch(shell, ("sh", "-c", "read x")), now=0.0) == []
        assert det.inspect(shell.pid) == []
        assert det.observe(launch(interp, ("python3", "-c", "...")), now=0.0) == []
        assert [p.fds for p in det.inspect(interp.pid)] == [(1,)]
        assert det.poll(now=100.0) == []  # every re-check done, still nothing
        assert det.pending == 0
    finally:
        _stop(shell)
        _stop(interp)
        for s in (a, b, client, conn):
            s.close()


def test_non_shell_launch_and_vanished_pid() -> None:
    det = RevshellDetector()
    event = ProcessEvent(pid=2**22 + 7, activity="launch", image="/usr/bin/ls", argv=("ls",))
    assert det.observe(event) == [] and det.pending == 0
    shell = ProcessEvent(pid=2**22 + 8, activity="launch", image="/bin/bash", argv=("bash",))
    assert det.observe(shell, now=0.0) == [] and det.pending == 1
    det.observe(ProcessEvent(pid=2**22 + 8, activity="terminate"), now=0.0)
    assert det.pending == 0
