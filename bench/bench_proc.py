"""Proc sensor benchmark: exec -> event latency and cmdline capture for quick spawns.

Runs ``for i in $(seq N); do sh -c true; done`` under a registered root once per reader priority
(fifo, nice, default) and reports, per run: execs seen, the share whose cmdline was captured
(not just the comm fallback), and the kernel-exec -> event-emitted latency p50/p99/max. The
default-priority run is the peer the others are compared with (ratios in the last column).

Usage: sudo .venv/bin/python bench/bench_proc.py [--spawns 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from watchkeeper.events import ProcessEvent
from watchkeeper.sensors.proc import Priority, ProcSensor


def run(priority: Priority, spawns: int) -> dict[str, float]:
    events: list[ProcessEvent] = []
    sensor = ProcSensor(priority=priority, emit_exit=False)
    sensor.start(lambda e: events.append(e) if isinstance(e, ProcessEvent) else None)
    try:
        loop = subprocess.Popen(
            ["sh", "-c", f"read x; for i in $(seq {spawns}); do sh -c true; done"],
            stdin=subprocess.PIPE,
        )
        sensor.lineage.register_root(loop.pid, "bench", 0, "bench")
        assert loop.stdin is not None
        t0 = time.monotonic()
        loop.stdin.write(b"\n")
        loop.stdin.close()
        loop.wait()
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
    finally:
        sensor.stop()
    children = [e for e in events if e.ppid == loop.pid and e.activity == "launch"]
    children = [e for e in children if e.argv[:1] != ("seq",) and e.command_line != "[seq]"]
    captured = sum(1 for e in children if e.argv == ("sh", "-c", "true"))
    lat = sorted(n / 1e6 for n in sensor.exec_latency_ns)
    return {
        "seen": len(children),
        "captured": captured,
        "rate": captured / spawns,
        "p50": statistics.median(lat) if lat else float("nan"),
        "p99": lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
        "max": lat[-1] if lat else float("nan"),
        "spawns_per_s": spawns / elapsed,
        "dropped": sensor.stats().dropped,
        "priority": sensor.priority_in_effect,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spawns", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    for _ in range(args.repeat):
        for priority in ("default", "nice", "fifo"):
            rows.append((priority, run(priority, args.spawns)))  # type: ignore[arg-type]
    base = rows[0][1]
    print(
        f"{'priority':<10}{'got':>10}{'seen':>6}{'cmdline':>9}{'rate':>8}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'spawn/s':>9}{'drop':>6}  p99 vs default"
    )
    for name, r in rows:
        if name == "default":
            base = r  # each repeat is compared with its own default-priority run
        print(
            f"{name:<10}{str(r['priority']):>10}{r['seen']:>6}{r['captured']:>9}{r['rate']:>8.1%}"
            f"{r['p50']:>9.3f}{r['p99']:>9.3f}{r['max']:>9.3f}{r['spawns_per_s']:>9.0f}"
            f"{r['dropped']:>6}  {r['p99'] / base['p99']:.2f}x"
        )


if __name__ == "__main__":
    main()
