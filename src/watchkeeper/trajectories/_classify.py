"""Tool classification: a tool's name and arguments -> a typed :class:`ToolCall`.

Readers hand over the tool name as the agent called it and the arguments (a parsed object, a
free-form string, or the raw text of arguments that are not valid JSON). The name decides the
kind (shell, Python, file write/edit/read); the argument shape fills ``command``, ``argv``,
``code``, ``path`` and ``content``. Unknown tools are OTHER and keep their arguments as text,
which the audit still scans.
"""

from __future__ import annotations

import json
import json.decoder
from functools import lru_cache
from typing import Any

from watchkeeper.trajectories._fast import new_call
from watchkeeper.trajectories._model import ToolCall, ToolKind
from watchkeeper.trajectories._util import MAX_TEXT, as_str, dumps

# Rules: what a tool name means.
_SHELL = "shell"
_PYTHON = "python"
_EDITOR = "editor"  # str_replace_editor-like: a "command" sub-argument says what it does
_WRITE = "write"
_EDIT = "edit"
_PATCH = "patch"
_READ = "read"
_OTHER = "other"

_NAMES: dict[str, str] = {}
for _name in (
    "bash", "shell", "sh", "zsh", "execute_bash", "execute_command", "run_command",
    "run_shell_command", "terminal", "cmd", "exec", "container.exec", "local_shell",
    "shell_command", "run_terminal_cmd", "run_in_terminal", "bash_tool", "run_bash",
    "bash_command", "exec_command", "execute_shell", "shell_exec", "run_shell", "command",
    "execute", "run", "bash_code_execution", "computer_terminal", "terminal_exec",
    "write_stdin", "run_cmd", "execute_terminal_command", "cmd_run", "bash_exec",
):
    _NAMES[_name] = _SHELL
for _name in (
    "python", "ipython", "execute_python", "run_python", "code_interpreter", "jupyter",
    "python_interpreter", "execute_ipython_cell", "run_ipython", "python_exec",
    "execute_python_code", "run_python_code", "code_execution", "python_repl", "pyodide",
    "jupyter_execute", "notebook_execute",
):
    _NAMES[_name] = _PYTHON
for _name in (
    "str_replace_editor", "str_replace_based_edit_tool", "text_editor", "file_editor",
    "text_editor_code_execution", "edit_tool", "editor",
):
    _NAMES[_name] = _EDITOR
for _name in (
    "write_file", "create_file", "write", "file_write", "write_to_file", "save_file",
    "new_file", "overwrite_file", "put_file", "writefile", "write_text_file",
):
    _NAMES[_name] = _WRITE
for _name in (
    "edit_file", "edit", "replace_in_file", "str_replace", "apply_diff", "search_replace",
    "multiedit", "multi_edit", "insert", "patch_file", "modify_file", "notebookedit",
    "notebook_edit", "edit_notebook", "replace", "file_edit", "insert_content", "update_file",
):
    _NAMES[_name] = _EDIT
for _name in ("apply_patch", "patch", "applypatch"):
    _NAMES[_name] = _PATCH
for _name in (
    "read_file", "view_file", "open_file", "cat", "read", "view", "file_read",
    "get_file_contents", "open", "read_text_file", "readfile", "show_file", "read_many_files",
):
    _NAMES[_name] = _READ

_SHELL_KEYS = (
    "command", "cmd", "script", "commands", "argv", "cmdline", "keystrokes", "input", "chars",
)
_PYTHON_KEYS = ("code", "source", "script", "cell", "input", "python_code", "program")
_PATH_KEYS = (
    "path", "file_path", "filePath", "filename", "file", "target_file", "absolute_path",
    "notebook_path", "relative_path", "file_name", "filepath", "target", "destination",
)
_WRITE_KEYS = ("content", "file_text", "text", "contents", "data", "body", "new_source")
_EDIT_KEYS = (
    "new_str", "new_string", "newString", "replacement", "code_edit", "new_text", "newText",
    "insert_text", "new_source", "content", "file_text", "text", "replace", "diff", "patch",
)
_PATCH_KEYS = ("input", "patch", "diff", "content", "text")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish"})
_SHELL_FLAGS = frozenset({"-c", "-lc", "-ic", "-lic", "-cl", "-ci", "-euc", "-ec", "-xc"})
_MAX_ARGV = 4096
_scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009 - untyped in typeshed


