"""A hand-written POSIX sh/bash tokenizer: words (with quoting, expansions, substitutions),
control operators, redirections and here-doc bodies, in one linear pass.

Plain runs of characters are taken with one regex match each, so the cost is per token, not
per character. Nothing here recurses: command substitutions are found with an explicit stack
and kept as text for the parser to parse (depth-limited) later. Broken input (unterminated
quotes, substitutions, here-docs) never raises: the lexer takes the rest of the text literally
and sets ``degraded``.
"""

from __future__ import annotations

import re

from watchkeeper.audit.decode import unescape

_PLAIN = re.compile(r"[^ \t\n\r\f\v|&;()<>'\"\\$`]+")
_PLAIN_WORD = re.compile(r"[^ \t\n\r\f\v|&;()<>'\"\\$`]+(?=[ \t\n\r\f\v|&;()<>]|\Z)")
_FAST_TOKEN = re.compile(
    r"[ \t\r\f\v]*(?:((?!#)[^ \t\n\r\f\v|&;()<>'\"\\$`]+)(?=[ \t\n\r\f\v|&;()<>]|\Z)"
    r"|(&&|\|\||\|(?!&)|;(?![;&])|\n|&(?![>&])))?"
)
_DQ_PLAIN = re.compile(r"[^\"\\$`]+")
_BLANKS = re.compile(r"[ \t\r\f\v]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ANSI_BODY = re.compile(r"(?:[^'\\]|\\.)*", re.S)
_BT_BODY = re.compile(r"(?:[^`\\]|\\.)*", re.S)
_P_SCAN = re.compile(r"[()'\"\\`]")
_D_SCAN = re.compile(r"[\"\\`$]")
_B_SCAN = re.compile(r"[{}'\"\\]")
_PAREN = re.compile(r"[()]")
_DBL_BRACKET_END = re.compile(r"\]\](?=[ \t\n\r\f\v;&|)]|$)")
_SPECIAL_VARS = frozenset("@*#?$!-0123456789")

MAX_TOKENS = 100_000
"""Tokens lexed from one script; the rest of the script is dropped (and flagged)."""

_REDIR_OPS_LT = ("<<<", "<<-", "<<", "<>", "<&", "<")
_REDIR_OPS_GT = (">>", ">&", ">|", ">")


class Var:
    """A parameter expansion inside a word: ``$NAME``, ``${NAME}``, ``${NAME:-x}``, ``$1``."""

    __slots__ = ("name", "raw", "quoted", "simple")

    def __init__(self, name: str, raw: str, quoted: bool, simple: bool) -> None:
        self.name = name
        self.raw = raw
        self.quoted = quoted
        self.simple = simple


class Sub:
    """A command or process substitution inside a word: ``$(...)``, backticks, ``<(...)``.

    ``inner_start`` is the offset of ``inner`` in the lexed text; ``exact`` says whether ``inner``
    is verbatim text there (backticks unescape ``\\```, so they may not be).
    """

    __slots__ = ("kind", "inner", "inner_start", "raw", "quoted", "exact")

    def __init__(
        self, kind: str, inner: str, inner_start: int, raw: str, quoted: bool, exact: bool
    ) -> None:
        self.kind = kind
        self.inner = inner
        self.inner_start = inner_start
        self.raw = raw
        self.quoted = quoted
        self.exact = exact


Piece = str | Var | Sub


class Word:
    """A shell word. ``value`` is the literal value (expansions kept as their raw text);
    ``parts`` is None for a pure literal, else the pieces to expand."""

    __slots__ = ("start", "end", "value", "parts", "quoted")

    def __init__(
        self, start: int, end: int, value: str, parts: list[Piece] | None, quoted: bool
    ) -> None:
        self.start = start
        self.end = end
        self.value = value
        self.parts = parts
        self.quoted = quoted


class Op:
    """A control operator (``kind="op"``: ``;``, ``&&``, newline...), a redirection
    (``kind="redir"``) or a region to skip (``kind="skip"``: ``(( ))``, ``[[ ]]``)."""

    __slots__ = ("kind", "op", "start", "end", "fd", "target", "body", "body_start")

    def __init__(self, kind: str, op: str, start: int, end: int) -> None:
        self.kind = kind
        self.op = op
        self.start = start
        self.end = end
        self.fd: int | None = None
        self.target: Word | None = None
        self.body: str | None = None
        self.body_start = -1


Token = Word | Op


class Lexer:
    """Tokenize one script. Use :meth:`run`; read ``degraded`` afterwards."""

    __slots__ = ("text", "n", "degraded", "truncated", "arith_fail", "dbl_fail", "pending")

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.degraded = False
        self.truncated = False
        self.arith_fail = False
        self.dbl_fail = False
        self.pending: list[Op] = []

    def run(self) -> list[Token]:
        """All tokens of the text, in order."""
        text = self.text
        n = self.n
        toks: list[Token] = []
        i = 0
        fast = _FAST_TOKEN.match
        while i < n:
            if len(toks) >= MAX_TOKENS:
                self.truncated = True
                break
            m = fast(text, i)
            if m is not None:
                w = m.group(1)
                if w is not None:
                    start = m.start(1)
                    i = m.end()
                    if i < n and text[i] in "<>" and w.isascii() and w.isdigit() and not text.startswith("(", i + 1):
                        i = self._redirect(start, i, int(w[:6]), toks)
                    elif w == "[[" and not self.dbl_fail:
                        i = self._dbl_bracket(start, i, toks, w)
                    else:
                        toks.append(Word(start, i, w, None, False))
                    continue
                op = m.group(2)
                i = m.end()
                if op is not None:
                    toks.append(Op("op", op, i - len(op), i))
                    if op == "\n" and self.pending:
                        i = self._heredocs(i)
                    continue
                if i >= n:
                    break
            c = text[i]
            if c in " \t\r\f\v":
                i = _BLANKS.match(text, i).end()  # type: ignore[union-attr]
                continue
            if c == "\n":
                toks.append(Op("op", "\n", i, i + 1))
                i += 1
                if self.pending:
                    i = self._heredocs(i)
                continue
            if c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
                continue
            if c == "\\" and text.startswith("\\\n", i):
                i += 2
                continue
            if c in "|&;()":
                i = self._operator(i, toks)
                continue
            if c in "<>":
                if text.startswith("(", i + 1):
                    w, i = self.word(i)
                    toks.append(w)
                    continue
                i = self._redirect(i, i, None, toks)
                continue
            m = _PLAIN_WORD.match(text, i)
            if m is not None:
                j = m.end()
                w = Word(i, j, m.group(), None, False)
                i = j
            else:
                w, i = self.word(i)
                if w.end == w.start:  # a character no rule takes: keep it as a word
                    i += 1
                    w = Word(w.start, i, text[w.start : i], None, False)
            if i < n and text[i] in "<>" and w.parts is None and not w.quoted and w.value.isascii() and w.value.isdigit():
                if not text.startswith("(", i + 1):
                    i = self._redirect(w.start, i, int(w.value[:6]), toks)
                    continue
            if w.value == "[[" and not w.quoted and not self.dbl_fail:
                i = self._dbl_bracket(w.start, i, toks, w)
                continue
            toks.append(w)
        if self.pending:
            for op in self.pending:  # here-doc never started: empty body
                op.body = ""
                op.body_start = n
            self.pending = []
            self.degraded = True
        return toks

    def _dbl_bracket(self, start: int, i: int, toks: list[Token], w: Word | str) -> int:
        """``[[ ... ]]`` is one opaque token (its ``<``/``>`` are not redirections)."""
        m = _DBL_BRACKET_END.search(self.text, i)
        if m is None:
            self.dbl_fail = True
            toks.append(w if isinstance(w, Word) else Word(start, i, w, None, False))
            return i
        toks.append(Op("skip", "[[", start, m.end()))
        return m.end()

    # -- operators and redirections -------------------------------------------------------------

    def _operator(self, i: int, toks: list[Token]) -> int:
        text = self.text
        c = text[i]
        nxt = text[i + 1 : i + 2]
        if c == "|":
            op = "||" if nxt == "|" else "|&" if nxt == "&" else "|"
        elif c == "&":
            if nxt == ">":
                return self._redirect(i, i, None, toks)
            op = "&&" if nxt == "&" else "&"
        elif c == ";":
            if nxt == ";":
                op = ";;&" if text.startswith("&", i + 2) else ";;"
            else:
                op = ";&" if nxt == "&" else ";"
        elif c == "(":
            if nxt == "(" and not self.arith_fail:
                end = self._arith_end(i)
                if end > 0:
                    toks.append(Op("skip", "((", i, end))
                    return end
                self.arith_fail = True
            op = "("
        else:
            op = ")"
        toks.append(Op("op", op, i, i + len(op)))
        return i + len(op)

    def _arith_end(self, i: int) -> int:
        """End of ``((...))`` starting at i, or -1."""
        text = self.text
        depth = 0
        j = i
        while True:
            m = _PAREN.search(text, j)
            if m is None:
                return -1
            k = m.start()
            j = k + 1
            if text[k] == "(":
                depth += 1
                continue
            depth -= 1
            if depth == 0:
                return j if text[k - 1] == ")" else -1

    def _redirect(self, start: int, i: int, fd: int | None, toks: list[Token]) -> int:
        text = self.text
        if text.startswith("&>", i):
            op = "&>>" if text.startswith("&>>", i) else "&>"
        elif text[i] == "<":
            op = next(o for o in _REDIR_OPS_LT if text.startswith(o, i))
        else:
            op = next(o for o in _REDIR_OPS_GT if text.startswith(o, i))
        tok = Op("redir", op, start, i + len(op))
        tok.fd = fd
        i += len(op)
        m = _BLANKS.match(text, i)
        if m:
            i = m.end()
        if i < self.n and text[i] not in "\n|&;()<>":
            w, i = self.word(i)
            tok.target = w
            tok.end = w.end
        if op in ("<<", "<<-"):
            self.pending.append(tok)
        toks.append(tok)
        return i

    def _heredocs(self, i: int) -> int:
        text = self.text
        for op in self.pending:
            target = op.target
            delim = target.value if target is not None else ""
            pat = re.compile(
                r"^" + (r"\t*" if op.op == "<<-" else "") + re.escape(delim) + r"[ \t]*$", re.M
            )
            m = pat.search(text, i)
            op.body_start = i
            if m is None or not delim:
                op.body = text[i:]
                self.degraded = True
                i = self.n
            else:
                op.body = text[i : m.start()]
                i = m.end() + 1 if m.end() < self.n else self.n
            if op.op == "<<-" and op.body:
                op.body = "\n".join(line.lstrip("\t") for line in op.body.split("\n"))
        self.pending = []
        return i

    # -- words --------------------------------------------------------------------------------------

    def word(self, i: int) -> tuple[Word, int]:
        """Read the word starting at i; returns it and the offset after it."""
        text = self.text
        n = self.n
        start = i
        lit: list[str] = []
        pieces: list[Piece] | None = None
        quoted = False
        if text[i] in "<>" and text.startswith("(", i + 1):
            j = self.find_close(i + 2)
            if j < 0:
                self.degraded = True
                return Word(start, n, text[start:], None, False), n
            pieces = [Sub(text[i] + "(", text[i + 2 : j], i + 2, text[i : j + 1], False, True)]
            i = j + 1
        while i < n:
            m = _PLAIN.match(text, i)
            if m is not None:
                lit.append(m.group())
                i = m.end()
                continue
            c = text[i]
            if c == "'":
                quoted = True
                j = text.find("'", i + 1)
                if j < 0:
                    lit.append(text[i + 1 :])
                    self.degraded = True
                    i = n
                    break
                lit.append(text[i + 1 : j])
                i = j + 1
            elif c == '"':
                quoted = True
                if pieces is None:
                    pieces = []
                i = self._dquote(i + 1, lit, pieces)
            elif c == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt == "\n":
                    i += 2
                elif nxt:
                    quoted = True
                    lit.append(nxt)
                    i += 2
                else:
                    lit.append("\\")
                    i += 1
            elif c == "$":
                if pieces is None:
                    pieces = []
                i, q = self._dollar(i, lit, pieces, False)
                quoted = quoted or q
            elif c == "`":
                if pieces is None:
                    pieces = []
                i = self._backtick(i, lit, pieces, False)
            else:
                break
        if pieces:
            if lit:
                pieces.append("".join(lit))
            value = "".join(p if isinstance(p, str) else p.raw for p in pieces)
            if all(isinstance(p, str) for p in pieces):
                return Word(start, i, value, None, quoted), i
            return Word(start, i, value, pieces, quoted), i
        return Word(start, i, "".join(lit), None, quoted), i

    def _flush(self, lit: list[str], pieces: list[Piece]) -> None:
        if lit:
            pieces.append("".join(lit))
            lit.clear()

    def _dquote(self, i: int, lit: list[str], pieces: list[Piece]) -> int:
        text = self.text
        n = self.n
        while i < n:
            m = _DQ_PLAIN.match(text, i)
            if m is not None:
                lit.append(m.group())
                i = m.end()
                continue
            c = text[i]
            if c == '"':
                return i + 1
            if c == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt in ("$", "`", '"', "\\"):
                    lit.append(nxt)
                    i += 2
                elif nxt == "\n":
                    i += 2
                else:
                    lit.append("\\")
                    i += 1
            elif c == "$":
                i, _ = self._dollar(i, lit, pieces, True)
            else:
                i = self._backtick(i, lit, pieces, True)
        self.degraded = True
        return n

    def _dollar(self, i: int, lit: list[str], pieces: list[Piece], in_dq: bool) -> tuple[int, bool]:
        text = self.text
        n = self.n
        nxt = text[i + 1 : i + 2]
        if nxt == "(":
            if text.startswith("((", i + 1) and not self.arith_fail:
                end = self._arith_end(i + 1)
                if end > 0:
                    lit.append(text[i:end])
                    return end, False
            j = self.find_close(i + 2)
            if j < 0:
                self.degraded = True
                lit.append(text[i:])
                return n, False
            self._flush(lit, pieces)
            pieces.append(Sub("$(", text[i + 2 : j], i + 2, text[i : j + 1], in_dq, True))
            return j + 1, False
        if nxt == "{":
            j = self._find_brace(i + 2)
            if j < 0:
                self.degraded = True
                lit.append(text[i:])
                return n, False
            inner = text[i + 2 : j]
            m = _NAME.match(inner)
            if m is not None:
                name = m.group()
                simple = m.end() == len(inner)
            else:
                name = inner[:1]
                simple = len(inner) == 1 and name in _SPECIAL_VARS
            self._flush(lit, pieces)
            pieces.append(Var(name, text[i : j + 1], in_dq, simple))
            return j + 1, False
        if nxt == "'" and not in_dq:
            m = _ANSI_BODY.match(text, i + 2)
            end = m.end() if m is not None else i + 2
            lit.append(unescape(text[i + 2 : end]).decode("utf-8", "replace"))
            if end >= n:
                self.degraded = True
                return n, True
            return end + 1, True
        if nxt == '"' and not in_dq:
            return self._dquote(i + 2, lit, pieces), True
        m = _NAME.match(text, i + 1)
        if m is not None:
            self._flush(lit, pieces)
            pieces.append(Var(m.group(), text[i : m.end()], in_dq, True))
            return m.end(), False
        if nxt and nxt in _SPECIAL_VARS:
            self._flush(lit, pieces)
            pieces.append(Var(nxt, text[i : i + 2], in_dq, True))
            return i + 2, False
        lit.append("$")
        return i + 1, False

    def _backtick(self, i: int, lit: list[str], pieces: list[Piece], in_dq: bool) -> int:
        text = self.text
        m = _BT_BODY.match(text, i + 1)
        end = m.end() if m is not None else i + 1
        if end >= self.n:
            self.degraded = True
            lit.append(text[i:])
            return self.n
        raw_inner = text[i + 1 : end]
        inner = raw_inner
        if "\\" in inner:
            inner = inner.replace("\\`", "`").replace("\\$", "$").replace("\\\\", "\\")
        self._flush(lit, pieces)
        pieces.append(Sub("`", inner, i + 1, text[i : end + 1], in_dq, inner == raw_inner))
        return end + 1

    def find_close(self, i: int) -> int:
        """Index of the ``)`` closing a substitution whose body starts at i, or -1."""
        text = self.text
        n = self.n
        frames = [1]  # >= 0: paren depth of a command context; -1: inside double quotes
        while i < n:
            if frames[-1] >= 0:
                m = _P_SCAN.search(text, i)
                if m is None:
                    return -1
                i = m.start()
                c = text[i]
                if c == "(":
                    frames[-1] += 1
                elif c == ")":
                    frames[-1] -= 1
                    if frames[-1] == 0:
                        frames.pop()
                        if not frames:
                            return i
                elif c == "'":
                    j = text.find("'", i + 1)
                    if j < 0:
                        return -1
                    i = j
                elif c == '"':
                    frames.append(-1)
                elif c == "\\":
                    i += 1
                else:
                    bt = _BT_BODY.match(text, i + 1)
                    i = bt.end() if bt is not None else n
                i += 1
            else:
                m = _D_SCAN.search(text, i)
                if m is None:
                    return -1
                i = m.start()
                c = text[i]
                if c == '"':
                    frames.pop()
                    i += 1
                elif c == "\\":
                    i += 2
                elif c == "`":
                    bt = _BT_BODY.match(text, i + 1)
                    i = (bt.end() if bt is not None else n) + 1
                elif text.startswith("$(", i):
                    frames.append(1)
                    i += 2
                else:
                    i += 1
        return -1

    def _find_brace(self, i: int) -> int:
        text = self.text
        depth = 1
        while True:
            m = _B_SCAN.search(text, i)
            if m is None:
                return -1
            i = m.start()
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
            elif c == "\\":
                i += 1
            elif c == "'":
                j = text.find("'", i + 1)
                if j < 0:
                    return -1
                i = j
            else:
                j = text.find('"', i + 1)
                if j < 0:
                    return -1
                i = j
            i += 1


def lex(text: str) -> tuple[list[Token], bool, bool]:
    """Tokenize ``text``; returns the tokens, whether the syntax was broken somewhere and whether
    the token cap (:data:`MAX_TOKENS`) cut it short."""
    lexer = Lexer(text)
    toks = lexer.run()
    return toks, lexer.degraded, lexer.truncated
