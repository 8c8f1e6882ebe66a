"""OpenAI Responses API reader (and Codex CLI sessions)."""

from __future__ import annotations

from datetime import UTC, datetime

from watchkeeper.trajectories import Source, ToolKind
from watchkeeper.trajectories.openai_responses import OpenAIResponsesReader


def test_request_response_pair(data, read_one, calls):
    traj = read_one(data / "openai_responses" / "response.json")
    assert traj.id == "resp_68a1c2"
    assert traj.format == "openai-responses"
    # a run of model items is one step; results end it
    assert [len(s.tool_calls) for s in traj.steps] == [1, 1, 2]
    shell, exec_command, patch, computer = calls(traj)
    assert shell.kind is ToolKind.SHELL
    assert shell.argv == ("bash", "-lc", "find . -size +10M -type f | head")
    assert shell.command == "find . -size +10M -type f | head"
    assert shell.output == "./build/app.tar\n./data/dump.sql\n"  # joined by id
    assert (exec_command.kind, exec_command.command) == (ToolKind.SHELL, "rm -rf build/")
    assert exec_command.arguments_text == '{"cmd": "rm -rf build/", "workdir": "/repo"}'
    assert (patch.kind, patch.path, patch.content) == (ToolKind.FILE_WRITE, ".gitignore",
                                                        "build/\n*.tar")
    assert computer.kind is ToolKind.OTHER
    # created_at dates the response's own output only, not the replayed input items
    assert traj.steps[0].ts is None
    assert traj.steps[2].ts == 1741476542.0


def test_codex_session_jsonl(data, read_one, calls):
    traj = read_one(data / "openai_responses" / "codex_session.jsonl")
    assert traj.id == "0199583e-2a55-7c10-9d6e-3b1f2f6c1a20"
    assert traj.metadata["model"] == "gpt-5-codex"
    assert traj.metadata["cli_version"] == "0.36.0"
    assert [len(s.tool_calls) for s in traj.steps] == [1, 1, 0]
    shell, patch = calls(traj)
    assert shell.command == "sed -n '1,80p' Makefile"
    assert shell.ts == datetime(2025, 9, 18, 10, 2, 15, 300000, tzinfo=UTC).timestamp()
    assert traj.steps[0].ts == datetime(2025, 9, 18, 10, 2, 15, 20000, tzinfo=UTC).timestamp()
    assert '"exit_code":0' in shell.output
    assert patch.name == "apply_patch"
    assert (patch.kind, patch.path) == (ToolKind.FILE_EDIT, "Makefile")
    assert patch.content == "\tpytest -x tests/ --timeout=120"
    assert patch.arguments_text.startswith("*** Begin Patch")


def test_items_list_and_newer_shell_items():
    items = [
        {"type": "shell_call", "call_id": "s1", "action": {"commands": ["ls", "id -u"]}},
        {"type": "shell_call_output", "call_id": "s1",
         "output": [{"stdout": "a\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]},
        {"type": "code_interpreter_call", "id": "ci_1", "code": "print(2+2)",
         "outputs": [{"type": "logs", "logs": "4"}]},
        {"type": "mcp_call", "id": "mcp_1", "name": "write_file", "server_label": "fs",
         "arguments": '{"path": "/tmp/a", "content": "hi"}', "output": "ok"},
        {"type": "apply_patch_call", "call_id": "p1",
         "operation": {"type": "delete_file", "path": "old.txt"}},
    ]
    reader = OpenAIResponsesReader()
    assert reader.sniff(items)
    (traj,) = reader.read(items, Source("items.json"))
    assert [len(s.tool_calls) for s in traj.steps] == [1, 3]
    shell = traj.steps[0].tool_calls[0]
    assert (shell.kind, shell.command, shell.output) == (ToolKind.SHELL, "ls\nid -u", "a\n")
    code, mcp, delete = traj.steps[1].tool_calls
    assert (code.kind, code.code, code.output) == (ToolKind.PYTHON, "print(2+2)", "4")
    assert (mcp.kind, mcp.path, mcp.content, mcp.output) == (ToolKind.FILE_WRITE, "/tmp/a", "hi",
                                                             "ok")
    assert delete.kind is ToolKind.OTHER


def test_sniff_rejects_chat_messages():
    reader = OpenAIResponsesReader()
    assert not reader.sniff([{"role": "user", "content": "hi"}])
    assert not reader.sniff({"messages": []})
    assert reader.sniff_record({"type": "function_call", "name": "x", "arguments": "{}"})
    assert reader.sniff_record({"type": "response_item", "payload": {}})
    assert not reader.sniff_record({"type": "message", "role": "assistant", "content": "x"})
