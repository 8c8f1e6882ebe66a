"""Scheduling priority for the threads on the enforcement path (detection -> kill).

The proc sensor raises its own reader thread; the runtime raises the dispatcher (SCHED_FIFO when
permitted) and each network sensor's capture thread (nice -20), so that a loaded host delays the
kill of a miner as little as possible. Nothing else about the process's scheduling changes.
"""

from __future__ import annotations

import os
import threading


def raise_thread(thread: threading.Thread | None, *, fifo: int | None = None) -> str:
    """Raise ``thread`` (running) to SCHED_FIFO ``fifo`` if given and permitted, else nice -20.

    Returns what it got: "fifo:N", "nice:-20" or "default".
    """
    tid = thread.native_id if thread is not None else threading.get_native_id()
    if tid is None:
        return "default"
    if fifo is not None:
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(fifo))
            return f"fifo:{fifo}"
        except OSError:
            pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, -20)
        return "nice:-20"
    except OSError:
        return "default"
