"""What responders act on: small Protocols, and a registry of each sandbox's handles.

The sandbox's classes fit these Protocols without being imported here: a cgroup with
``kill()``, ``freeze()``/``thaw()`` and ``pids()``, a network with ``cut_network()``, an episode
gate with ``end_episode(reason)``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from watchkeeper.errors import WatchkeeperError


@runtime_checkable
class Killable(Protocol):
    """Something whose processes can all be killed at once (a sandbox cgroup)."""

    def kill(self) -> None:
        """SIGKILL every process, including ones forked meanwhile; return once all are dead."""
        ...


@runtime_checkable
class Freezable(Protocol):
    """Something whose processes can be stopped and resumed (a sandbox cgroup)."""

    def freeze(self) -> None:
        """Stop every process; return once frozen."""
        ...

    def thaw(self) -> None:
        """Resume every process."""
        ...


@runtime_checkable
class NetworkCuttable(Protocol):
    """A sandbox network that can be cut off (the sandbox host)."""

    def cut_network(self) -> None:
        """Drop every packet to and from the sandbox from now on."""
        ...


@runtime_checkable
class EpisodeEndable(Protocol):
    """An episode that can be ended so that later commands are refused."""

    def end_episode(self, reason: str) -> None:
        """Mark the episode ended; later exec calls are refused with ``reason``."""
        ...


class EpisodeEndedError(WatchkeeperError):
    """The episode was ended by a response; no further commands run in it."""


class EpisodeLatch:
    """A thread-safe "episode ended" flag the runtime checks before each exec.

    It implements :class:`EpisodeEndable`; call :meth:`check` before running a command.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self.ended_at: float | None = None

    def end_episode(self, reason: str) -> None:
        """Mark the episode ended (the first reason is kept)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
                self.ended_at = time.time()

    @property
    def ended(self) -> bool:
        """True once ended."""
        return self._reason is not None

    @property
    def reason(self) -> str:
        """Why it was ended ("" while running)."""
        return self._reason or ""

    def check(self) -> None:
        """Raise :class:`EpisodeEndedError` when the episode was ended."""
        if self._reason is not None:
            raise EpisodeEndedError(f"the episode was ended by watchkeeper: {self._reason}")


@dataclass(slots=True)
class SandboxHandles:
    """The handles of one sandbox (any may be missing)."""

    cgroup: object | None = None
    network: NetworkCuttable | None = None
    episode: EpisodeEndable | None = None


@dataclass(slots=True)
class Targets:
    """Sandbox id -> its handles; the runtime registers each sandbox it starts."""

    _by_id: dict[str, SandboxHandles] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(
        self,
        sandbox_id: str,
        *,
        cgroup: object | None = None,
        network: NetworkCuttable | None = None,
        episode: EpisodeEndable | None = None,
    ) -> None:
        """Register (or replace) the handles of a sandbox.

        ``cgroup`` is anything with ``kill()`` and/or ``freeze()``/``thaw()``.
        """
        with self._lock:
            self._by_id[sandbox_id] = SandboxHandles(cgroup, network, episode)

    def unregister(self, sandbox_id: str) -> None:
        """Forget a sandbox (after teardown)."""
        with self._lock:
            self._by_id.pop(sandbox_id, None)

    def sandbox_ids(self) -> list[str]:
        """Registered sandboxes."""
        with self._lock:
            return list(self._by_id)

    def killable(self, sandbox_id: str) -> Killable | None:
        """The sandbox's cgroup if it can be killed."""
        handles = self._get(sandbox_id)
        group = handles.cgroup if handles else None
        return group if isinstance(group, Killable) else None

    def freezable(self, sandbox_id: str) -> Freezable | None:
        """The sandbox's cgroup if it can be frozen."""
        handles = self._get(sandbox_id)
        group = handles.cgroup if handles else None
        return group if isinstance(group, Freezable) else None

    def network(self, sandbox_id: str) -> NetworkCuttable | None:
        """The sandbox's network handle."""
        handles = self._get(sandbox_id)
        return handles.network if handles else None

    def episode(self, sandbox_id: str) -> EpisodeEndable | None:
        """The sandbox's episode gate."""
        handles = self._get(sandbox_id)
        return handles.episode if handles else None

    def _get(self, sandbox_id: str) -> SandboxHandles | None:
        with self._lock:
            return self._by_id.get(sandbox_id)
