"""The exec server's protocol, run as a plain process (no sandbox needed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from watchkeeper.runtime import execserver
from watchkeeper.runtime.executor import _pair, _recv_pid


def _start() -> tuple[subprocess.Popen[bytes], socket.socket, int]:
    host, far = _pair()
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", Path(execserver.__file__).read_text()],
                            stdin=far.fileno())  # fmt: skip
    far.close()
    host.settimeout(10)
    data, pid = _recv_pid(host)
    assert json.loads(data)["op"] == "ready" and pid == proc.pid
    return proc, host, proc.pid


def _exec(ctl: socket.socket, ident: int, argv: list[str]) -> tuple[socket.socket, int, int]:
    out_r, out_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    gate, far = _pair()
    request = {"op": "exec", "id": ident, "argv": argv, "env": {"PATH": os.environ["PATH"]}}
    socket.send_fds(ctl, [json.dumps(request).encode()], [null, out_w, out_w, far.fileno()])
    for fd in (null, out_w):
        os.close(fd)
    far.close()
    gate.settimeout(10)
    hello, pid = _recv_pid(gate)
    assert hello == b"hello" and pid is not None
    return gate, pid, out_r


def test_gated_exec_reports_the_host_pid_first_then_the_exit_code() -> None:
    proc, ctl, server = _start()
    try:
        gate, pid, out_r = _exec(ctl, 7, ["sh", "-c", "echo $$; exit 5"])
        # gated: still a fork of the server (same command line), sh has not run yet
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert cmdline == Path(f"/proc/{server}/cmdline").read_bytes()
        assert Path(f"/proc/{pid}/status").read_text().count(f"PPid:\t{server}") == 1
        gate.send(b"go")
        assert gate.recv(100) == b""  # EOF: the exec succeeded
        gate.close()
        messages = []
        while not any(m.get("op") == "exit" for m in messages):
            messages.append(json.loads(ctl.recv(65536)))
        assert {"op": "exit", "id": 7, "code": 5} in messages
        assert os.read(out_r, 100).decode().strip() == str(pid)
        os.close(out_r)
    finally:
        ctl.close()
        proc.wait(timeout=10)
    assert proc.returncode == 0  # closing the control socket ends the server


def test_a_missing_program_is_reported_on_the_gate() -> None:
    proc, ctl, _ = _start()
    try:
        gate, _pid, out_r = _exec(ctl, 1, ["/nonexistent/prog"])
        gate.send(b"go")
        error = json.loads(gate.recv(1000))
        assert error["code"] == 127 and "No such file" in error["error"]
        os.close(out_r)
    finally:
        ctl.close()
        proc.wait(timeout=10)
