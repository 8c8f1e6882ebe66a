"""Fuzzing: random JSON-ish structures per format and random bytes never crash or hang a reader.

Readers may only raise InputError (for a document they reject); the entry point may only raise
UnknownFormatError (a named file of no known format). Everything else is a bug.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.errors import InputError, UnknownFormatError
from watchkeeper.trajectories import (
    READERS,
    ReadIssue,
    Source,
    ToolCall,
    ToolKind,
    Trajectory,
    make_call,
    read_trajectories,
)
from watchkeeper.trajectories._util import parse_ts, text_of

FUZZ = settings(
    max_examples=80,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = [
    "role", "content", "tool_calls", "function", "name", "arguments", "id", "type", "messages",
    "steps", "source", "tool_call_id", "function_name", "observation", "results",
    "source_call_id", "trajectory", "action", "thought", "state", "info", "trajectory_format",
    "extra", "actions", "command", "args", "cause", "kind", "tool_name", "epoch", "samples",
    "eval", "events", "event", "input", "output", "call_id", "payload", "timestamp", "ts",
    "episode", "step", "path", "file_text", "new_str", "code", "cmd", "history", "message",
    "sessionId", "schema_version", "session_id", "agent", "attachments", "tool_use_id", "text",
    "tool_call_metadata", "model_response", "request", "response", "choices", "object",
    "operation", "diff", "edits", "raw_output", "function_call", "open_file", "completed",
]
WORDS = [
    "assistant", "user", "tool", "function", "system", "agent", "tool_use", "tool_result",
    "text", "function_call", "function_call_output", "local_shell_call", "shell_call",
    "apply_patch_call", "custom_tool_call", "code_interpreter_call", "computer_call", "message",
    "reasoning", "run", "run_ipython", "edit", "write", "read", "call_tool_mcp", "finish",
    "bash", "python", "str_replace_editor", "text_editor", "apply_patch", "write_file", "create",
    "str_replace", "view", "insert", "mini-swe-agent-1", "ATIF-v1.4", "attachment://x",
    "ActionEvent", "ObservationEvent", "response_item", "session_meta", "chat.completion",
    "response", "2025-01-01T00:00:00Z", "exec", "create_file", "update_file", "tool",
    "*** Begin Patch\n*** Add File: a\n+x", "```bash\nls\n```", "edit 1:2\nx\nend_of_edit",
    "str_replace_editor create /a --file_text 'x'", "open a.py", "samples/1_epoch_1.json",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(KEYS) | st.text(max_size=4)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
args_like = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)


@st.composite
def json_text(draw: st.DrawFn, values: st.SearchStrategy[Any] = args_like) -> str:
    """JSON text of a value, sometimes cut short."""
    text = json.dumps(draw(values))
    cut = draw(st.integers(min_value=0, max_value=len(text)))
    return text if draw(st.booleans()) else text[:cut]


def objects(required: dict[str, Any], **optional: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with ``required`` keys and any subset of ``optional`` keys."""
    return st.fixed_dictionaries(
        {k: v for k, v in required.items()}, optional={k: v for k, v in optional.items()}
    )


