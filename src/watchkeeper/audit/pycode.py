"""Code understanding: what a piece of Python (by AST) or Perl/Ruby/Node/PHP/Lua/awk (by tokens)
would do — run commands, connect, fetch URLs, read or write files, dump the environment.

:func:`analyze_python` walks the ``ast`` of the code, resolving simple constants (``host =
"10.0.0.5"``, f-strings and concatenations of constants, ``base64.b64decode("...")``) so that
``s.connect((host, 4444))`` yields a :class:`Fact` with the host and port. Code that does not
parse falls back to :func:`analyze_tokens`, a regex scan used for the other languages too. Neither
raises, and both bound their work (:data:`MAX_CODE` characters, :data:`MAX_FACTS` facts,
:data:`MAX_DEPTH` levels of ``exec(decoded)``).
"""

from __future__ import annotations

import ast
import dataclasses
import posixpath
import re
import warnings
import zlib
from collections.abc import Iterator

from watchkeeper.audit import decode
from watchkeeper.audit._pycode_tokens import (
    MAX_CODE,
    MAX_DEPTH,
    MAX_FACTS,
    SECRET_NAME,
    Budget,
    Fact,
    Span,
    analyze_tokens,
    replace_via,
)

__all__ = ["MAX_CODE", "MAX_DEPTH", "MAX_FACTS", "SECRET_NAME", "Fact", "analyze_python",
           "analyze_tokens"]


_MAX_NODES = 200_000
_CONST_DEPTH = 24


_SUBPROCESS = frozenset({
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
    "subprocess.Popen", "asyncio.create_subprocess_exec", "trio.run_process", "anyio.run_process",
})
_SHELL_CALLS = frozenset({
    "os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "commands.getoutput", "commands.getstatusoutput", "asyncio.create_subprocess_shell",
    "platform.popen", "popen2.popen2", "popen2.popen3", "os.popen2", "os.popen3", "os.popen4",
})
_HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request",
                           "stream", "urlopen", "urlretrieve", "download", "fetch"})
_NET_CTORS = {
    "telnetlib.Telnet": ("telnet", 23), "smtplib.SMTP": ("smtp", 25), "smtplib.SMTP_SSL": ("smtp", 465),
    "ftplib.FTP": ("ftp", 21), "ftplib.FTP_TLS": ("ftp", 21), "poplib.POP3": ("pop3", 110),
    "imaplib.IMAP4": ("imap", 143), "imaplib.IMAP4_SSL": ("imap", 993),
    "http.client.HTTPConnection": ("http", 80), "http.client.HTTPSConnection": ("https", 443),
    "httplib.HTTPConnection": ("http", 80), "httplib.HTTPSConnection": ("https", 443),
    "asyncio.open_connection": ("", None), "socket.create_connection": ("", None),
    "paramiko.SSHClient.connect": ("ssh", 22), "websocket.create_connection": ("ws", None),
    "websockets.connect": ("ws", None), "redis.Redis": ("redis", 6379),
    "pymongo.MongoClient": ("mongodb", 27017), "psycopg2.connect": ("postgres", 5432),
    "pymysql.connect": ("mysql", 3306),
}
_FILE_WRITE_MODES = ("w", "a", "x", "+")
_LOOP_VALUES = 32
"""String values followed for one loop variable (``for p in [...]``)."""
_SECRET_PATH = re.compile(
    r"(?:^|/)\.(?:ssh/(?:id_[\w*?-]*|[\w.*-]+\.pem|identity)|aws/credentials|netrc|git-credentials"
    r"|docker/config\.json|kube/config|pgpass|vault-token|config/gcloud/\S+|azure/\S+"
    r"|(?:bash|zsh)_history)$"
    r"|^/etc/(?:shadow|gshadow)-?$|^/etc/ssh/ssh_host_[\w*?]+_key$|/serviceaccount/token$"
    r"|^/proc/(?:self|\d+|\*|\[[^]]*\]\*?)/environ$"
)
"""String literals that name a secret file (checked only in code that reads unresolved paths)."""


class _Spans:
    """Maps (lineno, col_offset in UTF-8 bytes) to character offsets in the original text."""

    __slots__ = ("code", "base", "override", "_starts", "_lines")

    def __init__(self, code: str, base: int, override: Span | None) -> None:
        self.code = code
        self.base = base
        self.override = override
        self._starts: list[int] | None = None
        self._lines: list[str] = []

    def _index(self) -> list[int]:
        if self._starts is None:
            starts = [0]
            lines: list[str] = []
            pos = 0
            for m in re.finditer(r"\r\n|\r|\n", self.code):
                lines.append(self.code[pos : m.start()])
                pos = m.end()
                starts.append(pos)
            lines.append(self.code[pos:])
            self._starts = starts
            self._lines = lines
        return self._starts

    def offset(self, line: int, col: int) -> int:
        starts = self._index()
        if line < 1 or line > len(starts):
            return 0
        text = self._lines[line - 1]
        if not text.isascii():
            col = len(text.encode("utf-8")[:col].decode("utf-8", "ignore"))
        return starts[line - 1] + col

    def of(self, node: ast.AST) -> Span:
        if self.override is not None:
            return self.override
        lineno = getattr(node, "lineno", 1)
        start = self.offset(lineno, getattr(node, "col_offset", 0))
        end_line = getattr(node, "end_lineno", None) or lineno
        end_col = getattr(node, "end_col_offset", None)
        end = self.offset(end_line, end_col) if end_col is not None else start
        return (self.base + start, self.base + max(start, end))

    def inner(self, node: ast.AST, value: str) -> int | None:
        """Offset in the original text where a string constant's value lies verbatim."""
        if self.override is not None or not value:
            return None
        s, e = self.of(node)
        idx = self.code.find(value, s - self.base, e - self.base)
        return self.base + idx if idx >= 0 else None


Const = str | bytes | int | float | bool | list["Const | None"] | None


