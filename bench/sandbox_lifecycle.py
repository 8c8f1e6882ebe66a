"""Live sandbox costs: setup/teardown time and per-command start overhead against plain
``subprocess`` in the same run (needs root, bwrap and nftables).

    .venv/bin/python bench/sandbox_lifecycle.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from watchkeeper.sandbox import SandboxHost, SandboxSpec, check_prerequisites, new_sandbox_id


def ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"median {statistics.median(values):7.1f} ms  p90 {p90:7.1f} ms"


def timed(fn: object, rounds: int) -> list[float]:
    assert callable(fn)
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    check_prerequisites()
    work = tempfile.mkdtemp(prefix="wk-bench-")
    setups, teardowns = [], []
    for _ in range(args.rounds):
        spec = SandboxSpec(id=new_sandbox_id("bench"), workdir=work,
                           allow=("host:8080", "svc.test:443"), dns={"svc.test": ("host",)})
        box = SandboxHost(spec)
        setups.append(box.setup().setup_ms)
        box.teardown()
        teardowns.append(box.teardown_ms or 0.0)
    print(f"setup    {ms(setups)}")
    print(f"teardown {ms(teardowns)}")

    runs = args.rounds * 3
    plain = timed(lambda: subprocess.run(["true"], check=True), runs)
    print(f"plain subprocess `true`       {ms(plain)}")
    for landlock in (False, True):
        spec = SandboxSpec(id=new_sandbox_id("bench"), workdir=work, landlock=landlock)
        with SandboxHost(spec) as box:
            inside = timed(lambda b=box: b.run(["true"]), runs)
        ratio = statistics.median(inside) / statistics.median(plain)
        print(f"sandboxed `true` landlock={landlock!s:5} {ms(inside)}  ({ratio:.0f}x plain)")

    spec = SandboxSpec(id=new_sandbox_id("bench"), workdir=work, nflog_group=None)
    kills = []
    with SandboxHost(spec) as box:
        loop = "import os,time\nwhile True:\n    os.fork() or time.sleep(30)\n    time.sleep(0.002)\n"
        for _ in range(args.rounds):
            box.popen([sys.executable, "-c", loop])
            time.sleep(0.2)
            start = time.perf_counter()
            box.kill()
            kills.append((time.perf_counter() - start) * 1000)
    print(f"kill (fork loop, cgroup)  {ms(kills)}")
    os.rmdir(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
