"""Shell understanding: a hand-written POSIX sh/bash parser that turns a script into the simple
commands it would run, nested and decoded ones included.

``parse_shell("echo aWQ= | base64 -d | sh")`` returns the ``echo``, ``base64`` and ``sh``
commands plus ``id`` reached with ``via=("base64 | sh",)``. Every command carries a span into
the original text. Input is untrusted: parsing never raises, never recurses past
:data:`MAX_DEPTH` levels of nesting and never looks at more than :data:`MAX_TEXT` characters of
one script or :data:`MAX_WORK` characters in all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from watchkeeper.audit._shell_flow import FLOW_NAMES, stdout_of
from watchkeeper.audit._shell_items import LOOP_PATH, mentions, rebind, variable_pattern, with_items
from watchkeeper.audit._shell_lex import Op, Sub, Token, Var, Word, lex
from watchkeeper.audit._shell_model import (
    Payload,
    Redirect,
    ShellScript,
    SimpleCommand,
    Span,
    new_command,
)
from watchkeeper.audit._shell_wrap import (
    NESTS,
    SHELLS,
    STDIN_SHELL_SINKS,
    basename,
    nests,
    shell_invocation,
)

__all__ = [
    "MAX_COMMANDS",
    "MAX_DEPTH",
    "MAX_TEXT",
    "MAX_WORK",
    "Payload",
    "Redirect",
    "ShellScript",
    "SimpleCommand",
    "commands_from_argv",
    "parse_script",
    "parse_shell",
]

MAX_TEXT = 1 << 20
"""Characters of one script that are analysed (1 MiB); the rest is dropped and flagged."""
MAX_DEPTH = 8
"""Levels of nesting followed (``sh -c``, ``$(...)``, decoded payloads, ``eval``...)."""
MAX_COMMANDS = 10_000
"""Simple commands produced by one parse; beyond this the parse stops and is flagged."""
MAX_WORK = 8 << 20
"""Characters lexed over all nesting levels of one parse."""
MAX_VIA = 24
MAX_LOOP_VALUES = 32
"""File values of one ``for`` loop bound to its variable (the rest are not)."""
MAX_UNROLLED = 128
"""Commands added for loop values in one parse. Each becomes events that the rules read against
the whole script as their parent command line: at 1,024 a 7 KB loop of 300 commands over 40 files
took 0.58 s to audit (0.02 s without binding); at 128, 0.13 s."""

_FAST = re.compile(r"[A-Za-z0-9_./:=,+@%^~*?\[\] \t-]+")
_WS_WORD = re.compile(r"[^ \t]+")
_LINE_OK = re.compile(r"[^$`\\(){}#\n\r]*")
_LINE_TOK = re.compile(
    r"[ \t]*(?:([0-9]*(?:>>|>&|>\||>|<&|<>|<)|&>>|&>)"
    r"|((?:'[^']*'|\"[^\"]*\"|[^ \t\n\r\f\v'\"|&;<>])+)"
    r"|(&&|\|\||\|&|;;&|;;|;&|[|;&]))"
)
_UNQUOTE = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]\s]*\])?\+?=")
_SKIP_KW = frozenset({"if", "then", "elif", "else", "do", "while", "until", "!", "{", "time", "coproc"})
_END_KW = frozenset({"fi", "done", "}", "esac"})
_RESERVED = _SKIP_KW | _END_KW | {"for", "select", "case", "function", "[[", "in"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECLARE = frozenset({"export", "declare", "typeset", "local", "readonly"})
_POST_NAMES = frozenset(NESTS) | STDIN_SHELL_SINKS
_SUB_LABEL = {"$(": "$(...)", "`": "`...`", "<(": "<(...)", ">(": ">(...)"}


class _Level:
    """One script being parsed: its text and how its offsets map onto the original text."""

    __slots__ = ("text", "base", "override", "via", "parent", "interp", "depth", "user")

    def __init__(
        self,
        text: str,
        base: int,
        override: Span | None,
        via: tuple[str, ...],
        parent: SimpleCommand | None,
        interp: str,
        depth: int,
        user: str,
    ) -> None:
        self.text = text
        self.base = base
        self.override = override
        self.via = via
        self.parent = parent
        self.interp = interp
        self.depth = depth
        self.user = user

    def span(self, start: int, end: int) -> Span:
        o = self.override
        return o if o is not None else (self.base + start, self.base + end)


class _Proto:
    """A simple command whose words are expanded, before it is linked into its pipeline."""

    __slots__ = ("argv", "arg_spans", "payloads", "assigns", "redirects", "span", "heredoc",
                 "stdin", "err_pipe")

    def __init__(self) -> None:
        self.argv: tuple[str, ...] = ()
        self.arg_spans: tuple[Span, ...] = ()
        self.payloads: dict[int, Payload] | None = None
        self.assigns: tuple[tuple[str, str], ...] = ()
        self.redirects: tuple[Redirect, ...] = ()
        self.span: Span = (0, 0)
        self.heredoc: str | None = None
        self.stdin: Payload | None = None
        self.err_pipe = False


class _Parser:
    __slots__ = ("env", "out", "work", "truncated", "degraded", "unrolled")

    def __init__(self, env: Mapping[str, str] | None) -> None:
        self.env: dict[str, str] = dict(env) if env else {}
        self.out: list[SimpleCommand] = []
        self.work = 0
        self.unrolled = 0
        self.truncated = False
        self.degraded = False

    # -- one level ------------------------------------------------------------------------------

    def parse(self, text: str, lv: _Level, capture: bool = False) -> Payload | None:
        """Parse one script level; returns the known stdout of its last pipeline if ``capture``."""
        if lv.depth > MAX_DEPTH:
            self.degraded = True
            return None
        if len(self.out) >= MAX_COMMANDS:
            self.truncated = True
            return None
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT]
            lv.text = text
            self.truncated = True
        self.work += len(text)
        if self.work > MAX_WORK:
            self.truncated = True
            return None
        if _FAST.fullmatch(text) and self._fast(text, lv, capture):
            return None
        if _LINE_OK.fullmatch(text) and "<<" not in text:
            done, out = self._line(text, lv, capture)
            if done:
                return out
        toks, degraded, truncated = lex(text)
        if degraded:
            self.degraded = True
        if truncated:
            self.truncated = True
        return self._tokens(toks, lv, capture)

    def _fast(self, text: str, lv: _Level, capture: bool) -> bool:
        """One simple command of plain words: no lexer needed. False when not applicable."""
        words = text.split()
        if not words:
            return True
        first = words[0]
        if first in _RESERVED or "=" in first or first in _DECLARE or first == "unset" or (
                capture and first in FLOW_NAMES):
            return False
        o = lv.override
        if o is None:
            b = lv.base
            spans: list[Span] = []
            pos = 0
            for w in words:
                s = text.index(w, pos)
                pos = s + len(w)
                spans.append((b + s, b + pos))
            arg_spans = tuple(spans)
            span = (arg_spans[0][0], arg_spans[-1][1])
        else:
            arg_spans = (o,) * len(words)
            span = o
        cmd = new_command(argv=tuple(words), span=span, via=lv.via, arg_spans=arg_spans,
                          parent=lv.parent, interpreter=lv.interp, user=lv.user)
        self.out.append(cmd)
        name = first.rpartition("/")[2] if "/" in first else first
        if name in _POST_NAMES:
            self._post(cmd, lv, None)
        return True

    def _line(self, text: str, lv: _Level, capture: bool) -> tuple[bool, Payload | None]:
        """A one-line list of simple commands with plain quoting and simple redirections
        (the common case) without the general lexer. (False, None) when not applicable."""
        protos: list[tuple[list[tuple[str, int, int]], list[tuple[str, int | None, str, int, int, int]]]] = []
        words: list[tuple[str, int, int]] = []
        redirs: list[tuple[str, int | None, str, int, int, int]] = []
        seps: list[str] = []
        pos = 0
        pending: tuple[str, int | None, int] | None = None
        for m in _LINE_TOK.finditer(text):
            if m.start() != pos:
                return False, None
            pos = m.end()
            g = m.lastindex
            if g == 2:
                w = m.group(2)
                if pending is not None:
                    op, fd, rstart = pending
                    redirs.append((op, fd, w, rstart, pos - len(w), pos))
                    pending = None
                else:
                    if not words and (w in _RESERVED or "=" in w):
                        return False, None
                    words.append((w, pos - len(w), pos))
            elif g == 1:
                if pending is not None:
                    return False, None
                r = m.group(1)
                op = r.lstrip("0123456789")
                digits = r[: len(r) - len(op)]
                pending = (op, int(digits[:6]) if digits else None, pos - len(r))
            else:
                if pending is not None:
                    return False, None
                protos.append((words, redirs))
                seps.append(m.group(3))
                words, redirs = [], []
                if len(protos) >= MAX_COMMANDS:
                    self.truncated = True
                    pos = len(text)
                    break
        if pending is not None or text[pos:].strip():
            return False, None
        protos.append((words, redirs))
        seps.append("")
        pipeline: list[_Proto] = []
        last: Payload | None = None
        o = lv.override
        b = lv.base
        for (ws, rs), sep in zip(protos, seps, strict=True):
            if ws or rs:
                p = _Proto()
                if ws:
                    p.argv = tuple([_unquote(w) if ("'" in w or '"' in w) else w for w, _, _ in ws])
                    p.arg_spans = ((o,) * len(ws) if o is not None
                                   else tuple([(b + s0, b + e0) for _, s0, e0 in ws]))
                if rs:
                    p.redirects = tuple([
                        Redirect(op, _unquote(t), fd, o or (b + s0, b + e0), text[s0:e0])
                        for op, fd, t, s0, _, e0 in rs])
                starts = ([ws[0][1]] if ws else []) + ([rs[0][3]] if rs else [])
                ends = ([ws[-1][2]] if ws else []) + ([rs[-1][5]] if rs else [])
                p.span = o if o is not None else (b + min(starts), b + max(ends))
                if p.argv and (p.argv[0] in _DECLARE or p.argv[0] == "unset"):
                    self._env_update(p)
                pipeline.append(p)
            if sep in ("|", "|&"):
                if pipeline:
                    pipeline[-1].err_pipe = sep == "|&"
                continue
            if pipeline:
                last = self._pipeline(pipeline, lv, capture, sep == "&")
                pipeline = []
        return True, last

    def _tokens(self, toks: list[Token], lv: _Level, capture: bool) -> Payload | None:
        text = lv.text
        pipeline: list[_Proto] = []
        words: list[Word] = []
        assigns: list[Word] = []
        redirs: list[Op] = []
        mode = 0  # 0 commands, 1 for/select header, 2 case subject, 3 case pattern
        cases = 0
        last: Payload | None = None
        # open loops (innermost last): a for/select loop's variable, its literal values and the
        # index in self.out where its body starts; while/until loops bind nothing
        loops: list[tuple[str, tuple[str, ...], int]] = []
        header: list[Word] = []
        k = 0
        ntok = len(toks)
        while k < ntok:
            if len(self.out) >= MAX_COMMANDS:
                self.truncated = True
                return None
            t = toks[k]
            k += 1
            if type(t) is Word:
                if mode:
                    if mode == 3:
                        if not t.quoted and t.value == "esac":
                            cases -= 1
                            mode = 0
                        continue
                    if mode == 2 and not t.quoted and t.value == "in":
                        mode = 3
                    elif mode == 1:
                        header.append(t)
                    elif t.parts is not None:
                        self._expand(t, lv)  # substitutions in a header still run
                    continue
                if not words:
                    if _ASSIGN.match(text, t.start):
                        assigns.append(t)
                        continue
                    if not t.quoted and not assigns and not redirs:
                        v = t.value
                        if v in _RESERVED:
                            if v in _SKIP_KW:
                                if v == "while" or v == "until":
                                    loops.append(("", (), 0))
                                continue
                            if v in _END_KW:
                                if v == "esac" and cases:
                                    cases -= 1
                                elif v == "done" and loops:
                                    var, values, start = loops.pop()
                                    if values:
                                        self._unroll(var, values, start)
                                continue
                            if v in ("for", "select"):
                                mode = 1
                                header = []
                                continue
                            if v == "case":
                                mode = 2
                                cases += 1
                                continue
                            if v == "function":
                                if k < ntok and type(toks[k]) is Word:
                                    k += 1
                                continue
                words.append(t)
                continue
            assert isinstance(t, Op)
            kind = t.kind
            if kind == "redir":
                if not mode:
                    redirs.append(t)
                continue
            if kind == "skip":
                continue
            o = t.op
            if mode:
                if mode == 3:
                    if o == ")":
                        mode = 0
                elif mode == 1 and o in (";", "\n"):
                    mode = 0
                    var, values = self._loop_header(header, lv)
                    loops.append((var, values, len(self.out)))
                continue
            if o == "(":
                nxt = toks[k] if k < ntok else None
                if (len(words) == 1 and not assigns and not redirs and isinstance(nxt, Op)
                        and nxt.op == ")"):
                    words = []  # name() { ...; }: a function definition
                    k += 1
                    continue
            proto = self._command(words, assigns, redirs, lv) if (words or assigns or redirs) else None
            if words or assigns or redirs:
                words, assigns, redirs = [], [], []
            if o == "|" or o == "|&":
                if proto is not None:
                    proto.err_pipe = o == "|&"
                    pipeline.append(proto)
                continue
            if proto is not None:
                pipeline.append(proto)
            if pipeline:
                last = self._pipeline(pipeline, lv, capture, o == "&")
                pipeline = []
            if o in (";;", ";&", ";;&") and cases:
                mode = 3
        if words or assigns or redirs:
            proto = self._command(words, assigns, redirs, lv)
            if proto is not None:
                pipeline.append(proto)
        if pipeline:
            last = self._pipeline(pipeline, lv, capture, False)
        return last

    # -- loops ----------------------------------------------------------------------------------

    def _loop_header(self, header: list[Word], lv: _Level) -> tuple[str, tuple[str, ...]]:
        """(variable, file values) of a ``for NAME in WORDS`` header; substitutions in the words
        run. Only values that name files are bound (paths and globs: ``~/.bash_history``,
        ``/home/*/.ssh/id_*``, ``$HOME/.netrc``); values that stay unknown (``$x``, ``$(cmd)``
        with unknown output), numbers, host names and brace ranges are left out, so loops over
        ports or hosts keep their shape. ``("", ())`` when nothing can be bound."""
        if len(header) < 3 or header[1].quoted or header[1].value != "in":
            for w in header:
                if w.parts is not None:
                    self._expand(w, lv)
            return "", ()
        name = header[0].value
        values: list[str] = []
        for w in header[2:]:
            for value, _, _ in self._expand(w, lv):
                if len(values) < MAX_LOOP_VALUES and LOOP_PATH.fullmatch(value):
                    values.append(value)
        if not _NAME.fullmatch(name):
            return "", ()
        return name, tuple(values)

    def _unroll(self, var: str, values: tuple[str, ...], start: int) -> None:
        """The commands of a loop body that use the loop variable, once more per literal value
        (``for f in ~/.a ~/.b; do cat "$f"; done`` also gives ``cat ~/.a`` and ``cat ~/.b``).
        The commands as written (with ``$f``) stay: rules about the loop's shape see them."""
        pat = variable_pattern(var)
        body = [c for c in self.out[start:] if mentions(c, pat)]
        out = self.out
        for value in values:
            for c in body:
                if len(out) >= MAX_COMMANDS or self.unrolled >= MAX_UNROLLED:
                    return
                self.unrolled += 1
                out.append(rebind(c, pat, value))

    # -- expansion ------------------------------------------------------------------------------

    def _command(self, words: list[Word], assigns: list[Word], redirs: list[Op], lv: _Level
                 ) -> _Proto | None:
        p = _Proto()
        starts: list[int] = []
        ends: list[int] = []
        if assigns:
            pairs: list[tuple[str, str]] = []
            for w in assigns:
                value = self._expand(w, lv, split=False)[0][0]
                name, _, val = value.partition("=")
                if name.endswith("+"):
                    name = name[:-1]
                    val = self.env.get(name, "") + val
                pairs.append((name, val))
            p.assigns = tuple(pairs)
            starts.append(assigns[0].start)
            ends.append(assigns[-1].end)
        if words:
            argv: list[str] = []
            spans: list[Span] = []
            payloads: dict[int, Payload] | None = None
            for w in words:
                for value, span, pl in self._expand(w, lv):
                    if pl is not None:
                        if payloads is None:
                            payloads = {}
                        payloads[len(argv)] = pl
                    argv.append(value)
                    spans.append(span)
            p.argv = tuple(argv)
            p.arg_spans = tuple(spans)
            p.payloads = payloads
            starts.append(words[0].start)
            ends.append(words[-1].end)
        if redirs:
            out: list[Redirect] = []
            for r in redirs:
                out.append(self._redirect(r, lv, p))
            p.redirects = tuple(out)
            starts.append(redirs[0].start)
            ends.append(max(r.end for r in redirs))
        p.span = lv.span(min(starts), max(ends))
        self._env_update(p)
        return p

    def _env_update(self, p: _Proto) -> None:
        """Follow assignments, ``export``/``declare``/``local``/``readonly`` and ``unset``."""
        if not p.argv:
            if p.assigns:
                self.env.update(p.assigns)
        elif p.argv[0] in _DECLARE:
            for a in p.argv[1:]:
                if "=" in a and _ASSIGN.match(a):
                    name, _, val = a.partition("=")
                    self.env[name.rstrip("+")] = val
        elif p.argv[0] == "unset":
            for a in p.argv[1:]:
                self.env.pop(a, None)

    def _redirect(self, r: Op, lv: _Level, p: _Proto) -> Redirect:
        target = ""
        if r.target is not None:
            target = self._expand(r.target, lv, split=False)[0][0]
        span = lv.span(r.start, r.end)
        if r.op in ("<<", "<<-"):
            body = r.body or ""
            p.heredoc = body
            quoted = r.target is not None and r.target.quoted
            if not quoted and ("$(" in body or "`" in body):
                self._heredoc_subs(body, r.body_start, lv)
            if lv.override is None and r.op == "<<" and r.body_start >= 0:
                p.stdin = Payload(body.encode("utf-8", "replace"),
                                  (lv.base + r.body_start, lv.base + r.body_start + len(body)),
                                  lv.base + r.body_start, "heredoc")
            else:
                p.stdin = Payload(body.encode("utf-8", "replace"),
                                  lv.override or span, None, "heredoc")
        elif r.op == "<<<":
            data = (target + "\n").encode("utf-8", "replace")
            base = None
            tspan = span
            if r.target is not None and lv.override is None:
                tspan = (lv.base + r.target.start, lv.base + r.target.end)
                idx = lv.text.find(target, r.target.start, r.target.end) if target else -1
                base = lv.base + idx if idx >= 0 else None
            p.stdin = Payload(data, tspan, base, "here-string")
        return Redirect(r.op, target, r.fd, span, lv.text[r.start : r.end])

    def _heredoc_subs(self, body: str, body_start: int, lv: _Level) -> None:
        """Run the command substitutions of an unquoted here-doc body."""
        from watchkeeper.audit._shell_lex import Lexer

        lx = Lexer(body)
        i = 0
        found = 0
        while found < 64:
            i = body.find("$(", i)
            if i < 0:
                break
            j = lx.find_close(i + 2)
            if j < 0:
                break
            found += 1
            self._sub(Sub("$(", body[i + 2 : j], body_start + i + 2, body[i : j + 1], True, True), lv)
            i = j + 1

    def _var(self, v: Var) -> str | None:
        if v.simple:
            return self.env.get(v.name)
        raw = v.raw
        rest = raw[2 + len(v.name) : -1]
        val = self.env.get(v.name)
        if rest[:2] in (":-", ":=") or rest[:1] in ("-", "="):
            return val if val else None
        return None

    def _sub(self, s: Sub, lv: _Level) -> Payload | None:
        if not s.inner or s.inner.isspace():
            return None
        if lv.depth >= MAX_DEPTH:
            self.degraded = True
            return None
        if s.exact and lv.override is None:
            base, override = lv.base + s.inner_start, None
        else:
            start = lv.base + s.inner_start
            override = lv.override or (start, start + max(0, len(s.raw) - 2))
            base = 0
        child = _Level(s.inner, base, override, lv.via + (_SUB_LABEL[s.kind],), lv.parent,
                       lv.interp, lv.depth + 1, lv.user)
        return self.parse(s.inner, child, capture=s.kind != ">(")

    def _expand(self, w: Word, lv: _Level, split: bool = True
                ) -> list[tuple[str, Span, Payload | None]]:
        span = lv.span(w.start, w.end)
        parts = w.parts
        if parts is None:
            v = w.value
            if (split and not w.quoted and len(v) > 2 and v[0] == "{" and v[-1] == "}"
                    and "," in v and " " not in v):
                return [(x, span, None) for x in v[1:-1].split(",")]
            return [(v, span, None)]
        outs: list[str] = []
        cur: list[str] = []
        payload: Payload | None = None
        for piece in parts:
            if type(piece) is str:
                cur.append(piece)
                continue
            if type(piece) is Var:
                val = self._var(piece)
                if val is None:
                    if piece.name == "IFS" and split and not piece.quoted:
                        if cur:
                            outs.append("".join(cur))
                            cur = []
                        continue
                    cur.append(piece.raw)
                elif split and not piece.quoted:
                    cur = _split_into(val, cur, outs)
                else:
                    cur.append(val)
                continue
            assert isinstance(piece, Sub)
            pl = self._sub(piece, lv)
            if pl is None:
                cur.append(piece.raw)
                continue
            payload = pl
            if piece.kind in ("<(", ">("):
                cur.append(piece.raw)
                continue
            val = pl.text().rstrip("\n")
            if split and not piece.quoted:
                cur = _split_into(val, cur, outs)
            else:
                cur.append(val)
        if cur:
            outs.append("".join(cur))
        if not outs and w.quoted:
            outs.append("")
        return [(x, span, payload) for x in outs]

    # -- pipelines and nesting ----------------------------------------------------------------

    def _pipeline(self, protos: list[_Proto], lv: _Level, capture: bool, background: bool
                  ) -> Payload | None:
        n = len(protos)
        prev: Payload | None = None
        outs: list[Payload | None] = []
        ins: list[Payload | None] = []
        for idx, p in enumerate(protos):
            stdin = p.stdin if p.stdin is not None else (prev if idx else None)
            ins.append(stdin)
            out: Payload | None = None
            if p.argv:
                prog = p.argv[0]
                name = prog.rpartition("/")[2] if "/" in prog else prog
                if name in FLOW_NAMES and (idx < n - 1 or capture or
                                           any(r.writes for r in p.redirects)):
                    out = stdout_of(p.argv, stdin, self._args_span(p), self._exact(p, lv))
            outs.append(out)
            prev = out
        for idx, p in enumerate(protos):
            if len(self.out) >= MAX_COMMANDS:
                self.truncated = True
                break
            cmd = new_command(
                argv=p.argv,
                span=p.span,
                redirects=p.redirects,
                assignments=p.assigns,
                via=lv.via,
                arg_spans=p.arg_spans,
                pipe_pos=idx,
                pipe_len=n,
                pipe_prev=protos[idx - 1].argv if idx else None,
                pipe_next=protos[idx + 1].argv if idx < n - 1 else None,
                background=background,
                heredoc=p.heredoc,
                stdin=ins[idx],
                stdout=outs[idx],
                parent=lv.parent,
                interpreter=lv.interp,
                user=lv.user,
            )
            self.out.append(cmd)
            if p.argv and cmd.name in _POST_NAMES:
                self._post(cmd, lv, p.payloads)
        return outs[-1] if outs else None

    @staticmethod
    def _args_span(p: _Proto) -> Span:
        if len(p.arg_spans) > 1:
            return (p.arg_spans[1][0], p.arg_spans[-1][1])
        return p.span

    @staticmethod
    def _exact(p: _Proto, lv: _Level) -> int | None:
        if lv.override is not None or len(p.argv) != 2:
            return None
        s, e = p.arg_spans[1]
        value = p.argv[1]
        idx = lv.text.find(value, s - lv.base, e - lv.base) if value else -1
        return lv.base + idx if idx >= 0 else None

    def _post(self, cmd: SimpleCommand, lv: _Level, payloads: dict[int, Payload] | None) -> None:
        """Emit what ``cmd`` runs: wrapped commands, ``-c`` scripts, shell code fed on stdin."""
        if len(cmd.via) >= MAX_VIA:
            self.degraded = True
            return
        name = cmd.name
        if name in STDIN_SHELL_SINKS:
            how, idx, flag = shell_invocation(cmd.argv) if name in SHELLS else ("stdin", -1, "")
            if how == "stdin" and cmd.stdin is not None:
                pl = cmd.stdin
                self._script(pl.text(), pl.base, None if pl.base is not None else pl.span,
                             pl.label(name), cmd, cmd.argv[0] if name in SHELLS else "sh", lv,
                             cmd.via)
            elif how == "c":
                self._script_arg(cmd, idx, idx + 1, f"{name} {flag}", None, cmd.argv[0], lv,
                                 payloads)
            elif how == "file" and payloads and idx in payloads:
                pl = payloads[idx]
                self._script(pl.text(), pl.base, None if pl.base is not None else pl.span,
                             pl.label(name), cmd, cmd.argv[0], lv, cmd.via)
            return
        for nest in nests(cmd.argv):
            if len(self.out) >= MAX_COMMANDS:
                self.truncated = True
                return
            s, e = nest.start, nest.end
            if nest.kind == "argv":
                argv = cmd.argv[s:e]
                spans = cmd.arg_spans[s:e]
                span = ((spans[0][0], cmd.span[1] if e >= len(cmd.argv) else spans[-1][1])
                        if spans else cmd.span)
                sub = {i - s: pl for i, pl in payloads.items() if s <= i < e} if payloads else None
                variants = [(argv, spans, sub)]
                if name == "find" or name == "xargs":
                    # also as it runs on what it receives (the command as written stays: rules
                    # read its placeholders)
                    items_argv, items_spans = with_items(cmd, name, argv, spans)
                    if items_argv != argv:
                        variants.append((items_argv, items_spans, None))
                for v_argv, v_spans, v_sub in variants:
                    inner = new_command(
                        argv=v_argv,
                        span=span,
                        redirects=cmd.redirects,
                        assignments=nest.assigns,
                        via=cmd.via + (nest.label,),
                        arg_spans=v_spans,
                        pipe_pos=cmd.pipe_pos,
                        pipe_len=cmd.pipe_len,
                        pipe_prev=cmd.pipe_prev,
                        pipe_next=cmd.pipe_next,
                        background=cmd.background,
                        heredoc=cmd.heredoc,
                        stdin=cmd.stdin,
                        parent=cmd,
                        interpreter=cmd.interpreter,
                        user=nest.user or cmd.user,
                    )
                    self.out.append(inner)
                    self._post(inner, lv, v_sub)
            elif name == "eval":
                self._script_arg(cmd, s, e, nest.label, nest.text, lv.interp, lv, payloads,
                                 parent=cmd.parent)
            else:
                self._script_arg(cmd, s, e, nest.label, nest.text, nest.shell or cmd.argv[0], lv,
                                 payloads, user=nest.user)

    def _script_arg(
        self,
        cmd: SimpleCommand,
        s: int,
        e: int,
        label: str,
        text: str | None,
        interp: str,
        lv: _Level,
        payloads: dict[int, Payload] | None,
        parent: SimpleCommand | None | bool = True,
        user: str = "",
    ) -> None:
        if s >= len(cmd.argv):
            return
        script = text if text is not None else (cmd.argv[s] if e == s + 1 else " ".join(cmd.argv[s:e]))
        spans = cmd.arg_spans
        whole: Span = (spans[s][0], spans[e - 1][1]) if len(spans) >= e else cmd.span
        base: int | None = None
        pl = payloads.get(s) if payloads else None
        if pl is not None:
            label = pl.label(label)
            base = pl.base
        elif lv.override is None and len(spans) >= e and script:
            idx = lv.text.find(script, whole[0] - lv.base, whole[1] - lv.base)
            if idx >= 0:
                base = lv.base + idx
        par = cmd if parent is True else (parent if isinstance(parent, SimpleCommand) else None)
        self._script(script, base, None if base is not None else whole, label, par, interp, lv,
                     cmd.via, user=user or cmd.user)

    def _script(
        self,
        script: str,
        base: int | None,
        override: Span | None,
        label: str,
        parent: SimpleCommand | None,
        interp: str,
        lv: _Level,
        via: tuple[str, ...],
        user: str = "",
    ) -> None:
        if not script.strip():
            return
        child = _Level(script, base or 0, override, via + (label,), parent, interp, lv.depth + 1,
                       user or lv.user)
        self.parse(script, child)


def _unquote(word: str) -> str:
    return _UNQUOTE.sub(_unquote_match, word)


def _unquote_match(m: re.Match[str]) -> str:
    g = m.group(1)
    return g if g is not None else m.group(2)


def _split_into(val: str, cur: list[str], outs: list[str]) -> list[str]:
    """Field-split an unquoted expansion ``val`` into ``outs``, continuing the word in ``cur``."""
    fields = val.split()
    if not fields:
        if val and cur:
            outs.append("".join(cur))
            return []
        return cur
    if val[0].isspace() and cur:
        outs.append("".join(cur))
        cur = []
    cur.append(fields[0])
    for f in fields[1:]:
        outs.append("".join(cur))
        cur = [f]
    if val[-1].isspace():
        outs.append("".join(cur))
        cur = []
    return cur


def parse_script(
    text: str,
    *,
    base: int = 0,
    env: Mapping[str, str] | None = None,
    via: tuple[str, ...] = (),
    parent: SimpleCommand | None = None,
    interpreter: str = "",
    span: Span | None = None,
    depth: int = 0,
) -> ShellScript:
    """Parse ``text`` and report the commands plus truncation / broken-syntax flags.

    Args:
        text: The script.
        base: Offset of ``text`` in the original text (spans are shifted by it).
        env: Known variables (literal values) for ``$VAR`` expansion.
        via: Nesting already traversed (prefixed to every command's ``via``).
        parent: The command that runs this script, if any.
        interpreter: argv[0] of the shell interpreting ``text`` ("" for the analysed shell).
        span: When set, every span is this one (the text is not verbatim in the original).
        depth: Nesting depth already used (see :data:`MAX_DEPTH`).
    """
    parser = _Parser(env)
    lv = _Level(text, base, span, via, parent, interpreter, depth, "")
    try:
        parser.parse(text, lv)
    except RecursionError:  # pragma: no cover - depth caps make this unreachable
        parser.degraded = True
    return ShellScript(tuple(parser.out), parser.truncated, parser.degraded,
                       tuple(parser.env.items()))


CACHE_SIZE = 4096
"""Scripts kept by :func:`parse_cached` (agents repeat ``ls``, ``git status``, ``pytest``...)."""
_CACHE: dict[str, ShellScript] = {}


def parse_cached(text: str) -> ShellScript:
    """:func:`parse_script` with no options, memoised for short scripts whose parse cannot
    depend on variables (no ``$``). Results are immutable, so sharing them is safe."""
    hit = _CACHE.get(text)
    if hit is not None:
        return hit
    script = parse_script(text)
    if len(text) <= 4096 and "$" not in text:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
        _CACHE[text] = script
    return script


def parse_shell(text: str, *, base: int = 0, env: Mapping[str, str] | None = None) -> list[SimpleCommand]:
    """The simple commands of a shell script, nested and decoded ones included, in order.

    Never raises; see :func:`parse_script` for the truncation and broken-syntax flags.
    """
    return list(parse_script(text, base=base, env=env).commands)


def script_env(text: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables known after running ``text`` (literal assignments and exports only)."""
    parser = _Parser(env)
    parser.parse(text, _Level(text, 0, None, (), None, "", 0, ""))
    return parser.env


def commands_from_argv(
    argv: tuple[str, ...],
    *,
    span: Span,
    via: tuple[str, ...] = (),
    parent: SimpleCommand | None = None,
    interpreter: str = "",
    depth: int = 0,
    env: Mapping[str, str] | None = None,
) -> list[SimpleCommand]:
    """A command given as an argument vector (``subprocess.run([...])``, a tool's argv) and
    everything it nests, all pointing at ``span``."""
    if not argv:
        return []
    parser = _Parser(env)
    lv = _Level("", 0, span, via, parent, interpreter, depth, "")
    cmd = new_command(argv=tuple(argv), span=span, via=via, arg_spans=(span,) * len(argv),
                        parent=parent, interpreter=interpreter)
    parser.out.append(cmd)
    try:
        parser._post(cmd, lv, None)
    except RecursionError:  # pragma: no cover
        pass
    return parser.out


__all__ += ["CACHE_SIZE", "basename", "parse_cached", "script_env"]