@lru_cache(maxsize=8192)
def rule_for(name: str) -> str:
    """The rule a tool name maps to ("shell", "python", "editor", ... or "other")."""
    low = name.strip().lower()
    rule = _NAMES.get(low)
    if rule is not None:
        return rule
    # Namespaced names: functions.bash, mcp__server__write_file, repo_browser/open_file.
    last = low
    for sep in ("__", ".", "/", ":"):
        if sep in last:
            last = last.rsplit(sep, 1)[1]
    rule = _NAMES.get(last)
    if rule is not None:
        return rule
    if "ipython" in last or "python" in last or "jupyter" in last:
        return _PYTHON
    if "bash" in last or "shell" in last or "terminal" in last:
        return _SHELL
    return _OTHER


def make_call(
    name: str,
    arguments: Any,
    *,
    raw: str | None = None,
    call_id: str = "",
    output: str | None = None,
    ts: float | None = None,
) -> ToolCall:
    """Build a classified ToolCall.

    Args:
        name: The tool name as the agent called it.
        arguments: The parsed arguments (usually a dict). A string means free-form input
            (the whole string is the payload). ``None`` with ``raw`` set means the arguments
            were text that is not valid JSON.
        raw: The arguments exactly as recorded, when they were text; kept as arguments_text.
        call_id: The tool call id ("" if none).
        output: The tool's result text, if known.
        ts: Epoch seconds of the call, if known.
    """
    text = raw if raw is not None else ("" if arguments is None else dumps(arguments))
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    rule = rule_for(name) if name else _OTHER
    if rule is _SHELL and isinstance(arguments, dict):  # the common case, kept short
        value = arguments.get("command")
        if value is None:
            value = arguments.get("cmd")
        if isinstance(value, str):
            return new_call(id=call_id, name=name, kind=ToolKind.SHELL, command=value,
                            arguments_text=text, output=output, ts=ts)
    elif rule is _PYTHON and isinstance(arguments, dict):
        code = arguments.get("code")
        if isinstance(code, str):
            return new_call(id=call_id, name=name, kind=ToolKind.PYTHON, code=code,
                            arguments_text=text, output=output, ts=ts)
    extra: dict[str, Any] = {}
    kind = ToolKind.OTHER
    if rule != _OTHER:
        if arguments is None and raw:
            arguments = _salvage(raw, rule)
        args = arguments if isinstance(arguments, dict) else None
        free = arguments if isinstance(arguments, str) else None
        fields = _fields(rule, args, free)
        if fields is not None:
            kind, extra = fields
    return new_call(
        id=call_id, name=name, kind=kind, arguments_text=text, output=output, ts=ts, **extra
    )


def _fields(rule: str, args: dict[str, Any] | None, free: str | None) -> tuple[ToolKind, dict[str, Any]] | None:
    if rule == _SHELL:
        if free is not None:
            return ToolKind.SHELL, {"command": free}
        value = _first(args, _SHELL_KEYS, allow_list=True)
        return ToolKind.SHELL, shell_fields(value)
    if rule == _PYTHON:
        code = free if free is not None else _first_str(args, _PYTHON_KEYS)
        return ToolKind.PYTHON, {"code": code}
    if rule == _PATCH:
        patch = free if free is not None else _first_str(args, _PATCH_KEYS)
        if patch is None:
            return ToolKind.FILE_EDIT, {"path": _first_str(args, _PATH_KEYS)}
        path, added = patch_summary(patch)
        return ToolKind.FILE_EDIT, {"path": _first_str(args, _PATH_KEYS) or path, "content": added}
    if args is None:
        if free is not None and rule == _READ:
            return ToolKind.FILE_READ, {"path": free[:4096]}
        return None
    path = _first_str(args, _PATH_KEYS)
    if rule == _EDITOR:
        return editor_fields(args, path)
    if rule == _WRITE:
        return ToolKind.FILE_WRITE, {"path": path, "content": _first_str(args, _WRITE_KEYS)}
    if rule == _EDIT:
        return ToolKind.FILE_EDIT, {"path": path, "content": _edit_content(args)}
    if rule == _READ:
        if path is None:
            return None
        return ToolKind.FILE_READ, {"path": path}
    return None


def editor_fields(args: dict[str, Any], path: str | None) -> tuple[ToolKind, dict[str, Any]] | None:
    """Fields of a str_replace_editor-style call: ``command`` create/str_replace/insert/view."""
    sub = args.get("command")
    if not isinstance(sub, str):
        sub = args.get("action") if isinstance(args.get("action"), str) else None
    sub = sub.lower() if sub else ""
    if sub == "create" or sub == "write":
        return ToolKind.FILE_WRITE, {"path": path, "content": _first_str(args, _WRITE_KEYS)}
    if sub in ("str_replace", "insert", "replace", "edit", "append", "undo_edit"):
        return ToolKind.FILE_EDIT, {"path": path, "content": _edit_content(args)}
    if sub in ("view", "read", "open"):
        return ToolKind.FILE_READ, {"path": path}
    content = _edit_content(args)
    if content is not None:
        return ToolKind.FILE_EDIT, {"path": path, "content": content}
    return None


