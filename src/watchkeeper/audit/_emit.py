"""The event builder of one tool call and the walk over its shell commands.

:class:`Emitter` turns parsed commands (:mod:`watchkeeper.audit.shell`) and code facts
(:mod:`watchkeeper.audit.pycode`) into typed events: process launches, network connections, DNS
lookups, file activity. What a named program does with its arguments is looked up in
:data:`HANDLERS`, which :mod:`watchkeeper.audit._programs` fills when it is imported
(:mod:`watchkeeper.audit.extract` imports it, so the table is complete before any call runs).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from watchkeeper.audit import _shell_files as files
from watchkeeper.audit import _shell_tools as tools
from watchkeeper.audit._context import TrajectoryContext
from watchkeeper.audit._shell_model import Redirect, SimpleCommand, new_command
from watchkeeper.audit._shell_wrap import (
    SHELLS,
    basename,
    interpreter_invocation,
    interpreter_language,
)
from watchkeeper.audit.decode import guess_language
from watchkeeper.audit.pycode import Fact, analyze_python, analyze_tokens
from watchkeeper.audit.shell import commands_from_argv, parse_cached, parse_script
from watchkeeper.events import DnsEvent, Event, FileEvent, NetworkEvent, ProcessEvent
from watchkeeper.trajectories import ToolCall
from watchkeeper.trajectories._fast import fast_constructor

MAX_EVENTS = 20_000
"""Events produced for one tool call; the rest are dropped and the analysis flagged."""
MAX_FIELD = 1 << 16
"""Longest command line kept in an event (characters)."""
CONTENT_HEAD = 4096
"""Characters of written content kept in a FileEvent."""
MAX_DEPTH = 8
"""Nesting levels (code in code, scripts run by scripts) analysed; deeper is flagged degraded."""


_make_process = fast_constructor(ProcessEvent)
_make_network = fast_constructor(NetworkEvent)
_make_dns = fast_constructor(DnsEvent)
_make_file = fast_constructor(FileEvent)

_BIN = frozenset({"sh", "bash", "dash", "rbash", "ash"})
_SBIN = frozenset({
    "iptables", "ip6tables", "nft", "useradd", "userdel", "usermod", "groupadd", "groupdel",
    "sshd", "tcpdump", "ufw", "modprobe", "insmod", "rmmod", "setcap", "chroot", "visudo",
    "chpasswd", "adduser", "deluser", "service", "sysctl", "iptables-save", "iptables-restore",
    "cron", "crond", "auditctl", "ldconfig", "mkfs", "fdisk", "losetup", "swapon", "swapoff",
    "xtables-legacy-multi", "update-ca-certificates", "arping", "ifconfig", "route",
})
_IMAGE_CACHE: dict[str, str] = {}
_DIR_CHANGERS = frozenset({"cd", "pushd", "popd"})
_INTERPRETER_PREFIXES = ("python", "pypy", "perl", "ruby", "php", "lua", "node", "nodejs", "awk",
                         "gawk", "mawk", "nawk", "deno", "tclsh", "jruby")
_STRATUM = re.compile(r"stratum[12]?\+(?:tcp|ssl|tls|udp)://[^\s'\"]+", re.I)
_CODE_FLAG = {"python": "-c", "perl": "-e", "ruby": "-e", "node": "-e", "php": "-r", "lua": "-e",
              "awk": "", "tclsh": ""}
"""How each language's interpreter takes a program on its command line (a code event's shape)."""


def image_of(prog: str, cwd: str = "") -> str:
    """The executable path for argv[0]: a bare name gets a plausible absolute path (``nmap`` ->
    ``/usr/bin/nmap``, ``bash`` -> ``/bin/bash``); a relative path is joined to ``cwd`` when
    known; an absolute path is kept."""
    if "/" in prog:
        if prog[0] == "/" or not cwd:
            return prog
        return posixpath.normpath(posixpath.join(cwd, prog))
    img = _IMAGE_CACHE.get(prog)
    if img is None:
        if prog in _BIN:
            img = f"/bin/{prog}"
        elif prog in _SBIN:
            img = f"/usr/sbin/{prog}"
        elif not prog:
            img = ""
        else:
            img = f"/usr/bin/{prog}"
        if len(_IMAGE_CACHE) < 4096:
            _IMAGE_CACHE[prog] = img
    return img


def cap(text: str) -> str:
    """``text`` cut to :data:`MAX_FIELD` characters (an event field)."""
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the analyser made of one tool call.

    Attributes:
        events: The events, in the order their commands run.
        truncated: Some input was beyond a size/count cap and was not analysed.
        degraded: Broken syntax or a depth cap made part of the analysis token-level or partial.
    """

    events: tuple[Event, ...]
    truncated: bool = False
    degraded: bool = False


