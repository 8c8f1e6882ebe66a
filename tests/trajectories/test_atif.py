"""ATIF reader."""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.trajectories import Source, ToolKind
from watchkeeper.trajectories.atif import AtifReader


def test_trajectory(data, read_one, calls):
    traj = read_one(data / "atif" / "trajectory.json")
    assert traj.format == "atif"
    assert traj.id == "3F9A2C11-7B44-4E0D-9C1B-8A0E5D6F7A21"
    assert traj.metadata == {"schema_version": "ATIF-v1.4", "agent_name": "terminus-2",
                             "agent_version": "2.0.0",
                             "agent_model_name": "anthropic/claude-sonnet-4-5"}
    # agent steps only (system and user steps are not agent turns)
    assert [len(s.tool_calls) for s in traj.steps] == [2, 1, 0]
    assert traj.steps[0].ts == datetime(2025, 11, 3, 14, 0, 4, 250000, tzinfo=UTC).timestamp()
    keys, stat, chmod = calls(traj)
    assert (keys.kind, keys.command) == (ToolKind.SHELL, "ls -l /app/run.sh\n")  # keystrokes
    assert keys.id == "call_1"
    assert keys.output.startswith("-rw-r--r--")
    assert stat.output == "644"
    assert chmod.command == "chmod 4777 /app/run.sh && /app/run.sh"
    assert chmod.output == "hello from run.sh"  # the result without source_call_id is not joined
    assert chmod.ts == traj.steps[1].ts


def test_list_of_trajectories_and_bad_elements():
    good = {"schema_version": "ATIF-v1.6", "session_id": "s1", "agent": {}, "steps": [
        {"step_id": 1, "source": "agent", "tool_calls": [
            {"tool_call_id": "c", "function_name": "bash", "arguments": '{"command": "w"}'}]}]}
    bad = {"schema_version": "ATIF-v1.6", "session_id": "s2", "steps": "none"}
    results = list(AtifReader().read([good, bad], Source("two.json")))
    traj, issue = results
    assert traj.id == "s1"
    assert traj.steps[0].tool_calls[0].command == "w"  # arguments given as JSON text
    assert issue.location.field == "[1] steps"
