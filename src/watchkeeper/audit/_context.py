"""Per-trajectory state of the offline analyser: files written, working directory, variables,
and the attribution (episode, step, tool call, time) stamped on every event."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from watchkeeper.trajectories import Step, ToolCall

MAX_FILE_BYTES = 1 << 20
"""Largest file content remembered per path (characters)."""
MAX_FILES = 2_000
"""Most files remembered per trajectory; the oldest are forgotten first."""


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file the agent wrote, remembered so that running it later expands its content.

    Attributes:
        path: The path as the analyser keys it (absolute when the directory was known).
        content: What was written (capped at MAX_FILE_BYTES).
        step: The step that wrote it.
        tool_call_id: The tool call that wrote it.
        append: Whether the last write appended.
    """

    path: str
    content: str
    step: int | None
    tool_call_id: str
    append: bool = False


@dataclass(slots=True)
class TrajectoryContext:
    """What the analyser knows about one trajectory so far; mutated as tool calls are read.

    Create one per trajectory, then call :meth:`for_step` before analysing each tool call.

    Attributes:
        episode_id / run_id: Stamped on every event.
        step / tool_call_id / ts: The tool call being analysed (set by :meth:`for_step`).
        cwd: The working directory when known (after ``cd /abs/path``), else "".
        env: Variables with literal values assigned or exported so far (a persistent shell).
        files: Files written so far, by path (see :meth:`key`).
        user: The agent's user name when known ("" otherwise).
        shell_image / python_image: Images of the tool's own shell and Python interpreter.
    """

    episode_id: str = ""
    run_id: str = ""
    step: int | None = None
    tool_call_id: str = ""
    ts: float = 0.0
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, WrittenFile] = field(default_factory=dict)
    user: str = ""
    shell_image: str = "/bin/bash"
    python_image: str = "/usr/bin/python3"

    def for_step(self, step: Step | int | None, tool_call: ToolCall | None = None) -> TrajectoryContext:
        """Point the context at ``tool_call`` of ``step`` and return it (for chaining)."""
        if isinstance(step, int) or step is None:
            self.step = step
            step_ts = None
        else:
            self.step = step.index
            step_ts = step.ts
        if tool_call is not None:
            self.tool_call_id = tool_call.id
            ts = tool_call.ts if tool_call.ts is not None else step_ts
        else:
            self.tool_call_id = ""
            ts = step_ts
        self.ts = float(ts) if ts is not None else 0.0
        return self

    def key(self, path: str) -> str:
        """The normalised key of ``path``: joined to the known cwd when relative."""
        if not path:
            return path
        if path[0] not in "/~$" and self.cwd:
            path = posixpath.join(self.cwd, path)
        if "/." in path or "//" in path:
            path = posixpath.normpath(path)
        return path

    def remember(self, path: str, content: str, *, append: bool = False) -> None:
        """Record that ``path`` was written with ``content`` in the current tool call."""
        key = self.key(path)
        if not key:
            return
        if append and key in self.files:
            content = self.files[key].content + content
        self.store(key, content, append=append)

    def store(self, key: str, content: str, *, append: bool = False) -> None:
        """Remember ``content`` under the normalised ``key`` as written by the current tool call."""
        if len(content) > MAX_FILE_BYTES:
            content = content[:MAX_FILE_BYTES]
        self.files.pop(key, None)
        if len(self.files) >= MAX_FILES:
            del self.files[next(iter(self.files))]
        self.files[key] = WrittenFile(key, content, self.step, self.tool_call_id, append)

    def recall(self, path: str) -> WrittenFile | None:
        """The file written at ``path`` earlier, if any."""
        if not self.files or not path:
            return None
        return self.files.get(self.key(path))

    def chdir(self, target: str) -> None:
        """Follow a ``cd``: absolute and home-relative targets are known; others join a known cwd."""
        if not target or target == "~":
            self.cwd = "~"
            return
        if target == "-":
            self.cwd = ""
            return
        if target[0] in "/~":
            self.cwd = posixpath.normpath(target) if target[0] == "/" else target.rstrip("/")
        elif target[0] == "$":
            self.cwd = ""
        elif self.cwd:
            self.cwd = posixpath.normpath(posixpath.join(self.cwd, target))

    def resolve(self, path: str) -> str:
        """``path`` joined to the known cwd when it is relative (``./xmrig`` -> ``/tmp/xmrig``)."""
        if not path or path[0] in "/~$" or not self.cwd:
            return path
        return posixpath.normpath(posixpath.join(self.cwd, path))
