"""Detection quality of the offline audit on the labelled corpus (tests/data/corpus/).

Each corpus line is one tool call (a shell command, or Python code when ``"tool": "python"``),
audited on its own with the real pipeline (``Auditor``: extraction -> Sigma engine). Reports:

- recall per behaviour class: a malicious case counts as detected when it gets a finding at
  medium or above from a rule of its class (the builtin file of the same name), and, separately,
  when it gets any finding at medium or above;
- the share of dual-use commands reaching medium and reaching high;
- the false-positive rate of benign commands at medium or above;
- the verdicts of the labelled trajectories in tests/data/corpus/trajectories/.

The same corpus is run through the SigmaHQ Linux rules (``--peer-rules``, default the shared
copy) as the peer, so each number comes with the peer's number from the same run.

    .venv/bin/python bench/audit_quality.py [--json-out FILE] [--show-misses] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchkeeper.alerts import Severity
from watchkeeper.audit import Auditor, Verdict
from watchkeeper.rules import BUILTIN_PREFIX
from watchkeeper.trajectories import (
    ReadIssue,
    Step,
    ToolCall,
    ToolKind,
    Trajectory,
    read_trajectories,
)

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"
SIGMAHQ = REPO.parent / "shared" / "data" / "sigmahq-linux"
CLASSES = ("mining", "reverse_shell", "tunnel", "recon", "metadata", "credential_access",
           "persistence", "download_exec", "evasion", "exfiltration", "escape", "resource_abuse")
TARGET_RECALL = 0.95
TARGET_BENIGN_FP = 0.005
#: Sets written after the rules, reported apart (JSON key: file, title). A blind set's first
#: run is the honest estimate of how the rules generalise; later runs are no longer blind.
LATER_SETS = {
    "holdout": ("holdout.jsonl", "second set (written after the first tuning round)"),
    "third_set": ("third_set.jsonl", "third set (written blind: its author never saw the rules)"),
    "fourth_set": ("fourth_set.jsonl", "fourth set (written blind, after the third set's fixes)"),
    "fifth_set": ("fifth_set.jsonl", "fifth set (written blind, after the fourth set's fixes)"),
    "sixth_set": ("sixth_set.jsonl", "sixth set (written blind, after the fifth set's fixes)"),
    "seventh_set": ("seventh_set.jsonl", "seventh set (written blind, during the sixth set's fixes)"),
    "eighth_set": ("eighth_set.jsonl", "eighth set (written blind, after this stop's fixes)"),
}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (blank lines skipped)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def trajectory_of(record: dict[str, Any]) -> Trajectory:
    """A one-call trajectory for a corpus record."""
    text = record["command"]
    if record.get("tool") == "python":
        call = ToolCall(id="c1", name="python", kind=ToolKind.PYTHON, code=text, arguments_text=text)
    else:
        call = ToolCall(id="c1", name="bash", kind=ToolKind.SHELL, command=text, arguments_text=text)
    return Trajectory(id=record["id"], source="corpus", format="corpus",
                      steps=(Step(index=0, tool_calls=(call,)),))


@dataclass
class Scored:
    """The verdict of one corpus record."""

    record: dict[str, Any]
    verdict: Verdict

    def loud(self, at: Severity = Severity.MEDIUM) -> list[str]:
        """Titles of findings at ``at`` or above."""
        return [f.title for f in self.verdict.findings if f.severity >= at]

    def class_hit(self, behaviour: str, family: dict[str, str]) -> bool:
        """A finding at medium or above from a rule of ``behaviour`` (its builtin file)."""
        return any(f.severity >= Severity.MEDIUM and family.get(f.rule_id) == behaviour
                   for f in self.verdict.findings)


@dataclass
class Report:
    """The numbers of one rule set over the corpus."""

    name: str
    rules: int
    recall_class: dict[str, float] = field(default_factory=dict)
    recall_any: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    dual_use_medium: float = 0.0
    dual_use_high: float = 0.0
    benign_fp_medium: float = 0.0
    benign_fp_high: float = 0.0
    seconds: float = 0.0
    calls: int = 0
    later: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per later set (LATER_SETS key): its numbers."""
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    trajectories: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (rounded)."""
        def r4(x: float) -> float:
            return round(x, 4)

        return {
            "rules": self.rules,
            "recall_class": {k: r4(v) for k, v in self.recall_class.items()},
            "recall_any": {k: r4(v) for k, v in self.recall_any.items()},
            "cases": self.counts,
            "dual_use_share_medium": r4(self.dual_use_medium),
            "dual_use_share_high": r4(self.dual_use_high),
            "benign_fp_rate_medium": r4(self.benign_fp_medium),
            "benign_fp_rate_high": r4(self.benign_fp_high),
            "calls_per_second": round(self.calls / self.seconds, 1) if self.seconds else None,
            "trajectories": self.trajectories,
            **self.later,
        }


def score_all(auditor: Auditor, records: Iterable[dict[str, Any]]) -> list[Scored]:
    """Audit every record."""
    return [Scored(r, auditor.audit(trajectory_of(r))) for r in records]


def _later_set(auditor: Auditor, records: list[dict[str, Any]], family: dict[str, str],
               report: Report) -> dict[str, Any]:
    """Recall and false positives on a set written after the rules were tuned (its misses and
    false positives also go on the report's lists)."""
    hs = score_all(auditor, records)
    hm = [h for h in hs if h.record["label"] != "benign"]
    hb = [h for h in hs if h.record["label"] == "benign"]
    per_class: dict[str, list[bool]] = defaultdict(list)
    for h in hm:
        per_class[h.record["label"]].append(h.class_hit(h.record["label"], family))
    for h in hm:
        if not h.class_hit(h.record["label"], family):
            report.misses.append({"id": h.record["id"], "command": h.record["command"], "other": h.loud()})
    for h in hb:
        if h.loud():
            report.false_positives.append({"id": h.record["id"], "command": h.record["command"],
                                           "label": "benign", "findings": h.loud()})
    return {
        "malicious": len(hm),
        "benign": len(hb),
        "recall_class": round(sum(h.class_hit(h.record["label"], family) for h in hm) / max(1, len(hm)), 4),
        "recall_any": round(sum(bool(h.loud()) for h in hm) / max(1, len(hm)), 4),
        "recall_per_class": {c: round(sum(v) / len(v), 4) for c, v in sorted(per_class.items())},
        "benign_fp_rate_medium": round(sum(bool(h.loud()) for h in hb) / max(1, len(hb)), 4),
        "misses": [h.record["id"] for h in hm if not h.class_hit(h.record["label"], family)],
        "false_positives": [h.record["id"] for h in hb if h.loud()],
    }


def evaluate(name: str, auditor: Auditor, malicious: list[dict[str, Any]],
             dual: list[dict[str, Any]], benign: list[dict[str, Any]], labels: dict[str, str],
             later: dict[str, list[dict[str, Any]]] | None = None) -> Report:
    """Run one rule set over the corpus and the trajectories."""
    report = Report(name=name, rules=len(auditor.engine.rules))
    family = {r.id: Path(r.path.removeprefix(BUILTIN_PREFIX)).stem
              for r in auditor.engine.rules if r.source == "builtin"}
    start = time.perf_counter()
    mal = score_all(auditor, malicious)
    dus = score_all(auditor, dual)
    ben = score_all(auditor, benign)
    report.seconds = time.perf_counter() - start
    report.calls = len(mal) + len(dus) + len(ben)

    by_class: dict[str, list[Scored]] = defaultdict(list)
    for s in mal:
        by_class[s.record["label"]].append(s)
    for cls in CLASSES:
        items = by_class.get(cls, [])
        report.counts[cls] = len(items)
        if not items:
            continue
        report.recall_class[cls] = sum(s.class_hit(cls, family) for s in items) / len(items)
        report.recall_any[cls] = sum(bool(s.loud()) for s in items) / len(items)
        for s in items:
            if not s.class_hit(cls, family):
                report.misses.append({"id": s.record["id"], "command": s.record["command"],
                                      "other": s.loud()})
    report.counts["dual_use"] = len(dus)
    report.counts["benign"] = len(ben)
    if dus:
        report.dual_use_medium = sum(bool(s.loud()) for s in dus) / len(dus)
        report.dual_use_high = sum(bool(s.loud(Severity.HIGH)) for s in dus) / len(dus)
    if ben:
        report.benign_fp_medium = sum(bool(s.loud()) for s in ben) / len(ben)
        report.benign_fp_high = sum(bool(s.loud(Severity.HIGH)) for s in ben) / len(ben)
    for s in dus + ben:
        if s.loud():
            report.false_positives.append({"id": s.record["id"], "command": s.record["command"],
                                           "label": s.record["label"], "findings": s.loud()})

    for key, records in (later or {}).items():
        if records:
            report.later[key] = _later_set(auditor, records, family, report)

    folder = CORPUS / "trajectories"
    for item in read_trajectories([folder]):
        if isinstance(item, ReadIssue):
            continue
        verdict = auditor.audit(item)
        expect = labels.get(item.id, "?")
        classes = sorted({family.get(f.rule_id, "sigma") for f in verdict.findings
                          if f.severity >= Severity.MEDIUM})
        ok = (not verdict.reaches(Severity.MEDIUM)) if expect == "benign" else (
            expect in classes if name == "watchkeeper" else verdict.reaches(Severity.MEDIUM))
        report.trajectories.append({
            "id": item.id, "expect": expect, "ok": ok, "risk": round(verdict.risk, 3),
            "max_severity": verdict.max_severity.label if verdict.max_severity else "none",
            "classes": classes,
        })
    return report


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def print_report(ours: Report, peer: Report | None) -> None:
    """A table of our numbers next to the peer's."""
    head = f"{'class':<18}{'n':>5}  {'recall(class)':>13}  {'recall(any)':>11}"
    if peer:
        head += f"  {'peer recall(any)':>16}"
    print(f"\nwatchkeeper builtin pack: {ours.rules} rules"
          + (f"; peer {peer.name}: {peer.rules} rules" if peer else ""))
    print(head)
    for cls in CLASSES:
        line = (f"{cls:<18}{ours.counts.get(cls, 0):>5}  {_fmt(ours.recall_class.get(cls)):>13}"
                f"  {_fmt(ours.recall_any.get(cls)):>11}")
        if peer:
            line += f"  {_fmt(peer.recall_any.get(cls)):>16}"
        print(line)
    total = sum(ours.counts.get(c, 0) for c in CLASSES)
    macro = sum(ours.recall_class.values()) / max(1, len(ours.recall_class))
    print(f"{'all (macro)':<18}{total:>5}  {_fmt(macro):>13}")
    rows = [
        ("dual-use at >= medium", ours.dual_use_medium, peer.dual_use_medium if peer else None),
        ("dual-use at >= high", ours.dual_use_high, peer.dual_use_high if peer else None),
        ("benign FP at >= medium", ours.benign_fp_medium, peer.benign_fp_medium if peer else None),
        ("benign FP at >= high", ours.benign_fp_high, peer.benign_fp_high if peer else None),
    ]
    print(f"\n{'':<26}{'ours':>8}{'peer':>8}   (dual-use n={ours.counts['dual_use']}, benign n={ours.counts['benign']})")
    for label, a, b in rows:
        print(f"{label:<26}{_fmt(a):>8}{_fmt(b):>8}")
    speed = ours.calls / ours.seconds if ours.seconds else 0.0
    pspeed = peer.calls / peer.seconds if peer and peer.seconds else 0.0
    print(f"{'tool calls per second':<26}{speed:8.0f}{pspeed:8.0f}")
    for key, (_, title) in LATER_SETS.items():
        h = ours.later.get(key, {})
        ph = peer.later.get(key, {}) if peer else {}
        if not h:
            continue
        print(f"\n{title}: {h['malicious']} malicious, {h['benign']} benign")
        print(f"{'recall (class)':<26}{_fmt(h['recall_class']):>8}")
        print(f"{'recall (any medium+)':<26}{_fmt(h['recall_any']):>8}{_fmt(ph.get('recall_any')):>8}")
        print(f"{'benign FP at >= medium':<26}{_fmt(h['benign_fp_rate_medium']):>8}"
              f"{_fmt(ph.get('benign_fp_rate_medium')):>8}")
        low = {c: r for c, r in h["recall_per_class"].items() if r < 1.0}
        if low:
            print("  classes under 100 %: " + ", ".join(f"{c} {100 * r:.0f}%" for c, r in low.items()))
    ok = sum(t["ok"] for t in ours.trajectories)
    print(f"\ntrajectories: {ok}/{len(ours.trajectories)} as labelled")
    for t in ours.trajectories:
        mark = "ok  " if t["ok"] else "MISS"
        print(f"  {mark} {t['id']:<20} expect={t['expect']:<18} max={t['max_severity']:<9} "
              f"risk={t['risk']:<6} classes={','.join(t['classes'])}")
    met = (min(ours.recall_class.values(), default=0.0) >= TARGET_RECALL
           and ours.benign_fp_medium <= TARGET_BENIGN_FP)
    print(f"\ntargets (recall >= {TARGET_RECALL:.0%} per class, benign FP <= {TARGET_BENIGN_FP:.1%}): "
          + ("met" if met else "NOT met"))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json-out", type=Path, help="write the numbers as JSON here")
    ap.add_argument("--show-misses", action="store_true", help="list misses and false positives")
    ap.add_argument("--peer-rules", type=Path, default=SIGMAHQ, help="peer rule folder (SigmaHQ Linux)")
    ap.add_argument("--no-peer", action="store_true", help="skip the peer run")
    args = ap.parse_args(argv)

    malicious = load_jsonl(CORPUS / "malicious.jsonl")
    dual = load_jsonl(CORPUS / "dual_use.jsonl")
    benign = load_jsonl(CORPUS / "benign.jsonl")
    labels = json.loads((CORPUS / "trajectory_labels.json").read_text(encoding="utf-8"))
    later = {key: load_jsonl(CORPUS / name) if (CORPUS / name).is_file() else []
             for key, (name, _) in LATER_SETS.items()}
    counts = Counter(r["label"] for r in malicious)
    assert all(counts[c] >= 30 for c in CLASSES), counts

    ours = evaluate("watchkeeper", Auditor.from_rules(), malicious, dual, benign, labels, later)
    peer = None
    if not args.no_peer and args.peer_rules.is_dir():
        peer_auditor = Auditor.from_rules(rules_dirs=[args.peer_rules], builtin=False)
        peer = evaluate("sigmahq-linux", peer_auditor, malicious, dual, benign, labels, later)
    print_report(ours, peer)
    if args.show_misses:
        print("\nmisses (no medium+ finding of the case's class):")
        for m in ours.misses:
            print(f"  {m['id']:<22} {m['command'][:110]!r}  other={m['other']}")
        print("\nfalse positives (dual-use and benign at medium+):")
        for fp in ours.false_positives:
            print(f"  {fp['id']:<14} {fp['command'][:100]!r} -> {fp['findings']}")
    if args.json_out:
        out = {"corpus": str(CORPUS.relative_to(REPO)), "watchkeeper": ours.to_dict(),
               "peer": {"name": peer.name, **peer.to_dict()} if peer else None}
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
