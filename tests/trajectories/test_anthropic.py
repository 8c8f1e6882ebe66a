"""Anthropic Messages reader."""

from __future__ import annotations

from watchkeeper.trajectories import Source, ToolKind
from watchkeeper.trajectories.anthropic import AnthropicReader


def test_messages_request_body(data, read_one, calls):
    traj = read_one(data / "anthropic" / "messages.json")
    assert traj.format == "anthropic"
    assert traj.metadata == {"model": "claude-sonnet-4-5-20250929"}
    assert [len(s.tool_calls) for s in traj.steps] == [1, 2, 1, 0]
    view, edit, create, bash = calls(traj)
    assert (view.kind, view.path) == (ToolKind.FILE_READ, "/srv/app/routes.py")
    assert view.id == "toolu_01A"
    assert view.output.startswith("1\tfrom flask import Flask")
    assert edit.kind is ToolKind.FILE_EDIT
    assert "@app.get('/healthz')" in edit.content
    assert edit.output == "The file /srv/app/routes.py has been edited."
    assert (create.kind, create.path) == (ToolKind.FILE_WRITE, "/etc/cron.d/app-restart")
    assert create.content.startswith("*/5 * * * * root curl")
    assert (bash.kind, bash.command) == (ToolKind.SHELL,
                                         "systemctl restart app && curl -s localhost:8000/healthz")
    assert bash.output == "ok"


def test_response_object_and_server_tools():
    response = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "bash_code_execution",
             "input": {"command": "uname -a"}},
            {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_1",
             "content": {"type": "bash_code_execution_result", "stdout": "Linux", "stderr": "",
                         "return_code": 0}},
            {"type": "tool_use", "id": "toolu_2", "name": "computer",
             "input": {"action": "left_click", "coordinate": [10, 20]}},
        ],
    }
    (traj,) = AnthropicReader().read(response, Source("r.json"))
    assert traj.id == "msg_01"
    shell, computer = traj.steps[0].tool_calls
    assert (shell.kind, shell.command, shell.output) == (ToolKind.SHELL, "uname -a", "Linux")
    assert computer.kind is ToolKind.OTHER
    assert '"left_click"' in computer.arguments_text


def test_sniff_prefers_anthropic_blocks_over_openai():
    reader = AnthropicReader()
    assert reader.sniff({"messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "bash", "input": {}}]}]})
    assert not reader.sniff({"messages": [{"role": "assistant", "tool_calls": []}]})
    assert not reader.sniff({"steps": []})


def test_string_content_and_bad_blocks():
    doc = {"messages": [
        {"role": "assistant", "content": "plain text"},
        {"role": "assistant", "content": [None, 5, {"type": "tool_use", "name": 9, "input": "ls"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": None}]},
    ]}
    (traj,) = AnthropicReader().read(doc, Source("x.json"))
    assert [len(s.tool_calls) for s in traj.steps] == [0, 1]
    assert traj.steps[1].tool_calls[0].kind is ToolKind.OTHER