def shell_fields(value: Any) -> dict[str, Any]:
    """``command``/``argv`` for a shell call from a string or an argv list.

    An argv list like ``["bash", "-lc", "script"]`` also sets ``command`` to the script.
    """
    if isinstance(value, str):
        return {"command": value}
    if isinstance(value, list) and value:
        argv = tuple(
            item if isinstance(item, str) else dumps(item) for item in value[:_MAX_ARGV]
        )
        command = None
        if (
            len(argv) >= 3
            and argv[0].rsplit("/", 1)[-1] in _SHELLS
            and argv[1] in _SHELL_FLAGS
        ):
            command = argv[2]
        return {"argv": argv, "command": command}
    return {}


def patch_summary(patch: str) -> tuple[str | None, str]:
    """The first file a patch touches and the text it adds (its ``+`` lines).

    Understands unified diffs (``+++ b/path``) and the ``*** Begin Patch`` format
    (``*** Add File:`` / ``*** Update File:``).
    """
    path: str | None = None
    added: list[str] = []
    for line in patch.splitlines():
        if line.startswith("+++"):
            if path is None:
                target = line[3:].strip()
                if target.startswith("b/"):
                    target = target[2:]
                if target and target != "/dev/null":
                    path = target.split("\t", 1)[0]
        elif line.startswith("+"):
            added.append(line[1:])
        elif line.startswith("*** ") and path is None:
            for marker in ("*** Add File:", "*** Update File:", "*** Move to:"):
                if line.startswith(marker):
                    path = line[len(marker):].strip() or None
                    break
    return path, "\n".join(added)


def _edit_content(args: dict[str, Any]) -> str | None:
    content = _first_str(args, _EDIT_KEYS)
    if content is not None:
        return content
    edits = args.get("edits")
    if isinstance(edits, list):
        parts = []
        for edit in edits[:_MAX_ARGV]:
            if isinstance(edit, dict):
                part = _first_str(edit, _EDIT_KEYS)
                if part is not None:
                    parts.append(part)
        if parts:
            return "\n".join(parts)
    return None


def _first(args: dict[str, Any] | None, keys: tuple[str, ...], *, allow_list: bool) -> Any:
    if args is None:
        return None
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) or (allow_list and isinstance(value, list) and value):
            return value
    return None


def _first_str(args: dict[str, Any] | None, keys: tuple[str, ...]) -> str | None:
    if args is None:
        return None
    for key in keys:
        value = args.get(key)
        if isinstance(value, str):
            return as_str(value)
    return None


def _salvage(raw: str, rule: str) -> Any:
    """Best effort on arguments that are not valid JSON (cut off, unescaped...).

    Finds the first payload key (``"command": "...``) and decodes its string value, even if it
    is not terminated. Text that does not look like JSON at all is taken as free-form input.
    """
    stripped = raw.lstrip()
    if not stripped.startswith("{"):
        return raw
    keys = {
        _SHELL: _SHELL_KEYS,
        _PYTHON: _PYTHON_KEYS,
        _PATCH: _PATCH_KEYS,
    }.get(rule, _PATH_KEYS + _EDIT_KEYS)
    found: dict[str, Any] = {}
    for key in keys + (("command",) if rule == _EDITOR else ()):
        if key in found:
            continue
        value = _string_value(raw, key)
        if value is not None:
            found[key] = value
            if rule in (_SHELL, _PYTHON, _PATCH):
                break
    return found or None


def _string_value(raw: str, key: str) -> str | None:
    marker = f'"{key}"'
    at = raw.find(marker)
    if at < 0:
        return None
    colon = raw.find(":", at + len(marker))
    if colon < 0 or raw[at + len(marker):colon].strip():
        return None
    start = colon + 1
    while start < len(raw) and raw[start] in " \t\r\n":
        start += 1
    if start >= len(raw) or raw[start] != '"':
        return None
    try:
        value, _end = _scanstring(raw, start + 1)
        return str(value)
    except (ValueError, IndexError):
        pass
    rest = raw[start + 1 :]
    if rest.endswith("\\") and not rest.endswith("\\\\"):
        rest = rest[:-1]
    try:
        return str(json.loads('"' + rest + '"'))
    except (ValueError, RecursionError):
        return rest
