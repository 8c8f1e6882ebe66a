"""Claude Code session log reader."""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.trajectories import ToolKind


def test_session_file_is_one_trajectory(data, read_one, calls):
    path = data / "claude_code" / "session.jsonl"
    traj = read_one(path)
    assert traj.format == "claude-code"
    assert traj.id == "8d3f1e2a-6c4b-4f7e-b1a9-2c5d7e9f0a11"
    assert traj.source == str(path)
    assert traj.metadata["model"] == "claude-opus-4-1-20250805"
    assert traj.metadata["cwd"] == "/home/dev/api"
    # the two lines of msg_01XyZ (text, then tool_use) are one step
    assert [len(s.tool_calls) for s in traj.steps] == [1, 2]
    run, edit, write = calls(traj)
    assert run.kind is ToolKind.SHELL
    assert run.command.startswith("for i in 1 2 3; do pytest")
    assert run.output == "1 passed\n1 failed\n1 passed"
    assert run.ts == datetime(2025, 8, 28, 9, 14, 6, 10000, tzinfo=UTC).timestamp()
    assert traj.steps[0].ts == datetime(2025, 8, 28, 9, 14, 5, 530000, tzinfo=UTC).timestamp()
    assert traj.steps[0].end_ts == datetime(2025, 8, 28, 9, 14, 19, 775000,
                                            tzinfo=UTC).timestamp()
    assert (edit.kind, edit.path) == (ToolKind.FILE_EDIT,
                                      "/home/dev/api/tests/test_integration.py")
    assert edit.content == "wait_until(server.ready, timeout=5)"
    assert (write.kind, write.path, write.content) == (
        ToolKind.FILE_WRITE, "/home/dev/.bashrc", "export PATH=$PATH:/tmp/.x\n")
