"""Raising the enforcement threads."""

from __future__ import annotations

import os
import threading

from watchkeeper.runtime.priority import raise_thread


def test_raise_a_thread() -> None:
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(raise_thread(None)))
    thread.start()
    thread.join()
    expected = {"nice:-20"} if os.geteuid() == 0 else {"nice:-20", "default"}
    assert got and got[0] in expected
