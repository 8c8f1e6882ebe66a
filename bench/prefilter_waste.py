"""Which rules does the literal prefilter fail to skip? A tuning aid for rule authors.

Extracts the events of every corpus command (tests/data/corpus), then, per rule, counts how often
the shared prefilter made it a candidate and how often it really matched. A rule that is a
candidate far more often than it matches has weak prefilter literals (short or common ones):
give it a selective ``contains`` literal, or split a regex so every alternative starts from one.

Run: ``.venv/bin/python bench/prefilter_waste.py [--sigmahq] [--top 30]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"
SIGMAHQ = ROOT.parent / "shared" / "data" / "sigmahq-linux"


def main() -> None:
    from watchkeeper.audit import Auditor
    from watchkeeper.audit._context import TrajectoryContext
    from watchkeeper.audit.extract import events_for_tool_call
    from watchkeeper.trajectories import ToolCall, ToolKind

    ap = argparse.ArgumentParser()
    ap.add_argument("--sigmahq", action="store_true")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    auditor = Auditor.from_rules(rules_dirs=[SIGMAHQ] if args.sigmahq else [])
    engine = auditor.engine
    commands = []
    for name in ("benign.jsonl", "dual_use.jsonl", "malicious.jsonl"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                commands.append(json.loads(line)["command"])
    events = []
    for i, command in enumerate(commands):
        ctx = TrajectoryContext(episode_id=f"c{i}")
        call = ToolCall(id=f"t{i}", name="bash", kind=ToolKind.SHELL, command=command)
        events.extend(events_for_tool_call(call, ctx.for_step(0, call)))
    candidates: collections.Counter[tuple[str, str]] = collections.Counter()
    hits: collections.Counter[tuple[str, str]] = collections.Counter()
    n_cand = n_hit = 0
    for event in events:
        route = engine._routes.get(event.category)
        if route is None:
            continue
        o, lo = route.values(event)
        mask = route.candidates(lo)
        index = 0
        while mask:
            if mask & 1:
                key = (event.category, route.rules[index].title)
                candidates[key] += 1
                n_cand += 1
                if route.preds[index](o, lo):
                    hits[key] += 1
                    n_hit += 1
            mask >>= 1
            index += 1
    t0 = time.perf_counter()
    for event in events:
        engine.matches(event)
    dt = time.perf_counter() - t0
    print(f"{len(commands)} commands, {len(events)} events; candidates/event {n_cand / len(events):.2f}, "
          f"matches/event {n_hit / len(events):.2f}; engine.matches {dt / len(events) * 1e6:.1f} us/event")
    print("wasted  candidate  rule")
    ranked = sorted(((candidates[k] - hits[k], k) for k in candidates), reverse=True)
    for wasted, key in ranked[: args.top]:
        print(f"{wasted:6d}  {candidates[key]:9d}  {key[0]}: {key[1]}")


if __name__ == "__main__":
    main()
