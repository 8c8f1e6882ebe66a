"""Kill latency of a renamed, stratum-speaking, CPU-burning miner simulant in a watched sandbox.

Two kinds of trials (``--trials`` each, default 100), all in one sandbox whose exec server is
restarted after each kill (``deny_after_kill=False``), with the default policy:

* **wire**: the miner's command line is innocent (``systemd-helper``); it is caught on the wire
  (``detector:stratum``). Intervals, all on CLOCK_MONOTONIC:
  - ``first stratum send -> cgroup empty``: the miner writes ``time.monotonic()`` to a file just
    before its first ``send()`` of ``mining.subscribe``; the end is when ``cgroup.kill`` returned
    with the sandbox's cgroup empty (the kill responder's ``Response.finished``);
  - ``first stratum send -> alert decided``: capture, fingerprint, dispatch, detection;
  - ``alert decided -> cgroup empty``: the response alone (``cgroup.kill``, then every process
    of the sandbox, the exec server included, has exited);
  - ``kernel exec -> cgroup empty``: includes the interpreter's start-up before it speaks.
* **exec**: the command line carries a pool URL (``-o stratum+tcp://...``), caught by a Sigma
  process rule at exec: ``kernel exec -> cgroup empty`` (exec timestamp from the proc connector).

Run as root: ``.venv/bin/python bench/kill_latency.py [--trials 100]``. The pool simulant listens
on the sandbox's host-side veth address only.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from watchkeeper.events import Event, ProcessEvent
from watchkeeper.runtime import Sandbox
from watchkeeper.testing import simulants

MINER = """
import json, socket, sys, time, hashlib
host, port, stamp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=5)
with open(stamp, "w") as fh:
    fh.write(repr(time.monotonic()))
s.sendall(json.dumps({"id": 1, "method": "mining.subscribe", "params": ["XMRig/6.21.0"]}).encode() + b"\\n")
data = b"\\0" * 76
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    data = hashlib.sha256(data).digest() + data[32:76]
"""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index] * 1000


def summary(name: str, values: list[float]) -> str:
    """p50 / p99 / max line."""
    return (f"{name:<40} n={len(values):4d}  p50 {pct(values, 50):7.2f} ms  "
            f"p99 {pct(values, 99):7.2f} ms  max {max(values) * 1000:7.2f} ms")  # fmt: skip


def main() -> None:
    """Run the trials and print the percentiles."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wk-bench-kill-", dir="/var/tmp"))
    (work / "systemd-helper").write_text(MINER)
    execs: dict[int, float] = {}  # pid -> kernel exec time (monotonic)
    lock = threading.Lock()
    offset = time.time() - time.monotonic()

    def on_event(event: Event) -> None:
        if isinstance(event, ProcessEvent) and event.activity == "launch" and event.pid:
            if "systemd-helper" in event.command_line:
                with lock:
                    execs.setdefault(event.pid, event.ts - offset)

    keys = ("wire_send", "wire_detect", "wire_decide", "wire_exec", "exec_exec")
    results: dict[str, list[float]] = {k: [] for k in keys}
    misses = 0
    with Sandbox(allow=["host:443/tcp"], workdir=work, deny_after_kill=False,
                 on_event=on_event) as sb:  # fmt: skip
        pool = simulants.StratumPool(sb.host_addr, 443, max_seconds=600).start()
        try:
            for kind in ("wire", "exec"):
                for trial in range(args.trials):
                    stamp = work / f"stamp-{kind}-{trial}"
                    argv = ["python3", str(work / "systemd-helper"), sb.host_addr, "443", str(stamp)]
                    if kind == "exec":
                        argv += ["-o", f"stratum+tcp://{sb.host_addr}:443"]
                    before = len(sb.responses())
                    result = sb.exec(argv, timeout=10)
                    sb.flush()
                    kills = [r for _, r in sb.responses()[before:] if r.action.value == "kill"]
                    if result.exit_code != 137 or not kills:
                        misses += 1
                        continue
                    done = kills[0].finished
                    pid = next((a.evidence[0].event.pid for a in result.alerts
                                if a.evidence and a.evidence[0].event.pid), None)  # fmt: skip
                    with lock:
                        exec_at = execs.get(pid or -1)
                    if kind == "wire":
                        if stamp.exists() and stamp.read_text():
                            sent = float(stamp.read_text())
                            results["wire_send"].append(done - sent)
                            results["wire_detect"].append(kills[0].started - sent)
                        results["wire_decide"].append(done - kills[0].started)
                        if exec_at is not None:
                            results["wire_exec"].append(done - exec_at)
                    elif exec_at is not None:
                        results["exec_exec"].append(done - exec_at)
        finally:
            pool.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"trials per kind: {args.trials}, not killed: {misses}")
    labels = {
        "wire_send": "wire: first stratum send -> cgroup empty",
        "wire_detect": "wire: first stratum send -> alert decided",
        "wire_decide": "wire: alert decided -> cgroup empty",
        "wire_exec": "wire: kernel exec -> cgroup empty",
        "exec_exec": "exec: kernel exec -> cgroup empty",
    }
    for key, label in labels.items():
        if results[key]:
            print(summary(label, results[key]))
    if results["wire_send"]:
        print(f"(mean {statistics.mean(results['wire_send']) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