tool_names = st.sampled_from(WORDS) | st.text(max_size=8)
tool_call = objects(
    {},
    id=scalars,
    type=st.just("function"),
    function=json_values | objects({}, name=tool_names, arguments=json_values | json_text()),
    arguments=json_values | args_like,
)
block = objects(
    {"type": st.sampled_from(WORDS)},
    id=scalars, name=tool_names, input=args_like | json_values, tool_use_id=scalars,
    content=json_values, text=st.text(max_size=10),
)
message = objects(
    {"role": st.sampled_from(["assistant", "user", "tool", "function", "system", 3])},
    content=json_values | st.lists(block, max_size=3) | st.sampled_from(WORDS),
    tool_calls=st.lists(tool_call, max_size=3) | json_values,
    tool_call_id=scalars,
    function_call=json_values | objects({}, name=tool_names, arguments=json_text()),
    extra=json_values | objects({}, actions=st.lists(args_like, max_size=2) | json_values,
                                timestamp=scalars, raw_output=scalars),
    timestamp=scalars,
)
messages = st.lists(message, max_size=6)
item = objects(
    {"type": st.sampled_from(WORDS)},
    call_id=scalars, id=scalars, name=tool_names, arguments=json_text() | json_values,
    action=json_values | objects({}, command=st.lists(scalars, max_size=3) | json_values,
                                 commands=json_values),
    output=json_values, role=st.sampled_from(WORDS), content=json_values,
    operation=json_values | objects({}, type=st.sampled_from(WORDS), path=scalars,
                                    diff=st.sampled_from(WORDS)),
    input=json_values, code=scalars, outputs=json_values,
)
event = objects(
    {},
    id=scalars, action=st.sampled_from(WORDS) | json_values, args=args_like | json_values,
    source=st.sampled_from(["agent", "user", "environment"]) | scalars, cause=scalars,
    observation=json_values, content=json_values, timestamp=scalars,
    tool_call_metadata=json_values | objects({}, tool_call_id=scalars,
                                             model_response=objects({}, id=scalars)),
    kind=st.sampled_from(["ActionEvent", "ObservationEvent", "MessageEvent", "X"]),
    tool_name=tool_names, tool_call_id=scalars, llm_response_id=scalars,
)
atif_step = objects(
    {"source": st.sampled_from(["agent", "user", "system"]) | scalars},
    timestamp=scalars,
    tool_calls=st.lists(objects({}, tool_call_id=scalars, function_name=tool_names,
                                arguments=args_like | json_values | json_text()), max_size=3)
    | json_values,
    observation=json_values | objects({}, results=st.lists(
        objects({}, source_call_id=scalars, content=json_values), max_size=3) | json_values),
)
swe_step = objects(
    {}, action=st.sampled_from(WORDS) | st.text(max_size=30) | json_values,
    observation=json_values, state=json_values | st.sampled_from(['{"open_file": "/a"}', "{"]),
)
sample = objects(
    {"id": scalars, "epoch": scalars, "messages": messages},
    events=st.lists(objects({"event": st.sampled_from(["tool", "model"])}, id=scalars,
                            function=tool_names, arguments=json_values, result=json_values,
                            timestamp=scalars, completed=scalars), max_size=3) | json_values,
    attachments=json_values,
)
command_record = objects(
    {}, id=scalars, command=st.text(max_size=20) | st.lists(scalars, max_size=3) | json_values,
    episode=st.sampled_from(["e1", "e2"]) | scalars, step=scalars, ts=scalars, output=scalars,
    tool_call_id=scalars,
)
claude_record = objects(
    {"type": st.sampled_from(["user", "assistant", "summary", "x"])},
    message=json_values | objects({}, id=st.sampled_from(["m1", "m2"]),
                                  content=st.lists(block, max_size=3) | json_values),
    sessionId=scalars, timestamp=scalars,
)

DOCUMENTS = {
    "openai-chat": messages | objects({"messages": messages}, request=json_values,
                                      response=json_values, id=scalars),
    "anthropic": messages | objects({"messages": messages}),
    "openai-responses": st.lists(item, max_size=6)
    | objects({}, input=st.lists(item, max_size=4) | json_values,
              output=st.lists(item, max_size=4) | json_values, created_at=scalars),
    "atif": objects({"schema_version": st.just("ATIF-v1.4"),
                     "steps": st.lists(atif_step, max_size=4) | json_values},
                    session_id=scalars, agent=json_values),
    "swe-agent": objects({"trajectory": st.lists(swe_step, max_size=4) | json_values},
                         info=json_values, instance_id=scalars),
    "mini-swe-agent": objects({"trajectory_format": st.just("mini-swe-agent-1"),
                               "messages": messages}, info=json_values),
    "openhands": st.lists(event, max_size=6) | objects({"history": st.lists(event, max_size=4)}),
    "inspect": objects({"eval": json_values, "samples": st.lists(sample, max_size=2)
                        | json_values}) | sample,
    "commands-jsonl": st.lists(command_record, max_size=6),
    "claude-code": st.lists(claude_record, max_size=6),
}
RECORDS = {
    "openhands": event,
    "openai-responses": item | objects({"type": st.just("response_item")}, payload=item),
    "commands-jsonl": command_record,
    "claude-code": claude_record,
}


