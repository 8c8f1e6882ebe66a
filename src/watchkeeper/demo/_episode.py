"""The demo's scripted episode: read with the trajectory readers, replayed as sandbox commands."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from watchkeeper.errors import InputError, Location
from watchkeeper.trajectories import ReadIssue, ToolCall, ToolKind, Trajectory, read_trajectories

MAX_EDIT_ARGS = 1 << 20

_WRITE = ("import sys\np = sys.argv[1]\nopen(p, 'w').write(sys.stdin.read())\n"
          "print('wrote ' + p)")  # fmt: skip
_EDIT = (
    "import json, sys\na = json.load(sys.stdin)\np = a['path']\ns = open(p).read()\n"
    "n = s.count(a['old'])\n"
    "if n != 1:\n    sys.exit(f'old_str occurs {n} times in {p}, not once')\n"
    "open(p, 'w').write(s.replace(a['old'], a['new']))\nprint('edited ' + p)"
)


def episode_path() -> Path:
    """The shipped episode (``watchkeeper/examples/rome_episode.json``, OpenAI chat format)."""
    return Path(str(resources.files("watchkeeper.examples").joinpath("rome_episode.json")))


def load_episode(path: str | Path | None = None) -> Trajectory:
    """The first trajectory of ``path`` (default: the shipped episode), any supported format.

    Raises:
        InputError: The file is missing, malformed or holds no trajectory.
    """
    source = Path(path) if path is not None else episode_path()
    for item in read_trajectories([source]):
        if isinstance(item, ReadIssue):
            raise InputError(f"cannot read the episode: {item.message}", item.location)
        return item
    raise InputError("no trajectory in the file", Location(str(source)))


@dataclass(frozen=True, slots=True)
class Command:
    """How one tool call runs in the sandbox.

    Attributes:
        command: A shell string or an argv list for :meth:`Sandbox.exec`.
        input: Bytes for its stdin (a Python cell, a file's content), or None.
        display: One line for the summary table.
    """

    command: str | list[str]
    input: bytes | None
    display: str


def to_command(call: ToolCall) -> Command | None:
    """The sandbox command of a tool call; None for a call the demo cannot replay (a web search,
    a file view without a path...)."""
    if call.kind is ToolKind.SHELL:
        if call.command is not None:
            return Command(call.command, None, _line(_main_part(call.command)))
        if call.argv:
            return Command(list(call.argv), None, _line(" ".join(call.argv)))
    elif call.kind is ToolKind.PYTHON and call.code is not None:
        return Command(["python3", "-"], call.code.encode(), "python: " + _line(_first_code(call.code)))
    elif call.kind is ToolKind.FILE_WRITE and call.path:
        return Command(["python3", "-c", _WRITE, call.path], (call.content or "").encode(),
                       f"write {call.path}")  # fmt: skip
    elif call.kind is ToolKind.FILE_READ and call.path:
        return Command(["cat", "--", call.path], None, f"view {call.path}")
    elif call.kind is ToolKind.FILE_EDIT and call.path:
        edit = _str_replace(call)
        if edit is not None:
            return Command(["python3", "-c", _EDIT], json.dumps(edit).encode(), f"edit {call.path}")
    return None


def _str_replace(call: ToolCall) -> dict[str, str] | None:
    """old/new strings of a ``str_replace`` edit, from the call's raw arguments."""
    if len(call.arguments_text) > MAX_EDIT_ARGS:
        return None
    try:
        args = json.loads(call.arguments_text)
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    old = args.get("old_str", args.get("old_string"))
    new = args.get("new_str", args.get("new_string", ""))
    if not isinstance(old, str) or not isinstance(new, str) or not old:
        return None
    return {"path": str(call.path), "old": old, "new": new}


_SPLIT = re.compile(r"\s*&&\s*")
_MINOR = ("sleep ", "echo ", "cd ", "true", "chmod ")
_FETCH = ("urlretrieve", "curl ", "wget ")


def _main_part(command: str) -> str:
    """For display: a command list that starts with a download, shown as ``fetch && <what
    runs next>`` (the first part that is not a download or a trivial command)."""
    parts = [p for p in _SPLIT.split(command.strip()) if p]
    if len(parts) < 2 or not any(f in parts[0] for f in _FETCH):
        return command
    for part in parts[1:]:
        if not any(f in part for f in _FETCH) and not part.startswith(_MINOR):
            return "fetch && " + part.lstrip("( ").removeprefix("nohup ")
    return command


def _first_code(code: str) -> str:
    lines = [x for x in code.splitlines() if x.strip() and not x.startswith(("import ", "from "))]
    return lines[0] if lines else code


def _line(text: str, width: int = 64) -> str:
    first = " ".join(text.split())
    return first if len(first) <= width else first[: width - 3] + "..."
