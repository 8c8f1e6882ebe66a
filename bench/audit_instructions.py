"""Instructions per audited tool call, counted by valgrind: an A/B that a noisy machine cannot blur.

Wall and CPU time on a shared VM swing 20-50 % from one run to the next, so small changes to the
audit's cost cannot be seen in ``audit_throughput.py``. Instruction counts can: they are the same
on every run. This script counts, with ``valgrind --tool=callgrind``, the instructions of a Python
process that audits ``N`` and ``2N`` tool calls of the corpus (built-in pack + SigmaHQ Linux
rules), and one that only loads the rules, for this working tree and for a base revision (the
peer), side by side:

- start-up: loading and compiling the rules;
- per call, first N: the corpus's mix, each distinct command's first occurrence included (1,179
  distinct commands: with N = 20,000 about 6 % of calls are first occurrences);
- per repeated call: calls N+1..2N, every one a memo hit;
- per first occurrence: what the first N cost beyond N repeated calls, per distinct command.

Instructions are not time (cache misses and allocation differ), but a change that removes work
shows here on one run. Needs valgrind (``apt-get install valgrind``); takes about 6 minutes.

Run: ``.venv/bin/python bench/audit_instructions.py [--base REV] [--calls N] [--json-out F]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from audit_throughput import _commands, _write_jsonl  # the same corpus mix as the throughput bench

ROOT = Path(__file__).resolve().parent.parent
SIGMAHQ = ROOT.parent / "shared" / "data" / "sigmahq-linux"

_DRIVER = """
import json, sys
from pathlib import Path
from watchkeeper.audit import Auditor
from watchkeeper.trajectories import Trajectory, read_trajectories
path, rules = sys.argv[1], sys.argv[2:]
auditor = Auditor.from_rules(rules_dirs=rules)
calls = 0
if path != "-":
    for item in read_trajectories([Path(path)]):
        if isinstance(item, Trajectory):
            calls += auditor.audit(item).tool_calls
print(calls)
"""

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _instructions(src: Path, path: str, rules: list[str]) -> int:
    """Instructions of one driver run (callgrind's total)."""
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", _DRIVER, path, *rules],
        env=env, capture_output=True, text=True, check=False,
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"audit_instructions: valgrind run failed for {src}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _measure(src: Path, small: Path, big: Path, calls: int, distinct: int, rules: list[str]) -> dict[str, float]:
    start = _instructions(src, "-", rules)
    first = _instructions(src, str(small), rules)
    both = _instructions(src, str(big), rules)
    repeated = (both - first) / calls
    return {
        "startup": start,
        "per_call_first_n": round((first - start) / calls),
        "per_repeated_call": round(repeated),
        "per_first_occurrence": round((first - start - repeated * calls) / distinct),
    }


def _export(rev: str, into: Path) -> Path:
    """The ``src`` folder of revision ``rev``."""
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", default="HEAD", help="the peer revision (default: HEAD)")
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("audit_instructions: valgrind is not installed (apt-get install valgrind)")
    commands = _commands()
    distinct = len(set(commands))
    if args.calls < distinct:
        raise SystemExit(f"audit_instructions: --calls must be at least {distinct} (the distinct commands)")
    rules = [str(SIGMAHQ)] if SIGMAHQ.is_dir() else []
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "n.jsonl", Path(tmp) / "2n.jsonl"
        _write_jsonl(small, commands, args.calls)
        _write_jsonl(big, commands, 2 * args.calls)
        base_src = _export(args.base, Path(tmp))
        with ThreadPoolExecutor(max_workers=2) as pool:
            work = pool.submit(_measure, ROOT / "src", small, big, args.calls, distinct, rules)
            base = pool.submit(_measure, base_src, small, big, args.calls, distinct, rules)
            results = {"calls": args.calls, "distinct_commands": distinct, "sigmahq": bool(rules),
                       "base": args.base, "working_tree": work.result(), "base_revision": base.result()}
    w, b = results["working_tree"], results["base_revision"]
    assert isinstance(w, dict) and isinstance(b, dict)
    print(f"instructions (callgrind), built-in{' + SigmaHQ' if rules else ''}; base = {args.base}")
    print(f"{'':24s} {'working tree':>14s} {'base':>14s} {'ratio':>7s}")
    for key in ("startup", "per_call_first_n", "per_repeated_call", "per_first_occurrence"):
        print(f"{key:24s} {w[key]:14,.0f} {b[key]:14,.0f} {w[key] / b[key]:7.3f}")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
