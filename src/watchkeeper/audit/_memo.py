"""Memoising the analysis of shell commands.

Agent trajectories repeat themselves: the rollouts of one RL task run the same ``ls``,
``git status``, ``cat README.md`` and ``python -m pytest tests/test_x.py`` over and over. The
analysis of a shell command reads the trajectory context in three ways only: the variables
(through ``$`` expansions), the files written earlier (when the command runs, sources or copies
one), and a few constants (working directory, user, shell and Python images). :func:`context_key`
holds the constants and the variables; a command that names no remembered file (and, when it
expands anything, runs in a trajectory that has remembered none) is *pure*: its findings and its
effects on the context (a new working directory, variables assigned, files written) are a
function of its text and the context key, and the auditor replays those of an earlier identical
call instead of analysing it again.

``tests/audit/test_memo.py`` checks this on every corpus command and on generated ones: a pure
command gives the same events and the same context effects in contexts that differ only in
unrelated remembered files, replaying the effects rebuilds the context, and the auditor's
verdicts are the same with the memo on and off.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from watchkeeper.audit._context import TrajectoryContext

MAX_TEXT = 4096
"""Longer commands are not memoised (rarely repeated, costly to key)."""
MAX_FILES_SCAN = 256
"""With more remembered files than this, no command counts as pure."""
MAX_VARIABLES = 32
"""With more variables than this in the context, no command counts as pure (long keys)."""


def is_pure(text: str, ctx: TrajectoryContext) -> bool:
    """True when analysing shell ``text`` depends only on it and :func:`context_key` of ``ctx``
    (the context *before* the call)."""
    if len(text) > MAX_TEXT or len(ctx.env) > MAX_VARIABLES:
        return False
    files = ctx.files
    if files:
        # an expansion can name a remembered file the text does not spell out
        if len(files) > MAX_FILES_SCAN or "$" in text or "`" in text:
            return False
        low = text.casefold()
        for key in files:
            name = key.rpartition("/")[2].casefold()
            if not name or name in low:
                return False
    return True


_DEFAULT = TrajectoryContext()


def context_key(ctx: TrajectoryContext, text: str) -> Hashable:
    """The memo key of pure command ``text``: the text plus the context values its analysis can
    depend on (the text alone in a context that has them all at their defaults)."""
    if (not ctx.cwd and not ctx.env and not ctx.user and ctx.shell_image == _DEFAULT.shell_image
            and ctx.python_image == _DEFAULT.python_image):
        return text
    return (text, ctx.cwd, ctx.user, ctx.shell_image, ctx.python_image, tuple(ctx.env.items()))


def fresh_key(text: str) -> str | None:
    """:func:`context_key` of ``text`` in a fresh context, or None where :func:`is_pure` is false
    there (the first call of a trajectory: nothing remembered, every value at its default)."""
    return text if len(text) <= MAX_TEXT else None


@dataclass(frozen=True, slots=True)
class Effects:
    """What analysing a pure command changed in the context, to replay on a memo hit.

    Attributes:
        cwd: The working directory after the call (None: unchanged).
        env: Variables assigned, in order.
        files: Files remembered: (path key, content, append).
    """

    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str, bool], ...] = ()

    @classmethod
    def between(
        cls, cwd: str, env: Mapping[str, str], files: Mapping[str, object], ctx: TrajectoryContext
    ) -> Effects:
        """The effects of a call, from a snapshot of ``ctx`` taken before it."""
        new_env = tuple((k, v) for k, v in ctx.env.items() if k not in env or env[k] != v)
        new_files = tuple(
            (k, wf.content, wf.append) for k, wf in ctx.files.items() if files.get(k) is not wf
        )
        return cls(ctx.cwd if ctx.cwd != cwd else None, new_env, new_files)

    def __bool__(self) -> bool:
        return self.cwd is not None or bool(self.env) or bool(self.files)

    @property
    def chars(self) -> int:
        """The size of the text the effects hold."""
        return sum(len(content) for _, content, _ in self.files) + sum(len(v) for _, v in self.env)

    def apply(self, ctx: TrajectoryContext) -> None:
        """Replay on ``ctx`` (pointed at the current call by ``for_step``)."""
        if self.cwd is not None:
            ctx.cwd = self.cwd
        if self.env:
            ctx.env.update(self.env)
        for key, content, append in self.files:
            ctx.store(key, content, append=append)


NO_EFFECTS = Effects()

V = TypeVar("V")


class Memo(Generic[V]):
    """A bounded memo: emptied when it reaches ``size`` entries or ``max_chars`` characters of
    keyed text (no per-hit bookkeeping), so memory stays flat whatever the input.

    Safe to share between threads: a race can only cost a recomputation.
    """

    def __init__(self, size: int = 32_768, max_chars: int = 8 << 20) -> None:
        self.size = size
        self.max_chars = max_chars
        self._data: dict[Hashable, V] = {}
        self._chars = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def peek(self, key: Hashable) -> V | None:
        """Like :meth:`get`, without counting."""
        return self._data.get(key)

    def put(self, key: Hashable, value: V, chars: int = 0) -> None:
        """Keep ``value`` under ``key``; ``chars`` is the size of the text it stands for."""
        if len(self._data) >= self.size or self._chars + chars > self.max_chars:
            self._data.clear()
            self._chars = 0
        self._data[key] = value
        self._chars += chars

    def __len__(self) -> int:
        return len(self._data)