class _Analyzer(ast.NodeVisitor):
    def __init__(self, code: str, spans: _Spans, via: tuple[str, ...], depth: int,
                 budget: Budget) -> None:
        self.code = code
        self.spans = spans
        self.via = via
        self.depth = depth
        self.budget = budget
        self.facts: list[Fact] = []
        self.aliases: dict[str, str] = {}
        self.consts: dict[str, Const] = {}
        self.handles: dict[str, tuple[str, ast.AST]] = {}  # name -> (path, open call)
        self.paths: dict[str, str] = {}  # name bound to a Path(...)
        self.dup2_socket = False
        self.has_hash_loop = False
        self.imports: set[str] = set()
        self.exprs: dict[str, ast.AST] = {}  # name assigned once to a non-constant expression
        self.loops: dict[str, list[str]] = {}  # loop variable -> the strings it takes
        self.unresolved_read = False  # a file is opened through a path that did not resolve

    # -- driver -------------------------------------------------------------------------------

    def run(self, tree: ast.AST) -> list[Fact]:
        by_type = _walk(tree, _MAX_NODES - self.budget.nodes)
        self.budget.nodes += sum(len(v) for v in by_type.values())
        for node in by_type.get(ast.Import, []) + by_type.get(ast.ImportFrom, []):
            assert isinstance(node, (ast.Import, ast.ImportFrom))
            self._import(node)
        assigns = by_type.get(ast.Assign, [])
        assigned: dict[str, int] = {}
        for node in assigns:
            assert isinstance(node, ast.Assign)
            for t in node.targets:
                for name in _target_names(t):
                    assigned[name] = assigned.get(name, 0) + 1
        for node in by_type.get(ast.AnnAssign, []) + by_type.get(ast.AugAssign, []):
            assert isinstance(node, (ast.AnnAssign, ast.AugAssign))
            for name in _target_names(node.target):
                assigned[name] = assigned.get(name, 0) + 2
        for node in by_type.get(ast.For, []) + by_type.get(ast.AsyncFor, []):
            assert isinstance(node, (ast.For, ast.AsyncFor))
            for name in _target_names(node.target):
                assigned[name] = assigned.get(name, 0) + 2
        for node in assigns:
            assert isinstance(node, ast.Assign)
            if len(node.targets) != 1:
                continue
            t = node.targets[0]
            if isinstance(t, ast.Name) and assigned.get(t.id) == 1:
                value = self.const(node.value)
                if value is not None:
                    self.consts[t.id] = value
                else:
                    self.exprs[t.id] = node.value
                    self._bind(t.id, node.value)
            elif isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple):
                for tt, vv in zip(t.elts, node.value.elts, strict=False):
                    if isinstance(tt, ast.Name) and assigned.get(tt.id) == 1:
                        value = self.const(vv)
                        if value is not None:
                            self.consts[tt.id] = value
        for node in by_type.get(ast.With, []) + by_type.get(ast.AsyncWith, []):
            assert isinstance(node, (ast.With, ast.AsyncWith))
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name):
                    self._bind(item.optional_vars.id, item.context_expr)
        for node in by_type.get(ast.For, []) + by_type.get(ast.AsyncFor, []) + by_type.get(
                ast.comprehension, []):
            assert isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension))
            if isinstance(node.target, ast.Name):
                values = self._strings(node.iter, 0)
                if values:
                    known = self.loops.setdefault(node.target.id, [])
                    known.extend(v for v in values if v not in known)
                    del known[_LOOP_VALUES:]
        aliases = self.aliases
        for node in by_type.get(ast.Call, []):
            if self.budget.facts >= MAX_FACTS:
                break
            assert isinstance(node, ast.Call)
            func = node.func
            if isinstance(func, ast.Attribute):
                short = func.attr
            elif isinstance(func, ast.Name):
                short = aliases.get(func.id, func.id).rpartition(".")[2]
            else:
                continue
            if short in _INTERESTING or short.startswith(("exec", "spawn", "posix_spawn")):
                self._call(node)
        code = self.code
        if "environ" in code:
            for node in by_type.get(ast.Attribute, []):
                assert isinstance(node, ast.Attribute)
                self._attribute(node)
        if "hashlib" in code:
            for node in by_type.get(ast.While, []) + by_type.get(ast.For, []):
                assert isinstance(node, (ast.While, ast.For))
                if not self.has_hash_loop:
                    self._loop(node)
        if "stratum+" in code or "/dev/tcp/" in code or "/dev/udp/" in code:
            for node in by_type.get(ast.Constant, []):
                assert isinstance(node, ast.Constant)
                if isinstance(node.value, str) and len(node.value) > 8:
                    self._string(node, node.value)
        if self.unresolved_read:
            self._secret_literals(by_type.get(ast.Constant, []))
        if self.dup2_socket:
            self.facts = [
                _with_detail(f, ("shape", "reverse-shell")) if f.kind == "connect" else f
                for f in self.facts
            ]
        if self.has_hash_loop and self.imports & {"multiprocessing", "threading", "concurrent"}:
            self._add(Fact("mining", self.spans.of(tree) if self.spans.override is None
                           else self.spans.override, api="hashlib", detail=(("shape", "hash-loop"),)))
        self.facts.sort(key=lambda f: f.span)
        return self.facts

    def _add(self, fact: Fact) -> None:
        if self.budget.facts >= MAX_FACTS:
            return
        self.budget.facts += 1
        if self.via:
            fact = replace_via(fact, self.via + fact.via)
        self.facts.append(fact)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                self.imports.add(a.name.split(".")[0])
                if a.asname:
                    self.aliases[a.asname] = a.name
        else:
            mod = node.module or ""
            self.imports.add(mod.split(".")[0])
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name

    def _bind(self, name: str, value: ast.AST) -> None:
        if isinstance(value, ast.Call):
            fn = self.qualname(value.func)
            if fn in ("open", "io.open", "codecs.open", "os.fdopen") and value.args:
                path = self.const(value.args[0])
                if isinstance(path, str):
                    self.handles[name] = (path, value)
            elif fn in ("pathlib.Path", "Path", "pathlib.PurePath", "pathlib.PosixPath"):
                p = self._path_of(value)
                if p is not None:
                    self.paths[name] = p
            elif fn.endswith(".open") and isinstance(value.func, ast.Attribute):
                p = self._path_of(value.func.value)
                if p is not None:
                    self.handles[name] = (p, value)

    # -- name and constant resolution ---------------------------------------------------------

    def qualname(self, node: ast.AST) -> str:
        parts: list[str] = []
        for _ in range(16):
            if isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Name):
                parts.append(self.aliases.get(node.id, node.id))
                break
            elif isinstance(node, ast.Call):
                inner = self.qualname(node.func) if len(parts) < 8 else "?"
                parts.append(inner)
                break
            else:
                parts.append("?")
                break
        return ".".join(reversed(parts))

    def const(self, node: ast.AST | None, depth: int = 0) -> Const:
        """The value of an expression made of constants, or None."""
        if node is None or depth > _CONST_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            v = node.value
            return v if isinstance(v, (str, bytes, int, float, bool)) else None
        if isinstance(node, ast.Name):
            return self.consts.get(node.id)
        if isinstance(node, ast.JoinedStr):
            out: list[str] = []
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    out.append(part.value)
                elif isinstance(part, ast.FormattedValue):
                    fv = self.const(part.value, depth + 1)
                    if fv is None or isinstance(fv, list):
                        return None
                    out.append(fv.decode("utf-8", "replace") if isinstance(fv, bytes) else str(fv))
                else:
                    return None
            return "".join(out)
        if isinstance(node, ast.BinOp):
            left = self.const(node.left, depth + 1)
            right = self.const(node.right, depth + 1)
            if isinstance(node.op, ast.Add):
                if isinstance(left, str) and isinstance(right, str):
                    return (left + right)[: decode.MAX_DECODED]
                if isinstance(left, bytes) and isinstance(right, bytes):
                    return (left + right)[: decode.MAX_DECODED]
                if isinstance(left, int) and isinstance(right, int):
                    return left + right
                if isinstance(left, list) and isinstance(right, list):
                    return left + right
            if isinstance(node.op, ast.Mod) and isinstance(left, str):
                args = tuple(right) if isinstance(right, list) else (right,)
                try:
                    return left % args
                except (TypeError, ValueError, OverflowError):
                    return None
            if isinstance(node.op, ast.Div):
                if isinstance(left, str) and isinstance(right, str):
                    return posixpath.join(left, right)
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            if len(node.elts) > 256:
                return None
            return [self.const(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.Call):
            return self._const_call(node, depth)
        if isinstance(node, ast.Subscript):
            base = self.qualname(node.value)
            if base == "os.environ":
                key = self.const(node.slice, depth + 1)
                if isinstance(key, str):
                    return f"${key}"
            return None
        if isinstance(node, ast.Attribute) and self.qualname(node) == "os.sep":
            return "/"
        return None

    def _const_call(self, node: ast.Call, depth: int) -> Const:
        fn = self.qualname(node.func)
        args = node.args
        arg0 = self.const(args[0], depth + 1) if args else None
        short = fn.rpartition(".")[2]
        if short in ("b64decode", "decodebytes", "decodestring", "standard_b64decode",
                     "urlsafe_b64decode", "a2b_base64"):
            if isinstance(arg0, bytes):
                arg0 = arg0.decode("latin-1")
            return decode.b64decode(arg0) if isinstance(arg0, str) else None
        if short in ("b32decode",):
            return decode.b32decode(arg0) if isinstance(arg0, str) else None
        if short in ("b16decode", "unhexlify", "a2b_hex", "fromhex"):
            if isinstance(arg0, bytes):
                arg0 = arg0.decode("latin-1")
            return decode.hexdecode(arg0) if isinstance(arg0, str) else None
        if short == "decompress" and isinstance(arg0, bytes):
            kind = "bzip2" if "bz2" in fn else "xz" if "lzma" in fn else "gzip"
            return decode.decompress(arg0, kind) if kind != "gzip" else _zlib(arg0)
        if fn in ("codecs.decode", "codecs.encode") and isinstance(arg0, (str, bytes)) and len(args) > 1:
            enc = self.const(args[1], depth + 1)
            if isinstance(enc, str) and enc.lower().replace("_", "") in ("rot13", "rot-13"):
                text = arg0.decode("latin-1") if isinstance(arg0, bytes) else arg0
                return text.translate(_ROT13)
            if isinstance(enc, str) and enc.lower() in ("base64", "base_64", "hex"):
                if isinstance(arg0, bytes):
                    arg0 = arg0.decode("latin-1")
                return decode.b64decode(arg0) if enc.lower() != "hex" else decode.hexdecode(arg0)
            return None
        if isinstance(node.func, ast.Attribute):
            target = self.const(node.func.value, depth + 1)
            meth = node.func.attr
            if meth == "decode" and isinstance(target, bytes):
                return target.decode("utf-8", "replace")
            if meth == "encode" and isinstance(target, str):
                return target.encode("utf-8", "replace")
            if meth == "join" and isinstance(target, (str, bytes)) and isinstance(arg0, list):
                if all(isinstance(x, type(target)) for x in arg0):
                    return target.join(arg0)  # type: ignore[arg-type]
                return None
            if meth == "format" and isinstance(target, str):
                vals = [self.const(a, depth + 1) for a in args]
                kws = {k.arg: self.const(k.value, depth + 1) for k in node.keywords if k.arg}
                if any(v is None for v in vals) or any(v is None for v in kws.values()):
                    return None
                try:
                    return target.format(*vals, **kws)
                except (IndexError, KeyError, ValueError, AttributeError):
                    return None
            if meth in ("strip", "rstrip", "lstrip") and isinstance(target, str) and not args:
                return target.strip() if meth == "strip" else (
                    target.rstrip() if meth == "rstrip" else target.lstrip())
            if meth == "replace" and isinstance(target, str) and len(args) == 2:
                a, b = arg0, self.const(args[1], depth + 1)
                if isinstance(a, str) and isinstance(b, str):
                    return target.replace(a, b)[: decode.MAX_DECODED]
            if meth in ("expanduser", "absolute", "resolve") and isinstance(target, str):
                return target
            if meth in ("joinpath",) and isinstance(target, str) and isinstance(arg0, str):
                return posixpath.join(target, arg0)
            if fn == "?":
                return None
        if fn in ("os.path.expanduser", "os.path.expandvars", "os.path.abspath", "os.path.realpath",
                  "os.path.normpath", "str", "os.fsdecode"):
            return arg0 if isinstance(arg0, str) else None
        if fn in ("os.path.join", "posixpath.join"):
            parts = [self.const(a, depth + 1) for a in args]
            if parts and all(isinstance(p, str) for p in parts):
                return posixpath.join(*parts)  # type: ignore[arg-type]
            return None
        if fn in ("pathlib.Path", "Path", "pathlib.PurePath", "pathlib.PosixPath"):
            return self._path_of(node)
        if fn in ("pathlib.Path.home", "Path.home"):
            return "~"
        if fn in ("os.getenv", "os.environ.get") and isinstance(arg0, str):
            return f"${arg0}"
        if fn == "bytes" and isinstance(arg0, list) and all(isinstance(x, int) for x in arg0):
            try:
                return bytes(arg0)  # type: ignore[arg-type]
            except ValueError:
                return None
        if fn == "bytearray" and isinstance(arg0, (bytes, list)):
            return self._const_call(ast.Call(ast.Name("bytes"), node.args, []), depth + 1)
        if fn == "chr" and isinstance(arg0, int) and 0 <= arg0 < 0x110000:
            return chr(arg0)
        if fn == "int" and isinstance(arg0, (str, int)):
            try:
                return int(arg0)
            except ValueError:
                return None
        if fn == "bytes.fromhex" and isinstance(arg0, str):
            return decode.hexdecode(arg0)
        return None

    def _path_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in self.paths:
            return self.paths[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = self._path_of(node.left)
            right = self.const(node.right)
            if left is not None and isinstance(right, str):
                return posixpath.join(left, right)
            return None
        if isinstance(node, ast.Call):
            fn = self.qualname(node.func)
            if fn in ("pathlib.Path", "Path", "pathlib.PurePath", "pathlib.PosixPath"):
                parts = [self.const(a) for a in node.args]
                if parts and all(isinstance(p, str) for p in parts):
                    return posixpath.join(*parts)  # type: ignore[arg-type]
                return None
            if fn in ("pathlib.Path.home", "Path.home"):
                return "~"
            if (isinstance(node.func, ast.Attribute) and not fn.startswith("os.")
                    and node.func.attr in ("expanduser", "resolve", "absolute")):
                return self._path_of(node.func.value)
        value = self.const(node)
        return value if isinstance(value, str) else None

    def _strings(self, node: ast.AST, depth: int) -> list[str]:
        """The strings an iterable expression yields, as far as they are known: literal lists
        (also with unknown members), ``+`` of lists, names bound to them, and glob patterns
        (``glob.glob(p)``, ``Path(d).glob(p)``), which stand for the files they match."""
        if depth > 4:
            return []
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            out: list[str] = []
            for e in node.elts[:_LOOP_VALUES]:
                v = self.const(e)
                if isinstance(v, str):
                    out.append(v)
                elif isinstance(e, ast.Starred):
                    out.extend(self._strings(e.value, depth + 1))
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._strings(node.left, depth + 1) + self._strings(node.right, depth + 1)
        if isinstance(node, ast.Name):
            value = self.consts.get(node.id)
            if isinstance(value, list):
                return [v for v in value if isinstance(v, str)][:_LOOP_VALUES]
            expr = self.exprs.get(node.id)
            return self._strings(expr, depth + 1) if expr is not None else []
        if isinstance(node, ast.Call):
            fn = self.qualname(node.func)
            short = fn.rpartition(".")[2]
            if fn in ("glob.glob", "glob.iglob") and node.args:
                pattern = self.const(node.args[0])
                return [pattern] if isinstance(pattern, str) else []
            if short in ("glob", "rglob") and isinstance(node.func, ast.Attribute) and node.args:
                base = self._path_of(node.func.value)
                pattern = self.const(node.args[0])
                if base is not None and isinstance(pattern, str):
                    return [posixpath.join(base, "**", pattern) if short == "rglob"
                            else posixpath.join(base, pattern)]
                return []
            if fn in ("sorted", "list", "tuple", "set", "reversed") and node.args:
                return self._strings(node.args[0], depth + 1)
        return []

    def _paths(self, node: ast.AST) -> list[str]:
        """The paths an expression names: one when it resolves, or one per value of the loop
        variable it is built from (``for p in PATHS: open(p)``). Notes a read that stays
        unresolved."""
        path = self._path_of(node)
        if path is not None:
            return [path]
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in self.loops}
        out: list[str] = []
        if len(names) == 1:
            name = names.pop()
            saved = self.consts.pop(name, None)
            try:
                for value in self.loops[name]:
                    self.consts[name] = value
                    p = self._path_of(node)
                    if p and p not in out:
                        out.append(p)
            finally:
                self.consts.pop(name, None)
                if saved is not None:
                    self.consts[name] = saved
        if not out:
            self.unresolved_read = True
        return out

    def _secret_literals(self, constants: list[ast.AST]) -> None:
        """Code that opens files through paths it computes at run time: string literals that
        name secret files are what it reads."""
        seen = {f.path for f in self.facts if f.kind == "file"}
        for node in constants:
            assert isinstance(node, ast.Constant)
            v = node.value
            if (isinstance(v, str) and 4 < len(v) < 256 and v not in seen and not any(
                    c.isspace() for c in v) and _SECRET_PATH.search(v)):
                seen.add(v)
                self._add(Fact("file", self.spans.of(node), api="literal", path=v, activity="read"))

    # -- facts ----------------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> None:
        fn = self.qualname(node.func)
        short = fn.rpartition(".")[2]
        span = self.spans.of(node)
        if fn in _SUBPROCESS or fn in _SHELL_CALLS:
            self._process(node, fn, span)
        elif fn.startswith(("os.exec", "os.spawn", "os.posix_spawn")) or fn in ("pty.spawn", "os.fexecve"):
            self._exec(node, fn, span)
        elif short in ("connect", "connect_ex", "sendto") or fn in _NET_CTORS:
            self._connect(node, fn, short, span)
        elif short == "bind" and node.args:
            addr = self.const(node.args[0])
            if isinstance(addr, list) and len(addr) >= 2 and isinstance(addr[1], int):
                host = addr[0] if isinstance(addr[0], str) else ""
                self._add(Fact("listen", span, api=fn, host=host, port=addr[1]))
        elif fn in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.getaddrinfo",
                    "dns.resolver.resolve", "dns.resolver.query", "dns.resolver.Resolver.resolve"):
            qname = self.const(node.args[0]) if node.args else None
            if isinstance(qname, str) and qname:
                self._add(Fact("dns", span, api=fn, host=qname))
        elif short in _HTTP_METHODS or fn in ("urllib.request.Request", "urllib2.Request"):
            self._http(node, fn, short, span)
        elif fn in ("open", "io.open", "codecs.open", "os.open"):
            self._open(node, fn, span)
        elif short in ("write", "writelines") and isinstance(node.func, ast.Attribute):
            self._write(node, span)
        elif short in ("write_text", "write_bytes", "read_text", "read_bytes", "touch", "unlink",
                       "chmod", "rename", "replace", "symlink_to", "rmdir", "open"
                       ) and isinstance(node.func, ast.Attribute) and not fn.startswith("os."):
            self._pathlib(node, short, span)
        elif fn.startswith(("shutil.", "os.")) and short in _FS_FUNCS:
            self._fs(node, fn, short, span)
        elif fn in ("exec", "eval", "compile", "builtins.exec", "builtins.eval"):
            self._exec_code(node, fn, span)
        elif fn in ("runpy.run_path", "execfile"):
            path = self.const(node.args[0]) if node.args else None
            if isinstance(path, str):
                self._add(Fact("run_file", span, api=fn, path=path, language="python"))
        elif fn == "os.dup2" or short == "dup2":
            if node.args and "fileno" in ast.unparse(node.args[0])[:200]:
                self.dup2_socket = True
        elif short == "memfd_create" or (fn.endswith("syscall") and node.args
                                         and self.const(node.args[0]) in (319, 279, 356)):
            name = self.const(node.args[0]) if node.args and short == "memfd_create" else ""
            self._add(Fact("fileless", span, api=fn, path=f"memfd:{name if isinstance(name, str) else ''}"))
        elif fn in ("ctypes.CDLL", "ctypes.cdll.LoadLibrary", "ctypes.PyDLL") or (
            fn.startswith("mmap.") and any(
                isinstance(k.value, ast.Attribute) and "EXEC" in k.value.attr for k in node.keywords)):
            if "mmap" in self.imports or "memmove" in self.code or "PROT_EXEC" in self.code:
                self._add(Fact("fileless", span, api=fn, detail=(("shape", "shellcode-loader"),)))
        elif fn in ("print", "dict", "json.dumps", "str", "repr", "pprint.pprint", "list",
                    "sorted", "os.environ.copy", "os.environ.items"):
            for a in node.args:
                if isinstance(a, ast.Attribute) and self.qualname(a) == "os.environ":
                    self._add(Fact("env", span, api=fn))
                    break
        if fn in ("os.getenv", "os.environ.get", "os.environ.pop", "os.getenvb"):
            name = self.const(node.args[0]) if node.args else None
            if isinstance(name, str) and SECRET_NAME.search(name):
                self._add(Fact("env", span, api=fn, name=name))

    def _attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("items", "keys", "values", "copy") and self.qualname(node.value) == "os.environ":
            self._add(Fact("env", self.spans.of(node), api=f"os.environ.{node.attr}"))

    def _loop(self, node: ast.While | ast.For) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                fn = self.qualname(sub.func)
                if fn.startswith("hashlib.") or fn.endswith((".sha256", ".scrypt", ".sha3_256")):
                    self.has_hash_loop = True
                    return

    def _string(self, node: ast.Constant, value: str) -> None:
        if "stratum+" in value or "/dev/tcp/" in value or "/dev/udp/" in value:
            for fact in analyze_tokens(value, "text", span=self.spans.of(node), budget=self.budget):
                if fact.kind == "connect":
                    self._add(fact)

    def _kw(self, node: ast.Call, name: str) -> ast.AST | None:
        for k in node.keywords:
            if k.arg == name:
                return k.value
        return None

    def _process(self, node: ast.Call, fn: str, span: Span) -> None:
        first = node.args[0] if node.args else self._kw(node, "args") or self._kw(node, "cmd")
        if first is None:
            return
        if fn == "asyncio.create_subprocess_exec":
            argv = [self.const(a) for a in node.args]
            self._add(Fact("exec", span, api=fn, argv=tuple(_strs(argv))))
            return
        value = self.const(first)
        shell_kw = self._kw(node, "shell")
        shell = fn in _SHELL_CALLS or (shell_kw is not None and self.const(shell_kw) is True)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            if shell or " " in value.strip():
                self._add(Fact("shell", span, api=fn, text=value, base=self.spans.inner(first, value)))
            else:
                self._add(Fact("exec", span, api=fn, argv=(value,)))
        elif isinstance(value, list):
            words = tuple(_strs(value))
            if shell and words:
                self._add(Fact("shell", span, api=fn, text=" ".join(words)))
            elif words:
                self._add(Fact("exec", span, api=fn, argv=words))
        elif shell:
            self._add(Fact("shell", span, api=fn, text=_unparse(first)))

    def _exec(self, node: ast.Call, fn: str, span: Span) -> None:
        vals = [self.const(a) for a in node.args]
        if fn == "pty.spawn":
            v = vals[0] if vals else None
            argv = tuple(_strs(v)) if isinstance(v, list) else ((v,) if isinstance(v, str) else ())
            if argv:
                self._add(Fact("exec", span, api=fn, argv=argv))
            self._add(Fact("pty", span, api=fn, argv=argv))
            return
        if fn == "os.fexecve":
            fd = vals[0] if vals else None
            self._add(Fact("exec", span, api=fn, argv=(f"/proc/self/fd/{fd if isinstance(fd, int) else 'N'}",)))
            return
        short = fn.rpartition(".")[2]
        if short.startswith("spawn"):
            vals = vals[1:]
        if short.startswith("posix_spawn"):
            argv_v = vals[1] if len(vals) > 1 else None
            argv = tuple(_strs(argv_v)) if isinstance(argv_v, list) else ()
            if not argv and vals and isinstance(vals[0], str):
                argv = (vals[0],)
        elif "v" in short[4:] or "v" in short[5:]:
            argv_v = vals[1] if len(vals) > 1 else None
            argv = tuple(_strs(argv_v)) if isinstance(argv_v, list) else ()
            if argv and vals and isinstance(vals[0], str):
                argv = (vals[0],) + argv[1:]
        else:
            argv = tuple(_strs(vals[1:])) if len(vals) > 1 else ()
            if short.endswith("e") and argv:
                argv = argv[:-1] if not isinstance(vals[-1], str) else argv
            if argv and vals and isinstance(vals[0], str):
                argv = (vals[0],) + argv[1:]
        if not argv and vals and isinstance(vals[0], str):
            argv = (vals[0],)
        if argv:
            self._add(Fact("exec", span, api=fn, argv=argv))

    def _connect(self, node: ast.Call, fn: str, short: str, span: Span) -> None:
        proto, default_port = _NET_CTORS.get(fn, ("", None))
        host: Const = None
        port: Const = None
        if short in ("connect", "connect_ex") and fn not in _NET_CTORS:
            addr = self.const(node.args[0]) if node.args else None
            if isinstance(addr, list) and len(addr) >= 2:
                host, port = addr[0], addr[1]
            else:
                hk = self._kw(node, "hostname") or self._kw(node, "host")
                if hk is not None:
                    host = self.const(hk)
                elif isinstance(addr, str):
                    host = addr
                port = (self.const(node.args[1]) if len(node.args) > 1
                        else self.const(self._kw(node, "port")))
                if "paramiko" in self.imports and isinstance(host, str):
                    proto = "ssh"
                    port = port or 22
        elif short == "sendto":
            addr = self.const(node.args[1]) if len(node.args) > 1 else None
            if isinstance(addr, list) and len(addr) >= 2:
                host, port = addr[0], addr[1]
                proto = "udp"
        else:
            first = self.const(node.args[0]) if node.args else self.const(
                self._kw(node, "host") or self._kw(node, "address") or self._kw(node, "hostname"))
            if isinstance(first, list) and len(first) >= 2:
                host, port = first[0], first[1]
            else:
                host = first
                port = self.const(node.args[1]) if len(node.args) > 1 else self.const(self._kw(node, "port"))
        if isinstance(host, str) and ("://" in host):
            self._add(Fact("http", span, api=fn, url=host, method="GET"))
            return
        if not isinstance(host, str) or not host:
            return
        if isinstance(port, str) and port.isascii() and port.isdigit():
            port = int(port)
        if not isinstance(port, int):
            port = default_port
        self._add(Fact("connect", span, api=fn, host=host, port=port,
                       protocol="udp" if proto == "udp" else "tcp",
                       detail=(("app_protocol", proto),) if proto and proto != "udp" else ()))

    def _http(self, node: ast.Call, fn: str, short: str, span: Span) -> None:
        args = node.args
        method = short.upper() if short in ("get", "post", "put", "patch", "delete", "head", "options") else ""
        url_node: ast.AST | None = None
        if short == "request" and len(args) >= 2:
            m = self.const(args[0])
            method = m.upper() if isinstance(m, str) else ""
            url_node = args[1]
        elif args:
            url_node = args[0]
        else:
            url_node = self._kw(node, "url")
        url = self.const(url_node) if url_node is not None else None
        if isinstance(url_node, ast.Call) and self.qualname(url_node.func).endswith("Request"):
            url = self.const(url_node.args[0]) if url_node.args else None
            if url_node.args and any(k.arg == "data" for k in url_node.keywords):
                method = method or "POST"
        if not isinstance(url, str) or "://" not in url[:16]:
            return
        detail: list[tuple[str, str]] = []
        for k in node.keywords:
            if k.arg in ("files", "data", "json", "content"):
                if k.arg == "json":
                    detail.append(("upload", "json"))
                    continue
                path = self._upload_path(k.value)
                detail.append(("upload", path or k.arg))
                if path:
                    self._add(Fact("file", span, api=fn, path=path, activity="read"))
        if fn.endswith(("urlretrieve", "wget.download")) and len(args) > 1:
            out = self.const(args[1])
            if isinstance(out, str):
                self._add(Fact("file", span, api=fn, path=out, activity="write"))
        if detail and not method:
            method = "POST"
        self._add(Fact("http", span, api=fn, url=url, method=method or "GET", detail=tuple(detail)))

    def _upload_path(self, node: ast.AST) -> str | None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                f = self.qualname(sub.func)
                if f in ("open", "io.open") and sub.args:
                    p = self.const(sub.args[0])
                    if isinstance(p, str):
                        return p
                if isinstance(sub.func, ast.Attribute) and sub.func.attr in ("read_bytes", "read_text"):
                    p = self._path_of(sub.func.value)
                    if p:
                        return p
                if isinstance(sub.func, ast.Attribute) and sub.func.attr == "read":
                    target = sub.func.value
                    if isinstance(target, ast.Name) and target.id in self.handles:
                        return self.handles[target.id][0]
            elif isinstance(sub, ast.Name) and sub.id in self.handles:
                return self.handles[sub.id][0]
        return None

    def _open(self, node: ast.Call, fn: str, span: Span) -> None:
        if not node.args:
            return
        paths = self._paths(node.args[0])
        if not paths:
            return
        mode_node = node.args[1] if len(node.args) > 1 else self._kw(node, "mode") or self._kw(node, "flags")
        mode = self.const(mode_node) if mode_node is not None else "r"
        if fn == "os.open":
            text = _unparse(mode_node) if mode_node is not None else ""
            writes = any(x in text for x in ("WRONLY", "RDWR", "CREAT", "APPEND", "TRUNC"))
        else:
            writes = isinstance(mode, str) and any(ch in mode for ch in _FILE_WRITE_MODES)
        activity = "write" if writes else "read"
        if writes and isinstance(mode, str) and "a" in mode:
            activity = "append"
        for path in paths:
            self._add(Fact("file", span, api=fn, path=path, activity=activity))

    def _write(self, node: ast.Call, span: Span) -> None:
        assert isinstance(node.func, ast.Attribute)
        target = node.func.value
        if isinstance(target, ast.Name) and target.id in self.handles and node.args:
            path, _ = self.handles[target.id]
            data = self.const(node.args[0])
            if isinstance(data, list):
                data = "".join(x for x in data if isinstance(x, str))
            if isinstance(data, bytes):
                data = data.decode("utf-8", "replace")
            if isinstance(data, str):
                self._add(Fact("file", span, api="write", path=path, activity="content", content=data))

    def _pathlib(self, node: ast.Call, short: str, span: Span) -> None:
        assert isinstance(node.func, ast.Attribute)
        if short in ("read_text", "read_bytes"):
            for p in self._paths(node.func.value):
                self._add(Fact("file", span, api=f"Path.{short}", path=p, activity="read"))
            return
        path = self._path_of(node.func.value)
        if not path:
            return
        if short in ("write_text", "write_bytes"):
            data = self.const(node.args[0]) if node.args else None
            if isinstance(data, bytes):
                data = data.decode("utf-8", "replace")
            self._add(Fact("file", span, api=f"Path.{short}", path=path, activity="write",
                           content=data if isinstance(data, str) else ""))
        elif short == "open":
            mode = self.const(node.args[0]) if node.args else "r"
            writes = isinstance(mode, str) and any(ch in mode for ch in _FILE_WRITE_MODES)
            self._add(Fact("file", span, api="Path.open", path=path, activity="write" if writes else "read"))
        elif short == "chmod":
            mode = self.const(node.args[0]) if node.args else None
            self._add(Fact("file", span, api="Path.chmod", path=path, activity="chmod",
                           detail=(("mode", oct(mode)),) if isinstance(mode, int) else ()))
        elif short in ("unlink", "rmdir"):
            self._add(Fact("file", span, api=f"Path.{short}", path=path, activity="delete"))
        elif short == "touch":
            self._add(Fact("file", span, api="Path.touch", path=path, activity="create"))
        elif short in ("rename", "replace", "symlink_to"):
            dst = self._path_of(node.args[0]) if node.args else None
            if dst:
                act = "link" if short == "symlink_to" else "rename"
                self._add(Fact("file", span, api=f"Path.{short}", path=path if act == "link" else dst,
                               activity=act, detail=(("source", dst if act == "link" else path),)))

    def _fs(self, node: ast.Call, fn: str, short: str, span: Span) -> None:
        vals = [self._path_of(a) for a in node.args[:2]]
        src = vals[0] if vals else None
        dst = vals[1] if len(vals) > 1 else None
        if short in ("copy", "copy2", "copyfile", "copytree", "copyfileobj"):
            for path in self._paths(node.args[0]) if node.args else ():
                self._add(Fact("file", span, api=fn, path=path, activity="read"))
            if dst:
                self._add(Fact("file", span, api=fn, path=dst, activity="write",
                               detail=(("source", src or ""),)))
        elif short in ("move", "rename", "replace", "renames"):
            if dst:
                self._add(Fact("file", span, api=fn, path=dst, activity="rename", detail=(("source", src or ""),)))
        elif short in ("remove", "unlink", "rmtree", "rmdir", "removedirs"):
            if src:
                self._add(Fact("file", span, api=fn, path=src, activity="delete"))
        elif short in ("chmod", "chown", "lchmod"):
            mode = self.const(node.args[1]) if len(node.args) > 1 else None
            if src:
                self._add(Fact("file", span, api=fn, path=src, activity="chmod",
                               detail=(("mode", oct(mode)),) if isinstance(mode, int) else ()))
        elif short in ("symlink", "link"):
            if dst:
                self._add(Fact("file", span, api=fn, path=dst, activity="link", detail=(("source", src or ""),)))
        elif short in ("listdir", "scandir", "walk", "make_archive"):
            target = vals[0] if short != "make_archive" else self._path_of(
                self._kw(node, "root_dir") or (node.args[2] if len(node.args) > 2 else ast.Constant(None)))
            if target:
                self._add(Fact("file", span, api=fn, path=target, activity="read"))

    def _exec_code(self, node: ast.Call, fn: str, span: Span) -> None:
        if not node.args:
            return
        arg = node.args[0]
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "read":
            inner = arg.func.value
            if isinstance(inner, ast.Call) and self.qualname(inner.func) in ("open", "io.open") and inner.args:
                path = self.const(inner.args[0])
                if isinstance(path, str):
                    self._add(Fact("run_file", span, api=fn, path=path, language="python"))
                    return
        if isinstance(arg, ast.Call) and self.qualname(arg.func) == "compile" and arg.args:
            arg = arg.args[0]
        value = self.const(arg)
        if isinstance(value, bytes):
            value = decode.as_text(value) or ""
        if not isinstance(value, str) or not value.strip():
            return
        chain = _decode_chain(self, arg)
        if self.depth >= MAX_DEPTH:
            return
        base = self.spans.inner(arg, value) if not chain else None
        via = chain + (fn.rpartition(".")[2],)
        if base is None:
            # decoded or assembled code is on no command line: report it so that it can be shown
            # as ``python3 -c <code>`` (see _emit.Emitter.code_command)
            self._add(Fact("code", span, api=fn, text=value, language="python", via=chain))
        for fact in _analyze(value, base=base or 0, span=None if base is not None else span,
                             via=via, depth=self.depth + 1, budget=self.budget):
            self._add(fact)


