"""What common programs do when a shell command runs them: fetchers and ssh connect, netcat
and socat open sockets, scanners probe, file tools read and write, ``crontab`` installs lines
that run later, compilers build the sources the agent wrote.

Each handler turns one parsed command into events through an :class:`Emitter`; importing this
module registers them in :data:`watchkeeper.audit._emit.HANDLERS`. The argv knowledge itself
lives in :mod:`watchkeeper.audit._shell_tools` and :mod:`watchkeeper.audit._shell_files`.
"""

from __future__ import annotations

import re
import shlex

from watchkeeper.audit import _shell_files as files
from watchkeeper.audit import _shell_tools as tools
from watchkeeper.audit._emit import HANDLERS, MAX_DEPTH, MAX_FIELD, Emitter, cap, image_of
from watchkeeper.audit._shell_model import SimpleCommand, new_command
from watchkeeper.audit._shell_wrap import SHELLS, basename, shell_invocation
from watchkeeper.audit.pycode import analyze_tokens
from watchkeeper.trajectories import ToolCall

_FETCHERS = frozenset({"curl", "wget", "wget2", "http", "https", "xh", "xhs", "httpie", "aria2c",
                       "lynx", "links", "w3m", "fetch"})
_SSHES = frozenset({"ssh", "scp", "sftp", "rsync", "autossh", "sshfs", "mosh"})
_NCS = frozenset({"nc", "ncat", "netcat", "telnet", "nc.traditional", "nc.openbsd"})
_SCANNERS = frozenset({"nmap", "masscan", "zmap", "rustscan", "naabu", "hping3", "ping", "ping6",
                       "fping", "traceroute", "tracepath", "mtr", "arping"})
_DNS_TOOLS = frozenset({"dig", "kdig", "drill", "delv", "nslookup", "host", "getent", "resolvectl",
                        "systemd-resolve"})
_PKG = frozenset({"pip", "pip3", "pipx", "uv", "npm", "yarn", "pnpm", "gem", "poetry", "conda",
                  "easy_install", "bun"})
_CRON_LINE = re.compile(r"^\s*(?:@\w+|(?:\S+\s+){5})(.+)$")
_PLAIN_PATH = re.compile(r"^[\w./~+@%:,=-]+$")


