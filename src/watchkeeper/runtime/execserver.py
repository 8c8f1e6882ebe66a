"""The exec server: a tiny process that lives inside a sandbox and starts its commands.

Each call of ``bwrap`` makes a new pid namespace, and the kernel kills every process of a pid
namespace when its first process exits. A daemon started by one ``exec`` would therefore die with
that call. So a :class:`~watchkeeper.runtime.Sandbox` starts this server once, inside one
``bwrap``, and every command is forked from it: commands share the sandbox's pid namespace, and a
``nohup``/``setsid``/double-forked daemon lives on after its call returns (until the sandbox is
torn down), just as on a normal host.

The module imports nothing from watchkeeper; the host runs it with ``python3 -I -S -c SOURCE``.
It inherits every restriction of the sandbox (seccomp, Landlock, no_new_privs, no capabilities),
and so do the commands it forks.

Protocol (``SOCK_SEQPACKET`` Unix sockets, JSON messages):

* fd 0 is the control socket. The server sends ``{"op": "ready"}`` once; the host reads the
  server's host pid from the message's credentials (``SO_PASSCRED``).
* The host sends ``{"op": "exec", "id": N, "argv": [...], "cwd": ..., "env": {...}}`` with four
  fds: stdin, stdout, stderr, and a per-call *gate* socket.
* The server forks. The child starts a new session, sets up stdio and sends ``hello`` on the gate
  (the host learns the child's host pid from the credentials and registers it with the process
  lineage), then waits for ``go`` before it calls ``execve``. So the first instruction of the
  command already runs attributed to its step. The gate is close-on-exec: the host sees EOF when
  the exec succeeded, or an error message when it failed.
* When the child exits the server sends ``{"op": "exit", "id": N, "code": C}`` (``-SIG`` for a
  signal, as :func:`os.waitstatus_to_exitcode`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys

_MAX_MSG = 1 << 20


def _send(ctl: socket.socket, message: dict[str, object]) -> None:
    try:
        ctl.send(json.dumps(message).encode())
    except OSError:
        os._exit(0)  # the host is gone


def _child(request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: stdio, gate, exec. Never returns."""
    gate = None
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        stdin, stdout, stderr, gate_fd = fds
        for target, fd in enumerate((stdin, stdout, stderr)):
            os.dup2(fd, target)  # inheritable
        for fd in (stdin, stdout, stderr):
            if fd > 2:
                os.close(fd)
        gate = socket.socket(fileno=gate_fd)
        gate.set_inheritable(False)
        gate.send(b"hello")
        if gate.recv(16) != b"go":
            os._exit(126)
        argv = [str(a) for a in request.get("argv") or ()]  # type: ignore[attr-defined]
        env_raw = request.get("env") or {}
        env = {str(k): str(v) for k, v in env_raw.items()}  # type: ignore[attr-defined]
        cwd = request.get("cwd")
        if isinstance(cwd, str) and cwd:
            os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:  # noqa: BLE001 - report any failure to the host, then exit
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        try:
            if gate is not None:
                gate.send(json.dumps({"error": str(exc), "code": code}).encode())
        except OSError:
            pass
        os._exit(code)
    os._exit(127)


def serve(ctl: socket.socket) -> None:
    """Serve exec requests on ``ctl`` until the host closes it."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    running: dict[int, object] = {}
    _send(ctl, {"op": "ready", "nspid": os.getpid()})
    while True:
        try:
            ready_list, _, _ = select.select([ctl.fileno(), wake_r], [], [], 1.0)
        except InterruptedError:
            ready_list = []
        ready = set(ready_list)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            ident = running.pop(pid, None)
            if ident is not None:
                _send(ctl, {"op": "exit", "id": ident, "code": os.waitstatus_to_exitcode(status)})
        if ctl.fileno() not in ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(ctl, _MAX_MSG, 8)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)  # the host closed the control socket
        for fd in fds:
            os.set_inheritable(fd, False)
        try:
            request = json.loads(data)
        except ValueError:
            request = {}
        if not isinstance(request, dict) or request.get("op") != "exec" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            _send(ctl, {"op": "error", "id": request.get("id") if isinstance(request, dict) else None,
                        "error": "bad request"})  # fmt: skip
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            os.close(wake_r)
            os.close(wake_w)
            _child(request, fds)
        for fd in fds:
            os.close(fd)
        running[pid] = request.get("id")
        _send(ctl, {"op": "started", "id": request.get("id"), "nspid": pid})


def main() -> int:
    """Entry point: fd 0 is the control socket."""
    ctl = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    serve(ctl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