TRIGGER = re.compile(
    r"subprocess|system|popen|exec|eval|compile|socket|connect|request|http|url|open|Path|"
    r"write|read_text|read_bytes|shutil|chmod|chown|remove|unlink|rename|replace|environ|getenv|"
    r"pty|ctypes|memfd|mmap|dup2|hashlib|runpy|spawn|telnet|smtp|ftp|paramiko|websocket|dns|"
    r"gethostby|getaddrinfo|stratum|/dev/|b64|base64|decode|decompress|marshal|pickle|__import__|"
    r"getattr|listdir|walk|scandir|make_archive|copy|move|symlink|link|bind|sendto|wget|redis|"
    r"mongo|psycopg|mysql|imap|pop3|fromhex|unhexlify|codecs|zlib|\bos\b|posix"
)
"""Cheap trigger: code with none of these tokens has nothing for the AST pass to find."""

_FS_FUNCS = frozenset({
    "copy", "copy2", "copyfile", "copytree", "move", "rename", "replace", "renames", "remove",
    "unlink", "rmtree", "rmdir", "removedirs", "chmod", "chown", "lchmod", "symlink", "link",
    "listdir", "scandir", "walk", "make_archive",
})
_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)


_INTERESTING = frozenset({
    "run", "call", "check_call", "check_output", "Popen", "system", "popen", "getoutput",
    "getstatusoutput", "create_subprocess_exec", "create_subprocess_shell", "run_process", "popen2",
    "popen3", "popen4", "spawn", "fexecve", "connect", "connect_ex", "sendto", "bind",
    "gethostbyname", "gethostbyname_ex", "getaddrinfo", "resolve", "query", "get", "post", "put",
    "patch", "delete", "head", "options", "request", "stream", "urlopen", "urlretrieve",
    "download", "fetch", "Request", "open", "write", "writelines", "write_text", "write_bytes",
    "read_text", "read_bytes", "touch", "unlink", "chmod", "rename", "replace", "symlink_to",
    "rmdir", "copy", "copy2", "copyfile", "copytree", "copyfileobj", "move", "renames", "remove",
    "rmtree", "removedirs", "chown", "lchmod", "symlink", "link", "listdir", "scandir", "walk",
    "make_archive", "exec", "eval", "compile", "run_path", "execfile", "dup2", "memfd_create",
    "syscall", "CDLL", "LoadLibrary", "PyDLL", "mmap", "print", "dict", "dumps", "str", "repr",
    "pprint", "list", "sorted", "items", "getenv", "getenvb", "pop", "Telnet", "SMTP", "SMTP_SSL",
    "FTP", "FTP_TLS", "POP3", "IMAP4", "IMAP4_SSL", "HTTPConnection", "HTTPSConnection",
    "open_connection", "create_connection", "Redis", "MongoClient",
})
"""Call names (last attribute) worth resolving; other calls are skipped cheaply."""


