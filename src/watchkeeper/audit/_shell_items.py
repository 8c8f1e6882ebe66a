"""What loops, ``find -exec`` and ``xargs`` hand to the commands they run.

A ``for`` loop over files runs its body once per file; ``find -exec cmd {}`` and
``find ... | xargs cmd`` run ``cmd`` on what ``find`` matches; ``echo a b | xargs cmd`` runs it
on ``a b``. The parser (:mod:`watchkeeper.audit.shell`) reports those commands as they run, next
to the commands as written, so rules see ``grep pass /root/.bash_history`` and not only
``grep pass "$f"``. Pure functions of parsed commands; they never raise.
"""

from __future__ import annotations

import re
from dataclasses import replace

from watchkeeper.audit._shell_model import Redirect, SimpleCommand, Span
from watchkeeper.audit._shell_wrap import basename, find_matches, xargs_placeholder

MAX_ITEMS = 32
"""Known input words that ``xargs`` passes to its command."""
LOOP_PATH = re.compile(r"(?=\.|[^/~*]*[/~*])(?:\$\{?HOME\}?|[^\s$`{}])+")
"""A loop value that names files: a path or glob (it has ``/``, ``~`` or ``*``, or starts with
a dot), with no expansion left but ``$HOME``. Ports, host names and numbers do not match."""


def variable_pattern(name: str) -> re.Pattern[str]:
    """``$NAME`` or ``${NAME}``, not ``$NAMEX``."""
    return re.compile(r"\$(?:\{" + re.escape(name) + r"\}|" + re.escape(name) + r"(?![A-Za-z0-9_]))")


def mentions(cmd: SimpleCommand, pat: re.Pattern[str]) -> bool:
    """Whether ``cmd`` uses the variable ``pat`` matches (an argument or a redirection target)."""
    for a in cmd.argv:
        if "$" in a and pat.search(a):
            return True
    return any("$" in r.target and pat.search(r.target) for r in cmd.redirects)


def rebind(cmd: SimpleCommand, pat: re.Pattern[str], value: str) -> SimpleCommand:
    """``cmd`` with the variable ``pat`` matches replaced by ``value``."""

    def sub(text: str) -> str:
        return pat.sub(lambda _m: value, text) if "$" in text else text

    redirects = tuple(Redirect(r.op, sub(r.target), r.fd, r.span, sub(r.text)) for r in cmd.redirects)
    return replace(cmd, argv=tuple([sub(a) for a in cmd.argv]), redirects=redirects)


def with_items(cmd: SimpleCommand, name: str, argv: tuple[str, ...], spans: tuple[Span, ...]
               ) -> tuple[tuple[str, ...], tuple[Span, ...]]:
    """``argv`` (what ``cmd``, a ``find`` or an ``xargs``, runs) given the items it receives:
    the patterns of what ``find`` matches (the ``find`` itself, or a ``find`` piped into xargs),
    the paths an ``ls`` piped into xargs lists, or the statically known words xargs reads
    (``echo a b | xargs cat``). They replace ``{}`` (or xargs' ``-I`` string) or are appended:
    ``find . -name '.env*' | xargs cat`` runs ``cat ./**/.env*``. ``argv`` unchanged when the
    items are unknown. Returns (argv, spans), one span per word."""
    if name == "find":
        items = find_matches(cmd.argv)
        token: str | None = "{}"
    else:
        prev = cmd.pipe_prev
        if cmd.stdin is not None:
            raw = cmd.stdin.text()
            words = raw.split("\0") if "-0" in cmd.argv else raw.split()
            items = [w.strip() for w in words[: MAX_ITEMS * 2] if w.strip()][:MAX_ITEMS]
        elif prev and basename(prev[0]) == "find":
            items = find_matches(prev)
        elif prev and basename(prev[0]) == "ls":
            items = [a for a in prev[1:] if not a.startswith("-")][:MAX_ITEMS]
        else:
            return argv, spans
        token = xargs_placeholder(cmd.argv)
    if not items:
        return argv, spans
    if len(spans) != len(argv):
        spans = (cmd.span,) * len(argv)
    out: list[str] = []
    out_spans: list[Span] = []
    for a, sp in zip(argv, spans, strict=True):
        if token and a == token:
            out.extend(items)
            out_spans.extend([sp] * len(items))
        else:
            out.append(a.replace(token, " ".join(items)) if token and token in a else a)
            out_spans.append(sp)
    if token is None:
        out.extend(items)
        out_spans.extend([cmd.span] * len(items))
    return tuple(out), tuple(out_spans)