def _h_fetch(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    info = tools.fetch(name, cmd.argv)
    detail = tuple(info.detail)
    for up in info.uploads:
        em.file(activity="read", path=up, image=image, command_line=cl, span=cmd.span)
    if info.uploads:
        detail += tuple(("upload", up) for up in info.uploads)
    for url in info.urls[:32]:
        if url.startswith("stratum"):
            continue  # reported by the stratum scan
        u = tools.parse_url(url, "http")
        if u is None:
            continue
        em.network(host=u.host, port=u.port, image=image, command_line=cl, span=cmd.span,
                   app=u.scheme, detail=detail + (("url", url[:400]),))
    for out in info.outputs:
        em.file(activity="write", path=out, image=image, command_line=cl, span=cmd.span)
        em.ctx.remember(out, "")


def _h_ssh(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    remotes, uploads = tools.ssh_like(name, cmd.argv)
    for up in uploads:
        em.file(activity="read", path=up, image=image, command_line=cl, span=cmd.span)
    for r in remotes:
        em.network(host=r.host, port=r.port, image=image, command_line=cl, span=cmd.span,
                   protocol=r.protocol, app=r.app, detail=tuple(r.detail))


def _remotes(em: Emitter, cmd: SimpleCommand, image: str, cl: str, remotes: list[tools.Remote]) -> None:
    for r in remotes:
        if r.app == "listen":
            em.network(host="", port=r.port, image=image, command_line=cl, span=cmd.span,
                       protocol=r.protocol, activity="listen", detail=tuple(r.detail))
        else:
            em.network(host=r.host, port=r.port, image=image, command_line=cl, span=cmd.span,
                       protocol=r.protocol, app=r.app if r.app != "proxy" else "",
                       detail=tuple(r.detail))


def _h_nc(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    _remotes(em, cmd, image, cl, tools.netcat(name, cmd.argv))


def _h_socat(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    _remotes(em, cmd, image, cl, tools.socat(cmd.argv))


def _h_openssl(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    _remotes(em, cmd, image, cl, tools.openssl_connect(cmd.argv))
    _h_files(em, cmd, name, image, cl, depth)


def _h_git(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    for url in tools.git_urls(cmd.argv):
        u = tools.parse_url(url)
        if u is not None:
            em.network(host=u.host, port=u.port, image=image, command_line=cl, span=cmd.span,
                       app=u.scheme, detail=(("url", url[:400]),))


def _h_pkg(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    em.packages(cmd, name, cmd.argv, image, cl)


def _h_scan(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    s = tools.scan(name, cmd.argv)
    label = "probe" if s.protocol == "icmp" else "scan"
    detail = ((label, name),) + ((("ports", s.ports[:200]),) if s.ports else ())
    for t in s.targets:
        em.network(host=t, port=s.port, image=image, command_line=cl, span=cmd.span,
                   protocol=s.protocol, detail=detail, ip=tools.ip_range(t))


def _h_dns(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    for q in tools.dns_queries(name, cmd.argv)[:32]:
        em.dns(name=q.name, image=image, command_line=cl, span=cmd.span, qtype=q.qtype,
               server=q.server)


def _h_files(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    ctx = em.ctx
    for op in files.file_ops(name, cmd.argv):
        content = op.extra
        if op.activity == "write":
            if name == "tee" and cmd.stdin is not None:
                content = cmd.stdin.text()
                ctx.remember(op.path, content, append="-a" in cmd.argv)
                if content:
                    em.file_commands(ctx.resolve(op.path), content, cmd, None, depth,
                                   partial="-a" in cmd.argv)
            elif op.extra:
                src = ctx.recall(op.extra)
                content = src.content if src is not None else op.extra
                ctx.remember(op.path, src.content if src is not None else "")
        elif op.activity == "rename" and op.extra:
            src = ctx.recall(op.extra)
            if src is not None:
                ctx.remember(op.path, src.content)
                content = src.content
        if (op.activity in ("write", "rename") and op.extra and content and content != op.extra
                and (files.MAKEFILE.search(op.path) or files.PACKAGE_JSON.search(op.path))):
            # a Makefile or package.json that appears by copy or rename runs its lines later too
            em.file_commands(ctx.resolve(op.path), content, cmd, None, depth)
        em.file(activity=op.activity, path=op.path, image=image, command_line=cl, span=cmd.span,
                content=content if op.activity != "rename" else op.extra)
    if name in ("source", ".") and len(cmd.argv) > 1:
        em.run_file(cmd, cmd.argv[1], "shell", depth, image)


def _h_make(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    """make runs the recipes of the makefile it is given: one the agent wrote under a name that
    says what it is (``make -f rules.yml``) or by code is analysed here, as make runs it.
    Makefiles by name or by content (:func:`_shell_files.makefile_like`) had their recipes
    reported when they were written."""
    if depth >= MAX_DEPTH:
        return
    ctx = em.ctx
    step = ctx.step
    for path in files.makefiles_of(cmd.argv):
        wf = ctx.recall(path)
        if wf is None or not wf.content.strip() or files.makefile_like(ctx.resolve(path), wf.content):
            continue
        where = "this step" if wf.step == step else f"step {wf.step}"
        runner = new_command(argv=cmd.argv, span=cmd.span, parent=cmd.parent, user=cmd.user,
                             via=cmd.via + (f"makefile {path} written in {where}",))
        em.make_recipes(wf.content, runner, None, depth)


def _h_crontab(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    ctx = em.ctx
    user = files.crontab_user(cmd.argv, cmd.user or ctx.user or "root")
    action, source = files.crontab_target(cmd.argv, user)
    target = f"/var/spool/cron/crontabs/{user}"
    if action == "list":
        em.file(activity="read", path=target, image=image, command_line=cl, span=cmd.span)
        return
    if action == "remove":
        em.file(activity="delete", path=target, image=image, command_line=cl, span=cmd.span)
        return
    content = ""
    if action == "install":
        if source == "-" and cmd.stdin is not None:
            content = cmd.stdin.text()
        elif source != "-":
            em.file(activity="read", path=source, image=image, command_line=cl, span=cmd.span)
            wf = ctx.recall(source)
            content = wf.content if wf is not None else ""
    em.file(activity="write", path=target, image=image, command_line=cl, span=cmd.span,
            content=content)
    if content:
        cron_lines(em, content, cmd, depth, f"crontab {user}")


def cron_lines(em: Emitter, content: str, parent: SimpleCommand, depth: int, label: str) -> None:
    for line in content.splitlines()[:256]:
        if line.lstrip().startswith("#") or "=" in line.split(" ", 1)[0]:
            continue
        m = _CRON_LINE.match(line)
        if m:
            cron = new_command(argv=("cron",), span=parent.span, via=parent.via, parent=parent)
            em.code(m.group(1), "shell", None, parent.span, parent.via + (label,), cron, depth)


def heredoc_write(em: Emitter, call: ToolCall, path: str, content: str, append: bool) -> None:
    """A file-tool write of a configuration file as the shell write it stands for: the tool
    shell's ``bash -c cat > PATH <<'EOF' ... EOF`` (content on the command line) and its ``cat``
    child, as ``cat > PATH <<EOF`` through the shell would give, with via
    ``("file tool <name>",)``. So every rule that reads written content applies to both forms."""
    if em.full():
        return
    end = "EOF"
    while f"\n{end}\n" in f"\n{content}\n":
        end = "WK_" + end
        if len(end) > 16:
            break
    target = path if _PLAIN_PATH.match(path) else shlex.quote(path)
    head = f"cat {'>>' if append else '>'} {target} <<'{end}'"
    body = content if len(content) <= MAX_FIELD else content[:MAX_FIELD]
    text = f"{head}\n{body.rstrip(chr(10))}\n{end}"
    shell = basename(em.ctx.shell_image)
    root_cl = cap(f"{shell} -c {text}")
    via = (f"file tool {call.name or 'write'}",)
    span = (0, len(call.text))
    em.process(image=em.ctx.shell_image, command_line=root_cl, argv=(shell, "-c", text),
               parent_image="", parent_command_line="", via=via, span=span)
    em.process(image=image_of("cat"), command_line=head, argv=("cat",), parent_image=em.ctx.shell_image,
               parent_command_line=root_cl, via=via, span=span)


_SOURCE_SUFFIXES = (".go", ".c", ".cc", ".cpp", ".cxx", ".c++", ".rs", ".java", ".kt", ".cs",
                    ".swift", ".zig", ".nim", ".d")
"""Source files of compiled languages: built and run by :data:`_BUILDERS`."""
_BUILDERS = frozenset({"go", "gcc", "cc", "clang", "g++", "c++", "clang++", "tcc", "musl-gcc",
                       "rustc", "cargo", "javac", "java", "kotlinc", "swiftc", "swift", "zig", "nim",
                       "dotnet", "mcs", "csc", "gdc", "ldc2", "tinygo"})
_MAX_BUILD_SOURCES = 8
"""Written source files analysed for one build command."""


def _build_sources(em: Emitter, cmd: SimpleCommand) -> list[tuple[str, str]]:
    """(path, content) of the written sources a build command compiles: its source-file
    arguments, or, for a package build (``go run .``, ``cargo run``, ``go build ./cmd``), the
    written sources under that directory (the working directory when none is named)."""
    ctx = em.ctx
    out: list[tuple[str, str]] = []
    dirs: list[str] = []
    for arg in cmd.argv[1:]:
        if arg.endswith(_SOURCE_SUFFIXES):
            wf = ctx.recall(arg)
            if wf is not None and wf.content.strip():
                out.append((arg, wf.content))
        elif arg in (".", "./...") or (arg.startswith(("./", "/", "~")) and "." not in arg.rpartition("/")[2]):
            dirs.append(arg.removesuffix("/..."))
    if not out and cmd.name in ("go", "cargo", "tinygo", "dotnet", "swift", "zig"):
        for d in dirs or ["."]:
            base = ctx.key(d).rstrip("/") if d != "." else ctx.cwd
            if not base:
                continue
            prefix = base + "/"
            for key, wf in ctx.files.items():
                if key.startswith(prefix) and key.endswith(_SOURCE_SUFFIXES) and wf.content.strip():
                    out.append((key, wf.content))
                    if len(out) >= _MAX_BUILD_SOURCES:
                        return out
    return out[:_MAX_BUILD_SOURCES]


def _h_build(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    """A compiler or build tool builds (and for ``go run``/``cargo run``/``java F.java`` runs)
    source the agent wrote: each source is reported as a code event of the compiler,
    ``<compiler> <source>``, so rules about code see it, and its token facts (host:port
    literals, shell strings, URLs) become events whose parent is that code event."""
    if depth >= MAX_DEPTH:
        return
    for path, content in _build_sources(em, cmd):
        if em.full():
            return
        via = cmd.via + (f"source {path} built",)
        argv = (cmd.argv[0], content)
        code_cmd = new_command(argv=argv, span=cmd.span, via=via, parent=cmd)
        em.process(image=image, command_line=cap(f"{cmd.argv[0]} {content}"), argv=argv,
                   parent_image=image, parent_command_line=cl, via=via, span=cmd.span,
                   user=cmd.user)
        em.facts(analyze_tokens(content, "compiled", span=cmd.span, via=via), code_cmd, depth + 1)


def _h_shell(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    how, idx, _ = shell_invocation(cmd.argv)
    if how == "file":
        em.run_file(cmd, cmd.argv[idx], "shell", depth, image)
    elif how == "stdin" and cmd.stdin is None:
        for r in cmd.redirects:
            if r.op == "<" and r.target:
                em.run_file(cmd, r.target, "shell", depth, image)


def _h_awk(em: Emitter, cmd: SimpleCommand, name: str, image: str, cl: str, depth: int) -> None:
    """awk runs its program (an interpreter) and reads or writes the files it names."""
    em.interpreter(cmd, name, image, cl, depth)
    _h_files(em, cmd, name, image, cl, depth)


_FILE_TOOLS = (*files.READERS, *files.GREPS, *files.DELETERS, "cp", "install", "mv", "ln", "dd", "sed",
               "chmod", "chown", "chgrp", "chattr", "touch", "truncate", "tar", "bsdtar", "zip", "7z",
               "7za", "rar", "unzip", "gunzip", "bunzip2", "unxz")
# in this order: a name in two groups gets the later handler
for _names, _handler in (
    (_FETCHERS, _h_fetch), (_SSHES, _h_ssh), (_NCS, _h_nc), (_SCANNERS, _h_scan), (_DNS_TOOLS, _h_dns),
    (_PKG, _h_pkg), (_FILE_TOOLS, _h_files), (SHELLS, _h_shell), (_BUILDERS, _h_build),
    (("socat",), _h_socat), (("openssl",), _h_openssl), (("git",), _h_git), (("crontab",), _h_crontab),
    (("make", "gmake", "remake", "bmake"), _h_make),
    (("awk", "gawk", "mawk", "nawk"), _h_awk),
):
    for _n in _names:
        HANDLERS[_n] = _handler