def _walk(tree: ast.AST, limit: int) -> dict[type, list[ast.AST]]:
    """Every node under ``tree`` (at most ``limit``), grouped by node type."""
    out: dict[type, list[ast.AST]] = {}
    stack = [tree]
    pop = stack.pop
    push = stack.append
    seen = 0
    node_type = ast.AST
    while stack and seen < limit:
        node = pop()
        seen += 1
        t = type(node)
        bucket = out.get(t)
        if bucket is None:
            out[t] = [node]
        else:
            bucket.append(node)
        for name in node._fields:
            v = getattr(node, name, None)
            if v.__class__ is list:
                for x in v:
                    if isinstance(x, node_type):
                        push(x)
            elif isinstance(v, node_type):
                push(v)
    return out


def _target_names(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for e in t.elts for n in _target_names(e)] if len(t.elts) < 64 else []
    if isinstance(t, ast.Starred):
        return _target_names(t.value)
    return []


def _zlib(data: bytes) -> bytes | None:
    try:
        d = zlib.decompressobj(47)
        return d.decompress(data, decode.MAX_DECODED) or None
    except zlib.error:
        try:
            d = zlib.decompressobj(-15)
            return d.decompress(data, decode.MAX_DECODED) or None
        except zlib.error:
            return None


def _decode_chain(an: _Analyzer, node: ast.AST) -> tuple[str, ...]:
    """The decoders applied in an expression, innermost first: ("base64", "zlib")."""
    chain: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            fn = an.qualname(sub.func)
            short = fn.rpartition(".")[2]
            if "b64decode" in short or short in ("decodebytes", "a2b_base64"):
                chain.append("base64")
            elif short in ("unhexlify", "fromhex", "b16decode", "a2b_hex"):
                chain.append("hex")
            elif short == "decompress":
                chain.append("zlib" if "zlib" in fn else fn.partition(".")[0] or "decompress")
            elif fn == "codecs.decode":
                chain.append("codecs")
            elif short == "b32decode":
                chain.append("base32")
    chain.reverse()
    return tuple(chain)


