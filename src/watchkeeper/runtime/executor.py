"""The host side of the exec server (:mod:`watchkeeper.runtime.execserver`).

:class:`Executor` starts the server inside a set-up :class:`~watchkeeper.sandbox.SandboxHost`
and asks it to run commands. For each command the caller gets the host pid of the new process
*before* it executes anything (through ``SO_PASSCRED`` on the per-call gate socket) and decides
when it may go on; that is where the runtime registers the pid with the process lineage.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from watchkeeper.errors import SandboxError
from watchkeeper.runtime import execserver
from watchkeeper.sandbox import SandboxHost

_UCRED = struct.Struct("iII")  # pid, uid, gid
_START_TIMEOUT_S = 10.0
_GATE_TIMEOUT_S = 10.0


@cache
def _server_source() -> str:
    return Path(execserver.__file__).read_text(encoding="utf-8")


def _recv_pid(sock: socket.socket, size: int = 65536) -> tuple[bytes, int | None]:
    """One message and the sender's host pid (the socket has SO_PASSCRED)."""
    data, ancdata, _flags, _addr = sock.recvmsg(size, socket.CMSG_SPACE(_UCRED.size))
    pid = None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _UCRED.unpack(payload[: _UCRED.size])[0]
    return data, pid


def _pair() -> tuple[socket.socket, socket.socket]:
    host, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return host, far


@dataclass(slots=True)
class Execution:
    """One command started through the server.

    Attributes:
        ident: Request id.
        pid: Host pid of the command (known before it runs anything).
        code: Exit code once it exited (``-N``: killed by signal N); None while it runs or when
            the server died first (the sandbox was killed).
        done: Set when the command exited or the server died.
        started: ``time.monotonic()`` when the request was sent.
    """

    ident: int
    pid: int = 0
    code: int | None = None
    done: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end; True when it ended within ``timeout``."""
        return self.done.wait(timeout)


class Executor:
    """Runs commands in a sandbox through one long-lived exec server.

    Args:
        box: A set-up sandbox host.
        on_spawn: Called with the host pid of the bwrap process as soon as it exists (before
            the server runs), so its processes can be attributed to the sandbox.
        python: Interpreter for the server inside the sandbox.
    """

    def __init__(
        self,
        box: SandboxHost,
        *,
        on_spawn: Callable[[int], None] | None = None,
        python: str = "python3",
    ) -> None:
        self.box = box
        self._on_spawn = on_spawn
        self._python = python
        self._ctl: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._next = 1
        self._pending: dict[int, Execution] = {}
        self._stderr = b""
        self.server_pid: int | None = None
        """Host pid of the server process."""
        self.bwrap_pid: int | None = None
        """Host pid of the outermost process of the server's command line (bwrap)."""

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> int:
        """Start the server; returns its host pid.

        Raises:
            SandboxError: The server did not come up.
        """
        host, far = _pair()
        try:
            proc = self.box.popen(
                [self._python, "-I", "-S", "-c", _server_source()],
                stdin=far.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except BaseException:
            host.close()
            raise
        finally:
            far.close()
        self._proc = proc
        self.bwrap_pid = proc.pid
        if self._on_spawn is not None:
            self._on_spawn(proc.pid)
        host.settimeout(_START_TIMEOUT_S)
        try:
            data, pid = _recv_pid(host)
        except (TimeoutError, OSError) as exc:
            host.close()
            raise SandboxError(f"the exec server did not start: {exc}; {self._drain()}") from exc
        if not data or pid is None:
            host.close()
            proc.wait(timeout=5)
            raise SandboxError(f"the exec server did not start: {self._drain()}")
        host.settimeout(None)
        self._ctl = host
        self.server_pid = pid
        self._reader = threading.Thread(target=self._read, name="wk-exec-ctl", daemon=True)
        self._reader.start()
        return pid

    @property
    def alive(self) -> bool:
        """True while the server is running."""
        return self._reader is not None and self._reader.is_alive()

    def close(self) -> None:
        """Close the control socket (the server exits) and reap it; idempotent."""
        ctl, self._ctl = self._ctl, None
        if ctl is not None:
            try:
                ctl.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ctl.close()
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()
        if self._reader is not None:
            self._reader.join(timeout=2)
        self._fail_all()

    # --- running --------------------------------------------------------------------------

    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        env: Mapping[str, str],
        cwd: str | None = None,
        register: Callable[[int], None] | None = None,
    ) -> Execution:
        """Start ``argv``; ``register(pid)`` runs before the command executes anything.

        The given fds are passed to the command (the caller keeps and closes its own copies).

        Raises:
            SandboxError: The server is gone, or the command could not be executed (the
                message says why; ``exit_code`` 127 for a missing program).
        """
        ctl = self._ctl
        if ctl is None or not self.alive:
            raise SandboxError("the sandbox's exec server is not running")
        with self._lock:
            ident = self._next
            self._next += 1
            execution = Execution(ident, started=time.monotonic())
            self._pending[ident] = execution
        gate, far = _pair()
        try:
            request = {"op": "exec", "id": ident, "argv": list(argv), "env": dict(env),
                       "cwd": cwd or ""}  # fmt: skip
            try:
                socket.send_fds(ctl, [json.dumps(request).encode()], [stdin, stdout, stderr, far.fileno()])
            except OSError as exc:
                raise SandboxError(f"the sandbox's exec server is gone: {exc}") from exc
            far.close()
            gate.settimeout(_GATE_TIMEOUT_S)
            try:
                hello, pid = _recv_pid(gate)
            except (TimeoutError, OSError) as exc:
                raise SandboxError(f"the command did not start: {exc}") from exc
            if hello != b"hello" or pid is None:
                raise SandboxError("the command did not start (the sandbox was stopped)")
            execution.pid = pid
            if register is not None:
                register(pid)
            gate.send(b"go")
            try:
                answer = gate.recv(65536)
            except (TimeoutError, OSError):
                answer = b""
            if answer:
                try:
                    error = json.loads(answer)
                except ValueError:
                    error = {"error": answer.decode("utf-8", "replace")}
                execution.wait(2.0)
                raise ExecFailed(str(error.get("error", "exec failed")), int(error.get("code", 126)))
            return execution
        except BaseException:
            with self._lock:
                self._pending.pop(ident, None)
            raise
        finally:
            far.close()
            gate.close()

    # --- control socket reader --------------------------------------------------------------

    def _read(self) -> None:
        ctl = self._ctl
        assert ctl is not None
        while True:
            try:
                data = ctl.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if not isinstance(message, dict) or message.get("op") != "exit":
                continue
            with self._lock:
                execution = self._pending.pop(int(message.get("id") or 0), None)
            if execution is not None:
                execution.code = int(message.get("code", 0))
                execution.done.set()
        self._fail_all()

    def _fail_all(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for execution in pending.values():
            execution.done.set()

    def _drain(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        text = proc.stderr.read(4096).decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else f"exit code {proc.returncode}"


class ExecFailed(SandboxError):
    """The command could not be executed (missing program, permission...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def devnull() -> int:
    """A fresh fd open on /dev/null (the caller closes it)."""
    return os.open(os.devnull, os.O_RDWR)
