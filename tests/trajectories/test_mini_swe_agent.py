"""mini-swe-agent reader."""

from __future__ import annotations

from watchkeeper.trajectories import ToolKind
from watchkeeper.trajectories.mini_swe_agent import text_actions


def test_text_based_v1(data, read_one, calls):
    traj = read_one(data / "mini_swe_agent" / "sympy__sympy-20590.traj.json")
    assert traj.id == "sympy__sympy-20590"
    assert traj.format == "mini-swe-agent"
    assert traj.metadata["mini_version"] == "1.9.1"
    assert traj.metadata["model_name"] == "anthropic/claude-sonnet-4-20250514"
    # the turn with two bash blocks ran nothing, as in the agent
    assert [len(s.tool_calls) for s in traj.steps] == [1, 1, 0, 1]
    grep, sed, submit = calls(traj)
    assert grep.kind is ToolKind.SHELL
    assert grep.command == 'grep -rn "__slots__" sympy/core/_print_helpers.py'
    assert grep.output == "<returncode>1</returncode>\n<output>\n</output>"
    assert sed.command.startswith("sed -i 's/^class Printable:/")
    assert submit.command.startswith("echo MINI_SWE_AGENT_FINAL_OUTPUT")
    assert submit.output.startswith("diff --git")


def test_toolcall_v2(data, read_one, calls):
    traj = read_one(data / "mini_swe_agent" / "toolcall_v2.traj.json")
    assert traj.id == "toolcall_v2"
    assert traj.metadata["trajectory_format"] == "mini-swe-agent-1.1"
    first, second = calls(traj)
    assert (first.id, first.command) == ("call_mini_1", "find . -name '*.py' | wc -l")
    assert first.output == "412\n"  # extra.raw_output, not the templated content
    assert first.ts == 1758190933.52
    assert traj.steps[0].end_ts == 1758190934.01
    assert second.output is None


def test_text_actions():
    assert text_actions("no block") == []
    assert text_actions("```bash\nls\n```") == ["ls"]
    assert text_actions("```mswea_bash_command\n  cd / && ls \n```") == ["cd / && ls"]
    assert text_actions("```bash\na\n```\n```bash\nb\n```") == []
    assert text_actions("```python\nprint()\n```") == []
