"""Format detection and the format registry."""

from __future__ import annotations

import pytest

from watchkeeper.errors import UnknownFormatError
from watchkeeper.trajectories import FORMATS, reader_for

SAMPLES = [
    ("openai_chat/conversation.json", "openai-chat"),
    ("openai_chat/legacy_function_call.json", "openai-chat"),
    ("openai_chat/dataset.jsonl", "openai-chat"),
    ("openai_chat/request_response.json", "openai-chat"),
    ("openai_responses/response.json", "openai-responses"),
    ("openai_responses/codex_session.jsonl", "openai-responses"),
    ("anthropic/messages.json", "anthropic"),
    ("claude_code/session.jsonl", "claude-code"),
    ("atif/trajectory.json", "atif"),
    ("swe_agent/django__django-11099.traj", "swe-agent"),
    ("mini_swe_agent/sympy__sympy-20590.traj.json", "mini-swe-agent"),
    ("mini_swe_agent/toolcall_v2.traj.json", "mini-swe-agent"),
    ("openhands/trajectory.json", "openhands"),
    ("openhands/output.jsonl", "openhands"),
    ("openhands/events.jsonl", "openhands"),
    ("inspect/log.json", "inspect"),
    ("commands_jsonl/commands.jsonl", "commands-jsonl"),
]


@pytest.mark.parametrize(("sample", "fmt"), SAMPLES)
def test_samples_are_detected(data, read_all, sample, fmt):
    trajectories, _issues = read_all(data / sample)
    assert trajectories
    assert {t.format for t in trajectories} == {fmt}


def test_every_format_has_a_sample():
    assert {fmt for _, fmt in SAMPLES} == set(FORMATS)


@pytest.mark.parametrize(("sample", "fmt"), SAMPLES)
def test_forcing_the_detected_format_gives_the_same_result(data, read_all, sample, fmt):
    assert read_all(data / sample, fmt=fmt) == read_all(data / sample)


def test_reader_for():
    assert reader_for("openai_chat").name == "openai-chat"
    assert reader_for(" ATIF ").name == "atif"
    with pytest.raises(UnknownFormatError) as caught:
        reader_for("langchain")
    for name in FORMATS:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    ("doc", "fmt"),
    [
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
         "openai-chat"),
        ({"messages": [{"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "bash", "input": {}}]}]}, "anthropic"),
        ({"object": "response", "output": []}, "openai-responses"),
        ({"schema_version": "ATIF-v1.7", "session_id": "s", "agent": {}, "steps": []}, "atif"),
        ({"trajectory_format": "mini-swe-agent-1", "messages": []}, "mini-swe-agent"),
        ({"trajectory": [{"action": "ls", "observation": "x"}], "info": {}}, "swe-agent"),
        ({"trajectory": [{"id": 1, "action": "run", "args": {}, "source": "agent"}]},
         "openhands"),
        ({"id": 1, "epoch": 1, "messages": []}, "inspect"),
        ([{"id": "a", "command": "ls"}], "commands-jsonl"),
    ],
)
def test_document_shapes(tmp_path, read_all, doc, fmt):
    import json

    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    trajectories, issues = read_all(path)
    assert issues == []
    assert [t.format for t in trajectories] == [fmt]