def _strs(values: list[Const] | Const) -> Iterator[str]:
    if not isinstance(values, list):
        return
    for v in values:
        if isinstance(v, str):
            yield v
        elif isinstance(v, bytes):
            yield v.decode("utf-8", "replace")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield str(v)
        else:
            yield "?"


def _unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:4096]
    except (ValueError, RecursionError, AttributeError):
        return ""


def _with_detail(f: Fact, item: tuple[str, str]) -> Fact:
    return dataclasses.replace(f, detail=f.detail + (item,))




def _analyze(code: str, *, base: int, span: Span | None, via: tuple[str, ...], depth: int,
             budget: Budget) -> list[Fact]:
    if len(code) > MAX_CODE:
        code = code[:MAX_CODE]
    if "\x00" in code:
        code = code.replace("\x00", " ")
    try:
        with warnings.catch_warnings():
            # agent code with "\d" in a plain string would warn (a SyntaxWarning on stderr from
            # Python 3.12), once per audited call: the input is data, not our code
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return analyze_tokens(code, "python", base=base, span=span, via=via, depth=depth, budget=budget)
    spans = _Spans(code, base, span)
    try:
        return _Analyzer(code, spans, via, depth, budget).run(tree)
    except RecursionError:
        return analyze_tokens(code, "python", base=base, span=span, via=via, depth=depth, budget=budget)


def analyze_python(
    code: str,
    *,
    base: int = 0,
    span: Span | None = None,
    via: tuple[str, ...] = (),
    depth: int = 0,
) -> list[Fact]:
    """What Python ``code`` would do, as facts ordered by position.

    Args:
        code: The source.
        base: Offset of ``code`` in the original text (fact spans are shifted by it).
        span: When set, every fact points at this span (the code is not verbatim in the original).
        via: Nesting already traversed, prefixed to every fact's ``via``.
        depth: Nesting depth already used.

    Never raises: code that does not parse is scanned token by token instead.
    """
    if not code or depth > MAX_DEPTH or not TRIGGER.search(code):
        return []
    return _analyze(code, base=base, span=span, via=via, depth=depth, budget=Budget())