def _check(items: Any) -> None:
    """Consume ``items``; every item must be a well-formed Trajectory or ReadIssue."""
    for result in items:
        if isinstance(result, ReadIssue):
            assert isinstance(result.message, str)
            continue
        assert isinstance(result, Trajectory)
        assert isinstance(result.id, str)
        json.dumps(result.metadata)
        for index, step in enumerate(result.steps):
            assert step.index == index
            for call in step.tool_calls:
                assert isinstance(call, ToolCall)
                assert isinstance(call.kind, ToolKind)
                assert isinstance(call.arguments_text, str)
                assert isinstance(call.text, str)
                assert call.argv is None or all(isinstance(a, str) for a in call.argv)


def _read(reader_name: str, doc: Any) -> None:
    reader = next(r for r in READERS if r.name == reader_name)
    try:
        _check(reader.read(doc, Source("fuzz.json")))
    except InputError:
        pass


def test_every_format_is_fuzzed():
    assert set(DOCUMENTS) == {r.name for r in READERS}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_readers_on_format_shaped_documents(name):
    @FUZZ
    @given(DOCUMENTS[name])
    def check(doc: Any) -> None:
        _read(name, doc)

    check()


@FUZZ
@given(st.sampled_from(sorted(DOCUMENTS)), json_values)
def test_readers_on_any_json(name, doc):
    _read(name, doc)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_stream_readers_on_records(name):
    reader = next(r for r in READERS if r.name == name)

    @FUZZ
    @given(st.lists(RECORDS[name] | json_values, max_size=8))
    def check(records: list[Any]) -> None:
        lines = iter([(n, record) for n, record in enumerate(records, 1)])
        _check(reader.read_records(lines, Source("fuzz.jsonl")))

    check()


@FUZZ
@given(json_values)
def test_sniffers_never_raise(value):
    for reader in READERS:
        assert isinstance(reader.sniff(value), bool)
        assert isinstance(reader.sniff_record(value), bool)


@FUZZ
@given(tool_names, json_values | args_like, st.none() | st.text(max_size=40) | json_text())
def test_make_call(name, arguments, raw):
    call = make_call(name, None if raw is not None else arguments, raw=raw)
    assert isinstance(call.kind, ToolKind)
    assert isinstance(call.text, str)
    if raw is not None:
        assert call.arguments_text == raw


@FUZZ
@given(json_values)
def test_helpers(value):
    assert parse_ts(value) is None or isinstance(parse_ts(value), float)
    assert text_of(value) is None or isinstance(text_of(value), str)


def _read_file(suffix: str, data: bytes) -> None:
    handle, path = tempfile.mkstemp(prefix="wk-fuzz-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            _check(read_trajectories([path]))
        except UnknownFormatError:
            pass
    finally:
        os.unlink(path)


@FUZZ
@given(st.sampled_from([".json", ".jsonl", ".traj", ".eval"]), st.binary(max_size=2048))
def test_random_bytes(suffix, data):
    _read_file(suffix, data)


@FUZZ
@given(st.sampled_from(sorted(DOCUMENTS)).flatmap(DOCUMENTS.__getitem__), st.booleans())
def test_files_of_format_shaped_documents(doc, as_lines):
    text = json.dumps(doc)
    if as_lines and isinstance(doc, list):
        text = "\n".join(json.dumps(d) for d in doc)
    _read_file(".jsonl" if as_lines else ".json", text.encode())
