"""Exec -> detect -> kill latency with the proc sensor and the kill responder on real cgroups.

Each trial starts a sandbox process in its own cgroup that, after 0.2 s, execs a busy
"miner simulant" (a shell loop tagged ``wk-miner-sim`` that forks a busy worker). The proc
sensor sees the exec, a matcher on the command line raises a critical alert, and the enforcer
runs the kill responder, in the sensor's thread. Reported per strategy (median / p90 / max, ms):
kernel exec -> event seen, decision -> all processes dead, kernel exec -> all dead.

Strategies: ``cgroup`` (cgroup.kill of the sandbox, race-free) and ``tree`` (SIGKILL of the
step's process tree from the lineage, the peer it is compared with).

Usage: sudo .venv/bin/python bench/bench_kill.py [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time

from watchkeeper.alerts import Alert, Severity
from watchkeeper.events import Event, ProcessEvent
from watchkeeper.respond import Enforcer, KillResponder, Policy, Targets
from watchkeeper.sandbox.cgroup import Cgroup
from watchkeeper.sensors.proc import ProcSensor

MINER = ": wk-miner-sim; while :; do :; done & while :; do :; done"


def trial(sensor: ProcSensor, scope: str, index: int) -> tuple[float, float, float]:
    group = Cgroup.create(f"bench-kill-{os.getpid()}-{index}")
    try:
        targets = Targets()
        targets.register("bench", cgroup=group)
        policy = Policy.loads("version: 1\nfail_mode: kill\n")
        enforcer = Enforcer(policy, [KillResponder(targets, sensor.lineage, scope=scope)])  # type: ignore[arg-type]
        done = threading.Event()
        result: list[float] = []

        def on_event(event: Event) -> None:
            if (
                not done.is_set()
                and isinstance(event, ProcessEvent)
                and event.activity == "launch"
                and "wk-miner-sim" in event.command_line
            ):
                seen = time.monotonic_ns()
                exec_ns = seen - sensor.exec_latency_ns[-1] if sensor.exec_latency_ns else seen
                alert = Alert(rule_id="bench", title="miner", severity=Severity.CRITICAL,
                              sandbox_id="bench", step=event.step)  # fmt: skip
                decided = time.monotonic_ns()
                enforcer.handle(alert)
                dead = time.monotonic_ns()
                result.extend(
                    [(seen - exec_ns) / 1e6, (dead - decided) / 1e6, (dead - exec_ns) / 1e6]
                )
                done.set()

        sensor._emit = on_event  # the bench swaps the sink between trials
        proc = subprocess.Popen(
            ["sh", "-c", f"read x; sleep 0.2; exec sh -c '{MINER}'"], stdin=subprocess.PIPE
        )
        group.add_pid(proc.pid)
        sensor.lineage.register_root(proc.pid, "bench", index, f"t{index}")
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.close()
        if not done.wait(10):
            raise RuntimeError("the exec was not seen")
        proc.wait(5)
        return result[0], result[1], result[2]
    finally:
        group.remove()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{statistics.median(ordered):6.2f} / {p90:6.2f} / {ordered[-1]:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    sensor = ProcSensor()
    sensor.start(lambda e: None)
    try:
        rows = {}
        for scope in ("tree", "cgroup"):
            got = [trial(sensor, scope, i) for i in range(args.trials)]
            rows[scope] = [list(col) for col in zip(*got, strict=True)]
    finally:
        sensor.stop()
    print(f"reader priority: {sensor.priority_in_effect}; {args.trials} trials per strategy")
    print(f"{'strategy':<9} {'exec->seen ms':>24} {'decide->dead ms':>24} {'exec->dead ms':>24}")
    for scope, (seen, kill, total) in rows.items():
        print(f"{scope:<9} {summary(seen):>24} {summary(kill):>24} {summary(total):>24}")
    ratio = statistics.median(rows["cgroup"][1]) / statistics.median(rows["tree"][1])
    print(f"decide->dead median, cgroup vs tree: {ratio:.2f}x")


if __name__ == "__main__":
    main()