Handler = Callable[["Emitter", SimpleCommand, str, str, str, int], None]
"""What one program does: ``handler(emitter, cmd, name, image, command_line, depth)``."""
HANDLERS: dict[str, Handler] = {}
"""Program name (argv[0]'s basename) -> its handler; filled by :mod:`watchkeeper.audit._programs`
at import. Programs named here are not also treated as interpreters or script paths."""


class Emitter:
    """Builds the events of one tool call."""

    __slots__ = ("ctx", "call", "text", "events", "seen", "truncated", "degraded", "root_image",
                 "root_cl")

    def __init__(self, call: ToolCall, ctx: TrajectoryContext, text: str) -> None:
        self.ctx = ctx
        self.call = call
        self.text = text
        self.events: list[Event] = []
        self.seen: set[tuple[int, int, str]] = set()
        self.truncated = False
        self.degraded = False
        self.root_image = ctx.shell_image
        self.root_cl = ""

    def full(self) -> bool:
        if len(self.events) >= MAX_EVENTS:
            self.truncated = True
            return True
        return False

    # -- event builders ---------------------------------------------------------------------

    def process(self, *, image: str, command_line: str, argv: tuple[str, ...], parent_image: str,
                parent_command_line: str, via: tuple[str, ...], span: tuple[int, int],
                user: str = "") -> None:
        if len(self.events) >= MAX_EVENTS:
            self.truncated = True
            return
        ctx = self.ctx
        self.events.append(_make_process(
            ts=ctx.ts, run_id=ctx.run_id, episode_id=ctx.episode_id, step=ctx.step,
            tool_call_id=ctx.tool_call_id, source="audit", span=span, image=image,
            command_line=command_line, argv=argv, parent_image=parent_image,
            parent_command_line=parent_command_line, cwd=ctx.cwd, user=user or ctx.user, via=via,
        ))

    def network(self, *, host: str, port: int | None, image: str, command_line: str,
                span: tuple[int, int], protocol: str = "tcp", app: str = "",
                detail: tuple[tuple[str, str], ...] = (), activity: str = "open",
                src_port: int | None = None, ip: bool | None = None) -> None:
        if self.full():
            return
        host = host.strip().strip("[]")
        listen = activity == "listen"
        if not host and not listen:
            return
        if ip is None:
            ip = tools.is_ip(host) if host else False
        ctx = self.ctx
        self.events.append(_make_network(
            ts=ctx.ts, run_id=ctx.run_id, episode_id=ctx.episode_id, step=ctx.step,
            tool_call_id=ctx.tool_call_id, source="audit", span=span, activity=activity,
            initiated=not listen, protocol=protocol, app_protocol=app,
            dst_ip=host if ip else "", dst_port=None if listen else port,
            dst_hostname="" if ip else host, src_port=port if listen else src_port, image=image,
            command_line=command_line, detail=detail,
        ))
        if host and not ip and host != "localhost" and not listen:
            self.dns(name=host, image=image, command_line=command_line, span=span)

    def dns(self, *, name: str, image: str, command_line: str, span: tuple[int, int],
            qtype: str = "A", server: str = "") -> None:
        if self.full():
            return
        ctx = self.ctx
        self.events.append(_make_dns(
            ts=ctx.ts, run_id=ctx.run_id, episode_id=ctx.episode_id, step=ctx.step,
            tool_call_id=ctx.tool_call_id, source="audit", span=span, query_name=name.rstrip("."),
            query_type=qtype, dst_ip=server if server and tools.is_ip(server) else "", image=image,
            command_line=command_line,
        ))

    def file(self, *, activity: str, path: str, image: str, command_line: str,
             span: tuple[int, int], content: str = "") -> None:
        if self.full() or not path or path == "{}":
            return
        ctx = self.ctx
        if len(content) > CONTENT_HEAD:
            content = content[:CONTENT_HEAD]
        self.events.append(_make_file(
            ts=ctx.ts, run_id=ctx.run_id, episode_id=ctx.episode_id, step=ctx.step,
            tool_call_id=ctx.tool_call_id, source="audit", span=span, activity=activity,
            path=ctx.resolve(path) if path[0] not in "/~$" else path, image=image,
            command_line=command_line, content=content,
        ))

    # -- shell ----------------------------------------------------------------------------------

    def shell_text(self, text: str, *, root: bool) -> None:
        """Analyse a shell tool call's text."""
        ctx = self.ctx
        if "$" in text:
            script = parse_script(text, env=ctx.env or None)
        else:
            script = parse_cached(text)
        if script.truncated:
            self.truncated = True
        if script.degraded:
            self.degraded = True
        if script.env:
            ctx.env.update(script.env)
        cmds = script.commands
        shell = self.root_image.rpartition("/")[2]
        root_cl = f"{shell} -c {text}"
        self.root_cl = root_cl if len(root_cl) <= MAX_FIELD else root_cl[:MAX_FIELD]
        # Loops (``... done``) are compound too: their shape (``&`` inside, fork bombs) is evidence.
        if root and (script.compound or "done" in text):
            self.process(image=self.root_image, command_line=self.root_cl,
                         argv=(shell, "-c", text), parent_image="",
                         parent_command_line="", via=(), span=(0, len(text)))
        command = self.command
        events = self.events
        for cmd in cmds:
            if len(events) >= MAX_EVENTS:
                self.truncated = True
                return
            command(cmd, 0)
        if not cmds and text.strip():
            self.tokens(text, "text")

    def parent_of(self, cmd: SimpleCommand) -> tuple[str, str]:
        p = cmd.parent
        if p is None or not p.argv:
            return self.root_image, self.root_cl
        return image_of(p.argv[0], self.ctx.cwd), cap(p.command_line())

    def command(self, cmd: SimpleCommand, depth: int) -> None:
        """Events of one simple command (its nested commands come as their own commands)."""
        argv = cmd.argv
        ctx = self.ctx
        cl = cmd.command_line()
        if len(cl) > MAX_FIELD:
            cl = cl[:MAX_FIELD]
        if not argv:
            if cmd.redirects:
                shell_img = image_of(cmd.interpreter, ctx.cwd) if cmd.interpreter else self.root_image
                for r in cmd.redirects:
                    self.redirect(cmd, r, shell_img, cl, shell_img, depth)
            return
        prog = argv[0]
        name = prog.rpartition("/")[2] if "/" in prog else prog
        image = image_of(prog, ctx.cwd)
        if cmd.parent is None:
            pimg, pcl = self.root_image, self.root_cl
        else:
            pimg, pcl = self.parent_of(cmd)
        self.process(image=image, command_line=cl, argv=argv, parent_image=pimg,
                     parent_command_line=pcl, via=cmd.via, span=cmd.span, user=cmd.user)
        if name in _DIR_CHANGERS and not cmd.via:
            if name == "popd":
                ctx.cwd = ""
            elif cmd.pipe_len == 1:
                ctx.chdir(argv[1] if len(argv) > 1 else "~")
        if cmd.redirects:
            shell_img = image_of(cmd.interpreter, ctx.cwd) if cmd.interpreter else self.root_image
            for r in cmd.redirects:
                self.redirect(cmd, r, image, cl, shell_img, depth)
        handler = HANDLERS.get(name)
        if handler is not None:
            handler(self, cmd, name, image, cl, depth)
        elif name.startswith(_INTERPRETER_PREFIXES):
            self.interpreter(cmd, name, image, cl, depth)
        elif "/" in prog:
            self.run_file(cmd, prog, "", depth, image)
        if "stratum" in cl:
            for m in _STRATUM.finditer(cl):
                u = tools.parse_url(m.group())
                if u is not None:
                    self.network(host=u.host, port=u.port, image=image, command_line=cl,
                                 span=cmd.span, app="stratum", detail=(("url", m.group()),))

    def redirect(self, cmd: SimpleCommand, r: Redirect, image: str, cl: str, shell_img: str,
                 depth: int = 0) -> None:
        op = r.op
        if op in ("<<", "<<-", "<<<"):
            return
        target = r.target
        key = (r.span[0], r.span[1], op)
        if key in self.seen:
            return
        self.seen.add(key)
        if target.startswith(("/dev/tcp/", "/dev/udp/")):
            parts = target.split("/")
            if len(parts) >= 5:
                self.network(host=parts[3], port=tools.port_of(parts[4]), image=shell_img,
                             command_line=cl, span=r.span, protocol=parts[2],
                             detail=(("redirect", r.text),))
            return
        if not target or target.startswith(("/dev/null", "/dev/std", "/dev/fd/", "/dev/tty",
                                            "/proc/self/fd/")) or target == "-":
            return
        if op in (">&", "<&") and (target.isdigit() or target == "-"):
            return
        if r.writes:
            data = cmd.stdout.text() if cmd.stdout is not None else ""
            append = op.endswith(">>")
            self.file(activity="write", path=target, image=image if cmd.argv else shell_img,
                      command_line=cl, span=r.span, content=data)
            self.ctx.remember(target, data, append=append)
            if data:
                self.file_commands(self.ctx.resolve(target), data, cmd, None, depth, partial=append)
        elif r.reads:
            self.file(activity="read", path=target, image=image if cmd.argv else shell_img,
                      command_line=cl, span=r.span)

    # -- nested code ---------------------------------------------------------------------------

    def interpreter(self, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
        lang, how, idx = interpreter_invocation(cmd.argv)
        if not lang:
            return
        argv = cmd.argv
        label = f"{name} -c" if lang == "python" else f"{name} {argv[idx - 1]}" if how == "code" and idx > 1 else name
        if how in ("code", "code_attached"):
            code = argv[idx]
            if how == "code_attached":
                a = code
                if a.startswith("--"):
                    code = a.partition("=")[2]
                elif lang == "python":
                    code = a[a.index("c") + 1 :]
                else:
                    code = a[2:]
                label = f"{name} {a[:2]}"
            base, span = self.locate(cmd, idx, code)
            self.code(code, lang, base, span, cmd.via + (label,), cmd, depth)
        elif how == "module" and idx < len(argv):
            mod = argv[idx]
            if mod == "pip":
                self.packages(cmd, "pip", argv[idx:], image, cl)
            elif mod in ("http.server", "SimpleHTTPServer"):
                port = tools.port_of(argv[idx + 1]) if idx + 1 < len(argv) else 8000
                self.network(host="", port=port or 8000, image=image, command_line=cl,
                             span=cmd.span, activity="listen", app="http")
        elif how == "stdin" and cmd.stdin is not None:
            pl = cmd.stdin
            code = pl.text()
            via = cmd.via + (pl.label(name),)
            host = self.code_command(code, lang, cmd, pl.span, via) or cmd
            self.code(code, lang, pl.base, None if pl.base is not None else pl.span, via, host, depth)
        elif how == "file" and idx < len(argv):
            self.run_file(cmd, argv[idx], lang, depth, image)

    def locate(self, cmd: SimpleCommand, idx: int, value: str) -> tuple[int | None, tuple[int, int]]:
        """(exact base, fallback span) of argv[idx] in the analysed text."""
        spans = cmd.arg_spans
        span = spans[idx] if idx < len(spans) else cmd.span
        if value and span[1] - span[0] >= len(value):
            pos = self.text.find(value, span[0], span[1])
            if pos >= 0:
                return pos, span
        return None, span

    def code(self, code: str, lang: str, base: int | None, span: tuple[int, int] | None,
             via: tuple[str, ...], parent: SimpleCommand | None, depth: int) -> None:
        if depth >= MAX_DEPTH:
            self.degraded = True
            return
        if lang == "python":
            facts = analyze_python(code, base=base or 0, span=None if base is not None else span,
                                   via=via)
        elif lang == "shell":
            script = parse_script(code, base=base or 0, span=None if base is not None else span,
                                  via=via, parent=parent,
                                  interpreter=parent.argv[0] if parent and parent.argv else "",
                                  env=self.ctx.env or None, depth=depth + 1)
            if script.truncated:
                self.truncated = True
            if script.degraded:
                self.degraded = True
            for c in script.commands:
                if self.full():
                    return
                self.command(c, depth + 1)
            return
        else:
            facts = analyze_tokens(code, lang, base=base or 0,
                                   span=None if base is not None else span, via=via)
        self.facts(facts, parent, depth)

    def code_command(self, code: str, lang: str, host: SimpleCommand | None, span: tuple[int, int],
                     via: tuple[str, ...]) -> SimpleCommand | None:
        """Code that runs but is on no command line (a here-doc or pipe into ``python3 -``, a
        decoded ``exec`` payload, a script file written earlier) is reported as its interpreter
        with the code as argument, ``python3 -c <code>``, a child of ``host``: rules written for
        code on a command line see it whatever the wrapper. Returns that command (the parent of
        what the code starts), or None for a language with no such form."""
        flag = _CODE_FLAG.get(lang)
        if flag is None or not code.strip() or self.full():
            return None
        if host is not None and host.argv and interpreter_language(host.name) == lang:
            prog = host.argv[0]
        elif lang == "python":
            prog = basename(self.ctx.python_image)
        else:
            prog = lang
        argv = (prog, flag, code) if flag else (prog, code)
        cmd = new_command(argv=argv, span=span, via=via, parent=host)
        if host is not None and host.argv:
            pimg, pcl = image_of(host.argv[0], self.ctx.cwd), cap(host.command_line())
        else:
            pimg, pcl = self.root_image, self.root_cl
        self.process(image=image_of(prog, self.ctx.cwd), command_line=cap(cmd.command_line()),
                     argv=argv, parent_image=pimg, parent_command_line=pcl, via=via, span=span,
                     user=host.user if host is not None else "")
        return cmd

    def facts(self, facts: list[Fact], parent: SimpleCommand | None, depth: int) -> None:
        if parent is not None and parent.argv:
            pimg = image_of(parent.argv[0], self.ctx.cwd)
            pcl = cap(parent.command_line())
        else:
            pimg, pcl = self.root_image, self.root_cl
        for f in facts:
            if self.full():
                return
            kind = f.kind
            if kind == "exec" and f.argv:
                for c in commands_from_argv(f.argv, span=f.span, via=f.via + (f.api,), parent=parent,
                                            depth=depth + 1):
                    self.command(c, depth + 1)
            elif kind == "shell" and f.text:
                sh = new_command(argv=("/bin/sh", "-c", f.text), span=f.span, via=f.via + (f.api,),
                                 arg_spans=(f.span,) * 3, parent=parent)
                self.command(sh, depth + 1)
                self.code(f.text, "shell", f.base, f.span, sh.via + ("sh -c",), sh, depth + 1)
            elif kind in ("connect", "http", "listen"):
                detail = f.detail
                app = ""
                for k, v in detail:
                    if k == "app_protocol":
                        app = v
                detail = tuple(kv for kv in detail if kv[0] != "app_protocol")
                if f.api:
                    detail += (("api", f.api),)
                if kind == "http":
                    u = tools.parse_url(f.url)
                    if u is None:
                        continue
                    detail += (("url", f.url[:400]),)
                    if f.method:
                        detail += (("method", f.method),)
                    self.network(host=u.host, port=u.port, image=pimg, command_line=pcl,
                                 span=f.span, app=u.scheme.split("+")[0], detail=detail)
                elif kind == "listen":
                    self.network(host="", port=f.port, image=pimg, command_line=pcl, span=f.span,
                                 activity="listen", detail=detail)
                else:
                    if f.url:
                        detail += (("url", f.url[:400]),)
                    self.network(host=f.host, port=f.port, image=pimg, command_line=pcl,
                                 span=f.span, protocol=f.protocol, app=app, detail=detail)
            elif kind == "dns":
                self.dns(name=f.host, image=pimg, command_line=pcl, span=f.span)
            elif kind == "file":
                if f.activity == "content":
                    self.ctx.remember(f.path, f.content, append=True)
                    continue
                act = "write" if f.activity == "append" else f.activity
                self.file(activity=act, path=f.path, image=pimg, command_line=pcl, span=f.span,
                          content=f.content or dict(f.detail).get("source", "") or dict(f.detail).get("mode", ""))
                if act == "write":
                    if f.content or f.activity == "write":
                        self.ctx.remember(f.path, f.content, append=f.activity == "append")
            elif kind == "env" and not f.name:  # the whole environment (one named variable is config)
                self.file(activity="read", path="/proc/self/environ", image=pimg, command_line=pcl,
                          span=f.span)
            elif kind == "fileless":
                self.file(activity="create", path=f.path or "memfd:", image=pimg, command_line=pcl,
                          span=f.span)
            elif kind == "code" and f.text:
                self.code_command(f.text, f.language, parent, f.span, f.via + (f.api,))
            elif kind == "run_file" and parent is not None:
                self.run_file(parent, f.path, f.language, depth + 1, pimg, span=f.span)
            elif kind == "run_file":
                host = new_command(argv=(basename(self.ctx.python_image),), span=f.span)
                self.run_file(host, f.path, f.language, depth + 1, pimg, span=f.span)

    def run_file(self, cmd: SimpleCommand, path: str, lang: str, depth: int, image: str,
                 span: tuple[int, int] | None = None) -> None:
        """A file is executed (``bash x.sh``, ``./x``, ``python3 x.py``): if the agent wrote it
        earlier, analyse its content as if it ran here."""
        wf = self.ctx.recall(path)
        if wf is None or not wf.content.strip() or depth >= MAX_DEPTH:
            return
        lang = lang or guess_language(wf.content, path) or "shell"
        where = "this step" if wf.step == self.ctx.step else f"step {wf.step}"
        via = cmd.via + (f"script {path} written in {where}",)
        target = span or cmd.span
        if lang == "shell":
            interp = cmd.argv[0] if cmd.name in SHELLS else ""
            script = parse_script(wf.content, span=target, via=via,
                                  parent=cmd if cmd.name not in ("source", ".") else cmd.parent,
                                  interpreter=interp or "/bin/sh", env=self.ctx.env or None,
                                  depth=depth + 1)
            for c in script.commands:
                if self.full():
                    return
                self.command(c, depth + 1)
        else:
            host = self.code_command(wf.content, lang, cmd, target, via) or cmd
            if lang == "python":
                self.facts(analyze_python(wf.content, span=target, via=via), host, depth + 1)
            else:
                self.facts(analyze_tokens(wf.content, lang, span=target, via=via), host, depth + 1)

    def tokens(self, text: str, lang: str) -> None:
        facts = analyze_tokens(text, lang)
        for f in facts:
            if self.full():
                return
            if f.kind == "connect":
                app = dict(f.detail).get("app_protocol", "")
                self.network(host=f.host, port=f.port, image="", command_line=cap(text),
                             span=f.span, protocol=f.protocol, app=app,
                             detail=(("confidence", "low"),))
            elif f.kind == "http":
                u = tools.parse_url(f.url)
                if u is not None:
                    self.network(host=u.host, port=u.port, image="", command_line=cap(text),
                                 span=f.span, app=u.scheme, detail=(("url", f.url[:400]),
                                                                    ("confidence", "low")))
            elif f.kind == "file":
                self.file(activity="read", path=f.path, image="", command_line=cap(text), span=f.span)
            elif f.kind == "env" and not f.name:
                self.file(activity="read", path="/proc/self/environ", image="",
                          command_line=cap(text), span=f.span)

    # -- per-program handlers ----------------------------------------------------------------

    def packages(self, cmd: SimpleCommand, name: str, argv: tuple[str, ...], image: str, cl: str) -> None:
        for kind, url in tools.package_urls(name, argv):
            u = tools.parse_url(url, "https")
            if u is not None:
                self.network(host=u.host, port=u.port, image=image, command_line=cl, span=cmd.span,
                             app=u.scheme, detail=((kind, url[:400]),))

    # -- files whose lines run later (Makefile, package.json) --------------------------------

    def file_commands(self, path: str, content: str, writer: SimpleCommand, base: int | None,
                      depth: int, *, partial: bool = False) -> bool:
        """Commands that a build or package file runs later, like cron lines and ``ExecStart``:
        each Makefile recipe line (a makefile by name, or makefile content under a name that says
        nothing) and each package.json script is reported as the ``/bin/sh -c`` that make or npm
        starts (child of ``make`` / ``npm run <name>``), then the commands inside it. The same for
        a file-tool write and a shell write (``cat > Makefile <<EOF``, ``tee``).
        ``base`` is the content's offset in the call text when spans can be exact. Returns whether
        ``path`` is such a file."""
        if files.makefile_like(path, content):
            runner = new_command(argv=("make",), span=writer.span, via=writer.via, parent=writer)
            self.make_recipes(content, runner, base, depth)
            return True
        if files.PACKAGE_JSON.search(path):
            for name, script in files.package_scripts(content, partial=partial):
                if self.full():
                    break
                runner = new_command(argv=("npm", "run", name), span=writer.span, via=writer.via,
                                     parent=writer)
                pos = content.find(script) if base is not None else -1
                self.run_later(script, script, None if pos < 0 or base is None else base + pos,
                               f"package.json script {name}", runner, depth)
            return True
        return False

    def make_recipes(self, content: str, runner: SimpleCommand, base: int | None, depth: int) -> None:
        """Each recipe line of a Makefile as the ``/bin/sh -c`` that ``runner`` (make) starts."""
        for r in files.make_recipes(content):
            if self.full():
                break
            self.run_later(r.text, r.shell, None if base is None else base + r.offset,
                           "Makefile recipe", runner, depth, length=r.length, verbatim=r.verbatim)

    def run_later(self, text: str, shell: str, base: int | None, label: str,
                  runner: SimpleCommand, depth: int, *, length: int = -1,
                  verbatim: bool | None = None) -> None:
        """One command line that a build tool runs later, as the ``/bin/sh -c`` it starts.
        ``length`` is that of the line as written at ``base`` when ``text`` is not verbatim;
        ``verbatim`` says whether ``shell`` is exactly the text at ``base`` (default: whether it
        equals ``text``)."""
        if depth >= MAX_DEPTH:
            self.degraded = True
            return
        via = runner.via + (label,)
        span = (base, base + (len(text) if length < 0 else length)) if base is not None else runner.span
        sh = new_command(argv=("/bin/sh", "-c", text), span=span, via=via, arg_spans=(span,) * 3,
                         parent=runner)
        self.command(sh, depth + 1)
        exact = shell == text if verbatim is None else verbatim
        self.code(shell, "shell", base if exact else None, span, via + ("sh -c",), sh, depth + 1)

