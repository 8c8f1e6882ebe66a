"""The parallel audit: same results, same order, as one process; workers that die are reported."""

from __future__ import annotations

import json
import os
import pickle
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.audit import Auditor, ParallelAuditor, Verdict, WorkerDiedError, audit_parallel
from watchkeeper.audit._parallel import _dumps
from watchkeeper.errors import InputError, RuleError
from watchkeeper.trajectories import ReadIssue, Step, Trajectory, read_trajectories

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "corpus"


def _corpus_commands() -> list[str]:
    out: list[str] = []
    for name in ("benign.jsonl", "dual_use.jsonl", "malicious.jsonl"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["command"])
    return out


@pytest.fixture(scope="module")
def auditor() -> Auditor:
    return Auditor.from_rules()


@pytest.fixture(scope="module")
def pool() -> Iterator[ParallelAuditor]:
    with ParallelAuditor(jobs=2, batch=3) as p:
        yield p


@pytest.fixture()
def mixed(tmp_path: Path) -> Path:
    """200 trajectories (benign and malicious, every fifth one two steps) with malformed lines between."""
    commands = _corpus_commands()
    step = max(1, len(commands) // 200)
    lines: list[str] = []
    for i in range(200):
        command = commands[(i * step + i % 7) % len(commands)]
        if i % 5 == 0:  # an episode of two steps
            lines.append(json.dumps({"episode": f"e{i}", "step": 0, "command": f"cd /tmp/w{i}"}))
            lines.append(json.dumps({"episode": f"e{i}", "step": 1, "command": command}))
        else:
            lines.append(json.dumps({"id": f"c{i}", "command": command}))
        if i % 17 == 4:
            lines.append("{not json")
        if i % 29 == 8:
            lines.extend(["[1, 2", "{also not json"])  # a run of issues
    p = tmp_path / "mixed.jsonl"
    p.write_text("{broken first line\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return p


def _key(item: Verdict | ReadIssue) -> object:
    return str(item) if isinstance(item, ReadIssue) else item


def test_order_and_results_match_one_process_with_small_batches(
    mixed: Path, auditor: Auditor, pool: ParallelAuditor
) -> None:
    expected = [x if isinstance(x, ReadIssue) else auditor.audit(x) for x in read_trajectories([mixed])]
    got = list(pool.audit_all(read_trajectories([mixed])))
    assert [_key(x) for x in got] == [_key(x) for x in expected]
    assert sum(isinstance(x, Verdict) for x in got) == 200
    assert sum(isinstance(x, Verdict) and bool(x.findings) for x in got) > 20
    assert isinstance(got[0], ReadIssue)  # an issue before any trajectory passes straight through
    # the pool can be used again (per-worker memos now warm): same answer
    again = list(pool.audit_all(read_trajectories([mixed])))
    assert [_key(x) for x in again] == [_key(x) for x in expected]


def test_reader_error_comes_after_everything_read_before_it(
    mixed: Path, auditor: Auditor, pool: ParallelAuditor, tmp_path: Path
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"id": f"g{i}", "command": f"ls /srv/{i}"}) + "\n" for i in range(10)))
    serial: list[Verdict] = []
    with pytest.raises(InputError) as one:
        for item in read_trajectories([good, mixed], strict=True):
            assert isinstance(item, Trajectory)
            serial.append(auditor.audit(item))
    got: list[object] = []
    with pytest.raises(InputError) as many:
        for result in pool.audit_all(read_trajectories([good, mixed], strict=True)):
            got.append(result)
    assert got == serial and len(got) == 10
    assert str(many.value) == str(one.value) and f"{mixed}:1" in str(many.value)


def test_an_exception_in_a_worker_keeps_the_results_before_it(pool: ParallelAuditor) -> None:
    ok = [Trajectory(id=f"ok{i}", source=f"x:{i}", format="commands",
                     steps=(Step(index=0, tool_calls=()),)) for i in range(4)]
    bad = Trajectory(id="bad", source="x:9", format="commands",
                     steps=(Step(index=0, tool_calls=("not a tool call",)),))  # type: ignore[arg-type]
    got: list[object] = []
    with pytest.raises(AttributeError) as err:
        for result in pool.audit_all([*ok, bad, *ok]):
            got.append(result)
    assert [v.trajectory_id for v in got if isinstance(v, Verdict)] == [f"ok{i}" for i in range(4)]
    assert any("in audit worker" in note for note in getattr(err.value, "__notes__", []))


def test_audit_parallel_matches_one_process_on_every_format(auditor: Auditor) -> None:
    paths = [DATA / "trajectories", CORPUS / "trajectories"]
    expected = [_key(x if isinstance(x, ReadIssue) else auditor.audit(x)) for x in read_trajectories(paths)]
    got = [_key(x) for x in audit_parallel(read_trajectories(paths), jobs=2, batch=2)]
    assert got == expected and len(got) > 40


def test_pickled_model_round_trips_exactly(auditor: Auditor) -> None:
    items = [x for x in read_trajectories([DATA / "trajectories", CORPUS / "trajectories"])
             if isinstance(x, Trajectory)]
    verdicts = [auditor.audit(t) for t in items]
    assert any(v.findings for v in verdicts) and any(s.tool_calls for t in items for s in t.steps)
    assert pickle.loads(_dumps(items)) == items
    assert pickle.loads(_dumps(verdicts)) == verdicts
    # lone surrogates (valid in JSON strings) survive
    odd = Trajectory(id="a\ud800", source="s", format="commands", metadata={"k": "\udfff"})
    assert pickle.loads(_dumps([odd])) == [odd]


def test_rule_issues_and_rule_errors_are_the_same_as_one_process(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yml").write_text("title: broken\nlogsource: {category: process_creation}\n"
                                   "detection: {sel: {Image|nosuchmodifier: x}, condition: sel}\n")
    one = Auditor.from_rules(rules_dirs=[rules], builtin=False)
    assert one.rule_issues
    with ParallelAuditor(jobs=1, rules_dirs=[rules], builtin=False) as p:
        assert p.rule_issues == one.rule_issues
    with pytest.raises(RuleError) as err, ParallelAuditor(jobs=1, rules_dirs=[tmp_path / "absent"]):
        pass
    assert err.value.location is not None and "absent" in str(err.value)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ParallelAuditor(jobs=0)
    with pytest.raises(ValueError):
        ParallelAuditor(jobs=1, batch=0)


@pytest.mark.timeout(60)
def test_a_killed_worker_is_an_error_not_a_hang() -> None:
    items = [Trajectory(id=f"c{i}", source=f"x:{i}", format="commands",
                        steps=(Step(index=0, tool_calls=()),)) for i in range(10)]
    with ParallelAuditor(jobs=2, batch=1) as p:
        assert len(list(p.audit_all(items))) == 10
        pids = p.pids
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(WorkerDiedError) as err:
            for _ in p.audit_all(items * 100):
                pass
    assert f"pid {pids[0]} killed by SIGKILL" in str(err.value)
    assert str(err.value).startswith("audit worker died (")
    for pid in pids:  # the pool reaped them all
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
