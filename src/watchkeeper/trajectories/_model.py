"""The agent-side model: trajectories made of steps made of tool calls."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ToolKind(StrEnum):
    """What a tool call does, as far as the analyser cares."""

    SHELL = "shell"  # a shell command line (command) or an argv list (argv)
    PYTHON = "python"  # Python source to execute (code)
    FILE_WRITE = "file_write"  # create/overwrite a file (path, content)
    FILE_EDIT = "file_edit"  # edit part of a file (path, content = the new text)
    FILE_READ = "file_read"  # read/view a file (path)
    OTHER = "other"  # anything else (web search, submit...): arguments kept as text


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One tool call of an agent step.

    Attributes:
        id: The tool call id from the trajectory ("" when the format has none).
        name: The tool's name as the agent called it ("bash", "str_replace_editor"...).
        kind: What it does.
        command: Shell command text (SHELL).
        argv: Argument vector when the format gives one (SHELL, e.g. local_shell_call).
        code: Python source (PYTHON).
        path: Target path (FILE_*).
        content: Text written (FILE_WRITE, FILE_EDIT).
        arguments_text: The raw arguments as text (always set; for OTHER the only payload).
        output: The tool's result text, when the trajectory has it.
        ts: Epoch seconds when the call was made, if recorded.
    """

    id: str = ""
    name: str = ""
    kind: ToolKind = ToolKind.OTHER
    command: str | None = None
    argv: tuple[str, ...] | None = None
    code: str | None = None
    path: str | None = None
    content: str | None = None
    arguments_text: str = ""
    output: str | None = None
    ts: float | None = None

    @property
    def text(self) -> str:
        """The text that evidence spans index into: command, code, content or raw arguments."""
        if self.kind is ToolKind.SHELL:
            if self.command is not None:
                return self.command
            if self.argv is not None:
                return shlex.join(self.argv)
        elif self.kind is ToolKind.PYTHON and self.code is not None:
            return self.code
        elif self.kind in (ToolKind.FILE_WRITE, ToolKind.FILE_EDIT) and self.content is not None:
            return self.content
        return self.arguments_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One agent turn: the tool calls it made. ``index`` is 0-based within the trajectory."""

    index: int
    tool_calls: tuple[ToolCall, ...] = ()
    ts: float | None = None
    end_ts: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trajectory:
    """A recorded agent episode.

    Attributes:
        id: The input's own id when it has one, else one derived from the source.
        source: Where it came from: ``file`` or ``file:line`` for JSONL.
        format: The reader that produced it ("openai-chat", "atif"...).
        steps: The agent steps with tool calls.
        metadata: Small free-form facts from the input (model, task...).
    """

    id: str
    source: str
    format: str
    steps: tuple[Step, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
