"""SWE-agent ``.traj`` files: ``trajectory[]`` steps whose ``action`` is a command line."""

from __future__ import annotations

import json
import shlex
from typing import Any

from watchkeeper.trajectories._base import DocumentReader, Source, StepsBuilder
from watchkeeper.trajectories._classify import editor_fields
from watchkeeper.trajectories._model import ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._util import (
    MAX_ITEMS,
    as_dict,
    as_str,
    scalar_str,
    small_metadata,
    text_of,
)

#: SWE-agent commands that only navigate or search (read-only helpers, or the end of the run).
NAVIGATION = frozenset(
    {
        "goto", "scroll_up", "scroll_down", "search_dir", "search_file", "find_file", "submit",
        "filemap", "exit_forfeit", "exit_cost", "exit_context", "exit_format", "exit_error",
        "skip", "review_on_submit", "review_on_submit_m",
    }
)
_EDITORS = frozenset({"str_replace_editor", "str_replace_based_edit_tool", "text_editor"})
_SHLEX_LIMIT = 1 << 20


def action_call(action: str, state: dict[str, Any], *, output: str | None = None) -> ToolCall | None:
    """The ToolCall of one SWE-agent action string; None if the action is empty.

    ``str_replace_editor <command> <path> --file_text ...`` is a file write/edit/read; the
    classic ``edit N:M`` ... ``end_of_edit`` block edits the open file (``state.open_file``);
    ``create``/``open`` write/read a file; navigation commands (``goto``, ``search_dir``,
    ``submit``...) are OTHER; anything else is a shell command line.
    """
    text = action.strip()
    if not text:
        return None
    first_line, _, body = text.partition("\n")
    head = first_line.split(None, 1)
    word = head[0] if head else ""
    arg = head[1].strip() if len(head) > 1 else ""
    common: dict[str, Any] = {"arguments_text": action, "output": output}
    if word in _EDITORS:
        args = _editor_args(text)
        fields = editor_fields(args, as_str(args.get("path"))) if args is not None else None
        if fields is not None:
            kind, extra = fields
            return ToolCall(name=word, kind=kind, **common, **extra)
        return ToolCall(name=word, kind=ToolKind.FILE_EDIT, content=text, **common)
    if word in ("edit", "insert", "append"):
        content = body if body else arg
        for end in ("end_of_edit", "end_of_insert", "end_of_append"):
            if content.rstrip().endswith(end):
                content = content.rstrip()[: -len(end)].rstrip("\n")
                break
        path = as_str(state.get("open_file"))
        if path in ("n/a", ""):
            path = None
        return ToolCall(name=word, kind=ToolKind.FILE_EDIT, path=path, content=content, **common)
    if word == "create" and arg and not body:
        return ToolCall(name=word, kind=ToolKind.FILE_WRITE, path=_unquote(arg), content="",
                        **common)
    if word == "open" and arg and not body:
        path = _unquote(arg.split()[0] if not arg.startswith(("'", '"')) else arg)
        return ToolCall(name=word, kind=ToolKind.FILE_READ, path=path, **common)
    if word in NAVIGATION:
        return ToolCall(name=word, kind=ToolKind.OTHER, **common)
    return ToolCall(name="bash", kind=ToolKind.SHELL, command=text, **common)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _editor_args(text: str) -> dict[str, Any] | None:
    if len(text) > _SHLEX_LIMIT:
        return None
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        return None
    args: dict[str, Any] = {}
    positional: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word.startswith("--") and i + 1 < len(words):
            args[word[2:]] = words[i + 1]
            i += 2
            continue
        positional.append(word)
        i += 1
    if positional:
        args["command"] = positional[0]
    if len(positional) > 1:
        args["path"] = positional[1]
    return args


def _state(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.startswith("{") and len(value) < 65536:
        try:
            return as_dict(json.loads(value))
        except (ValueError, RecursionError):
            return {}
    return as_dict(value)


def _is_swe_agent(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    steps = doc.get("trajectory")
    if not isinstance(steps, list):
        return False
    first = next((s for s in steps[:8] if isinstance(s, dict)), None)
    if first is None:
        return "info" in doc or "history" in doc
    return (
        "action" in first
        and "args" not in first
        and "source" not in first
        and ("observation" in first or "thought" in first or "response" in first)
    )


class SweAgentReader(DocumentReader):
    """Reads SWE-agent ``.traj`` files (and JSONL rows that hold one in ``trajectory``).

    Each ``trajectory[]`` entry is a step with one call parsed from ``action`` (see
    :func:`action_call`) and its ``observation`` as output. The id is ``instance_id`` when the
    document has one, else the file name without ``.traj``. ``info.exit_status`` and
    ``info.swe_agent_version`` go into metadata. The format has no timestamps.
    """

    name = "swe-agent"

    def is_document(self, doc: Any) -> bool:
        """A ``.traj`` object."""
        return _is_swe_agent(doc)

    def read_one(self, doc: Any, src: Source) -> Trajectory:
        """One ``.traj`` object."""
        if not isinstance(doc, dict) or not isinstance(doc.get("trajectory"), list):
            raise src.error("SWE-agent trajectory without a trajectory list", "trajectory")
        builder = StepsBuilder()
        for entry in doc["trajectory"][:MAX_ITEMS]:
            if not isinstance(entry, dict):
                continue
            builder.step()
            action = entry.get("action")
            if not isinstance(action, str):
                continue
            call = action_call(action, _state(entry.get("state")),
                               output=text_of(entry.get("observation")))
            if call is not None:
                builder.add_call(call)
        info = as_dict(doc.get("info"))
        metadata = small_metadata(info, ("exit_status", "swe_agent_version", "model_name"))
        if src.line is None and src.index is None:
            default = src.stem
        else:
            default = str(src)
        ident = scalar_str(doc.get("instance_id")) or default
        return Trajectory(id=ident, source=str(src), format=self.name, steps=builder.build(),
                          metadata=metadata)
