"""Fail closed: a watchdog that freezes or kills the sandboxes when monitoring stops.

Each sensor thread feeds heartbeats (the ``heartbeat`` callback the sensors accept). When a
registered thread dies, or stays silent for longer than the timeout, the watchdog calls its
``on_fail`` once per name. :func:`fail_closed` builds the usual ``on_fail``: freeze (or kill,
per the policy's ``fail_mode``) every registered sandbox, escalating to kill when freezing fails.
An unwatched agent is never left running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from watchkeeper.respond._targets import Targets
from watchkeeper.respond.policy import FailMode

OnFail = Callable[[str, str], None]
"""Called with (name of the dead sensor, reason)."""


@dataclass(slots=True)
class _Entry:
    last: float
    thread: threading.Thread | None
    failed: bool = False


class Watchdog:
    """Heartbeat monitor for sensor threads.

    Args:
        timeout_s: Silence after which a sensor counts as dead.
        on_fail: Called once per failed sensor, from the watchdog's thread.
        check_every_s: Check period (default: a quarter of the timeout, at most 100 ms).
    """

    def __init__(
        self, timeout_s: float, on_fail: OnFail, check_every_s: float | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self._on_fail = on_fail
        self._period = check_every_s or min(0.1, timeout_s / 4)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: list[tuple[str, str, float]] = []
        """(name, reason, time.time()) of every failure seen."""

    def register(self, name: str, thread: threading.Thread | None = None) -> Callable[[], None]:
        """Watch ``name`` (and ``thread`` if given); returns its heartbeat function."""
        with self._lock:
            self._entries[name] = _Entry(time.monotonic(), thread)
        return lambda: self.beat(name)

    def unregister(self, name: str) -> None:
        """Stop watching ``name`` (a sensor stopped on purpose)."""
        with self._lock:
            self._entries.pop(name, None)

    def beat(self, name: str) -> None:
        """Record a heartbeat of ``name``."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.last = time.monotonic()

    def start(self) -> None:
        """Start the checking thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wk-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the checking thread; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)

    def check(self, now: float | None = None) -> list[tuple[str, str]]:
        """One check round (also run by the thread); returns the new failures."""
        now = time.monotonic() if now is None else now
        failed: list[tuple[str, str]] = []
        with self._lock:
            for name, entry in self._entries.items():
                if entry.failed:
                    continue
                if entry.thread is not None and not entry.thread.is_alive():
                    reason = "sensor thread died"
                elif now - entry.last > self.timeout_s:
                    reason = f"no heartbeat for {1000 * (now - entry.last):.0f} ms"
                else:
                    continue
                entry.failed = True
                failed.append((name, reason))
        for name, reason in failed:
            self.failures.append((name, reason, time.time()))
            try:
                self._on_fail(name, reason)
            except Exception:  # noqa: BLE001 - keep watching the others
                self.failures.append((name, "on_fail raised", time.time()))
        return failed

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.check()


def fail_closed(targets: Targets, mode: FailMode) -> OnFail:
    """An ``on_fail`` that freezes (or kills) every registered sandbox.

    Freezing falls back to killing when a sandbox cannot be frozen; a sandbox that can be
    neither is reported by the exception raised at the end (after trying all the others).
    """

    def on_fail(name: str, reason: str) -> None:
        stuck: list[str] = []
        for sandbox_id in targets.sandbox_ids():
            if mode is FailMode.FREEZE and (group := targets.freezable(sandbox_id)) is not None:
                try:
                    group.freeze()
                    continue
                except Exception:  # noqa: BLE001 - escalate to kill
                    pass
            killable = targets.killable(sandbox_id)
            try:
                if killable is None:
                    raise RuntimeError("no cgroup")
                killable.kill()
            except Exception:  # noqa: BLE001 - try the other sandboxes first
                stuck.append(sandbox_id)
        if stuck:
            raise RuntimeError(
                f"{name} failed ({reason}) and sandboxes {stuck} could not be stopped"
            )

    return on_fail
