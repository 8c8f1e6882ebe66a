"""The cost of monitoring: wall-time overhead on a build-and-test workload, and idle CPU/memory.

**Workload** (``--only workload``).
The workload, in a fresh work dir: a small pure-Python package (``--modules`` modules, default 30,
each with a unit test doing some arithmetic), then

1. "build": ``python3 -m py_compile`` of each module, one process per module (a shell loop);
2. "test": ``python3 -m unittest discover``.

Each repetition runs it in a sandbox **with** monitoring (every sensor, the Sigma engine, the
detectors and the policy) and in one **without** (same sandbox layers and exec server, no
monitor), alternating which goes first. Sandbox setup and teardown are outside the timed region;
the monitor is stopped between the "on" and "off" runs, so the "off" runs pay nothing for it.

**Idle** (``--only idle``): ``--sandboxes`` (default 20) sandboxes in this process, each with a
``sleep`` daemon; this process's CPU time (all threads: sensors, dispatcher, watchdog, DNS
forwarders, exec-server readers) and RSS over ``--seconds`` of idle, with and without monitoring
(the peer, measured in the same run).

Run as root: ``.venv/bin/python bench/runtime_overhead.py [--reps 6] [--only workload|idle]``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from watchkeeper.runtime import Sandbox
from watchkeeper.runtime.pipeline import builtin_engine

MODULE = '''"""Module {i}."""


def work_{i}(n: int) -> int:
    total = 0
    for k in range(n):
        total = (total * 31 + k * {i}) % 1_000_003
    return total
'''

TEST = '''import unittest

from pkg.mod{i} import work_{i}


class Test{i}(unittest.TestCase):
    def test_work(self) -> None:
        self.assertEqual(work_{i}(20000), work_{i}(20000))
        self.assertGreaterEqual(work_{i}(100), 0)
'''


def make_project(root: Path, modules: int) -> None:
    """Write the package and its tests."""
    pkg = root / "pkg"
    tests = root / "tests"
    pkg.mkdir(parents=True)
    tests.mkdir()
    (pkg / "__init__.py").write_text("")
    (tests / "__init__.py").write_text("")
    for i in range(modules):
        (pkg / f"mod{i}.py").write_text(MODULE.format(i=i))
        (tests / f"test_mod{i}.py").write_text(TEST.format(i=i))


PHASES: dict[bool, list[tuple[float, float]]] = {True: [], False: []}


def run_once(monitor: bool, modules: int) -> float:
    """One build-and-test in a fresh sandbox; returns the timed wall seconds."""
    work = Path(tempfile.mkdtemp(prefix="wk-bench-ovh-", dir="/var/tmp"))
    try:
        make_project(work, modules)
        with Sandbox(workdir=work, monitor=monitor, declared_workload=["python*"]) as sb:
            start = time.perf_counter()
            build = sb.exec("for f in pkg/*.py; do python3 -m py_compile \"$f\" || exit 1; done",
                            timeout=300)  # fmt: skip
            test = sb.exec(["python3", "-m", "unittest", "discover", "-q", "-s", "tests", "-t", "."],
                           timeout=300)  # fmt: skip
            elapsed = time.perf_counter() - start
            PHASES[monitor].append((build.duration_s, test.duration_s))
            if build.exit_code or test.exit_code:
                raise SystemExit(f"workload failed: {build.stderr[-300:]} {test.stderr[-300:]}")
            if monitor:
                noisy = [a.rule_id for a in sb.alerts() if a.severity >= 3]
                if noisy:
                    print(f"  (alerts on the benign workload: {noisy})")
        return elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(monitor: bool, count: int, seconds: float) -> tuple[float, int, float]:
    """(CPU share of one core, RSS bytes, setup seconds) with ``count`` idle sandboxes."""
    me = psutil.Process()
    base = Path(tempfile.mkdtemp(prefix="wk-bench-idle-", dir="/var/tmp"))
    try:
        with contextlib.ExitStack() as stack:
            start = time.monotonic()
            for i in range(count):
                work = base / f"w{i}"
                work.mkdir()
                sb = stack.enter_context(Sandbox(workdir=work, monitor=monitor))
                result = sb.exec("nohup sleep 600 >/dev/null 2>&1 &")
                assert result.exit_code == 0, result.stderr
            setup = time.monotonic() - start
            time.sleep(2.0)  # let start-up work settle
            cpu0 = sum(me.cpu_times()[:2])
            wall0 = time.monotonic()
            time.sleep(seconds)
            cpu = sum(me.cpu_times()[:2]) - cpu0
            wall = time.monotonic() - wall0
            rss = me.memory_info().rss
        return cpu / wall, rss, setup
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Alternate on/off runs and print the medians and the ratio; then the idle cost."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--modules", type=int, default=30)
    ap.add_argument("--sandboxes", type=int, default=20, help="idle: concurrent sandboxes")
    ap.add_argument("--seconds", type=float, default=20.0, help="idle: seconds measured")
    ap.add_argument("--only", choices=["workload", "idle"], default=None)
    args = ap.parse_args()
    builtin_engine()
    if args.only != "idle":
        workload(args.reps, args.modules)
    if args.only != "workload":
        idle(args.sandboxes, args.seconds)


def idle(n: int, seconds: float) -> None:
    """The monitor's CPU and memory with ``n`` idle sandboxes, against no monitoring."""
    off_cpu, off_rss, off_setup = measure(False, n, seconds)
    on_cpu, on_rss, on_setup = measure(True, n, seconds)
    print(f"{n} idle sandboxes without monitoring: CPU {off_cpu * 100:.2f} % of a core, "
          f"RSS {off_rss / 2**20:.0f} MiB (setup {off_setup:.1f} s)")  # fmt: skip
    print(f"{n} idle sandboxes with monitoring:    CPU {on_cpu * 100:.2f} % of a core, "
          f"RSS {on_rss / 2**20:.0f} MiB (setup {on_setup:.1f} s)")  # fmt: skip
    print(f"monitor cost at idle: {100 * (on_cpu - off_cpu):.2f} % of a core, "
          f"{(on_rss - off_rss) / 2**20:.0f} MiB")  # fmt: skip


def workload(reps: int, modules: int) -> None:
    """Alternating on/off build-and-test runs."""
    run_once(True, 3)  # warm up caches (page cache, bytecode of the stdlib)
    times: dict[bool, list[float]] = {True: [], False: []}
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        for monitor in order:
            times[monitor].append(run_once(monitor, modules))
        (b1, t1), (b0, t0) = PHASES[True][-1], PHASES[False][-1]
        print(f"rep {rep}: on {times[True][-1]:.3f} s (build {b1:.3f}, test {t1:.3f})  "
              f"off {times[False][-1]:.3f} s (build {b0:.3f}, test {t0:.3f})")
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"median with monitoring {on:.3f} s, without {off:.3f} s: ratio {on / off:.3f} "
          f"({(on / off - 1) * 100:+.1f} %)")  # fmt: skip
    pairs = [a / b for a, b in zip(times[True], times[False], strict=True)]
    print(f"per-rep ratios: {', '.join(f'{r:.3f}' for r in pairs)}; "
          f"median {statistics.median(pairs):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
