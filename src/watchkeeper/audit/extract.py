"""From one tool call to the typed events Sigma rules match: process launches, network
connections, DNS lookups, file activity.

:func:`events_for_tool_call` parses shell commands (:mod:`watchkeeper.audit.shell`), analyses
code (:mod:`watchkeeper.audit.pycode`) and knows what common programs do with their arguments
(:mod:`watchkeeper.audit._programs`, :mod:`watchkeeper.audit._shell_tools`). Files written by the
agent are remembered in the :class:`TrajectoryContext`, so a script written in one step and run
in a later one is analysed as one story. This module holds the entry points, one per tool kind;
the event builder and the shell-command walk are in :mod:`watchkeeper.audit._emit`. See
``docs/understanding.md`` for the event shapes rules can rely on.
"""

from __future__ import annotations

import re

from watchkeeper.audit import _programs as programs  # importing it fills _emit.HANDLERS
from watchkeeper.audit import _shell_files as files
from watchkeeper.audit._context import TrajectoryContext
from watchkeeper.audit._emit import CONTENT_HEAD as CONTENT_HEAD
from watchkeeper.audit._emit import MAX_EVENTS as MAX_EVENTS
from watchkeeper.audit._emit import MAX_FIELD as MAX_FIELD
from watchkeeper.audit._emit import Analysis as Analysis
from watchkeeper.audit._emit import Emitter, cap
from watchkeeper.audit._emit import image_of as image_of
from watchkeeper.audit._shell_model import new_command
from watchkeeper.audit._shell_wrap import basename, interpreter_language
from watchkeeper.audit.decode import guess_language
from watchkeeper.audit.pycode import analyze_python, analyze_tokens
from watchkeeper.events import Event
from watchkeeper.trajectories import ToolCall, ToolKind

__all__ = ["MAX_EVENTS", "Analysis", "analyse_tool_call", "events_for_tool_call", "image_of"]

_SHELL_FILES = re.compile(r"(?:^|/)(?:\.bashrc|\.bash_profile|\.bash_login|\.profile|\.zshrc|\.zprofile"
                          r"|\.kshrc|rc\.local|profile|bash\.bashrc|environment)$")
_CRON_PATH = re.compile(r"^/etc/cron|^/var/spool/cron|/crontab$|\.cron$")
_EXEC_START = re.compile(r"^\s*(?:ExecStart|ExecStartPre|ExecStartPost|ExecStop|ExecReload)=[-@:+!]*(.+)$",
                         re.M)
_MAGIC = re.compile(r"^[ \t]*(!|%%?(?:bash|sh|system|sx|script\s+(?:ba)?sh)\b)(.*)$", re.M)


def _python_call(em: Emitter, code: str) -> None:
    ctx = em.ctx
    img = ctx.python_image
    name = basename(img)
    em.root_image = img
    em.root_cl = cap(f"{name} -c {code}")
    root = new_command(argv=(name, "-c", code), span=(0, len(code)))
    em.process(image=img, command_line=em.root_cl, argv=(name, "-c", code), parent_image="",
               parent_command_line="", via=(), span=(0, len(code)))
    em.root_image = ctx.shell_image
    py = code
    if "!" in code or "%" in code:
        chunks: list[str] = []
        for m in _MAGIC.finditer(code):
            if m.group(1) == "!":
                chunks.append(m.group(2))
                em.root_cl = cap(f"{basename(ctx.shell_image)} -c {m.group(2)}")
                em.code(m.group(2), "shell", m.start(2), None, ("!",), None, 0)
            else:
                body_start = m.end() + 1
                em.code(code[body_start:], "shell", body_start, None, (m.group(1),), None, 0)
                py = py[: m.start()] + " " * (len(py) - m.start())
                break
            py = py[: m.start()] + " " * (m.end() - m.start()) + py[m.end():]
    em.facts(analyze_python(py), root, 0)


def _file_write(em: Emitter, call: ToolCall) -> None:
    ctx = em.ctx
    path = call.path or ""
    content = call.content or ""
    cl = cap(f"{call.name} {path}".strip())
    em.file(activity="write", path=path, image="", command_line=cl, span=(0, len(content)),
            content=content)
    if not path:
        return
    edit = call.kind is ToolKind.FILE_EDIT
    known = ctx.recall(path)
    ctx.remember(path, (known.content + "\n" + content) if edit and known is not None else content)
    if not content.strip():
        return
    resolved = ctx.resolve(path)
    label = f"content of {path}"
    writer = new_command(argv=(call.name or "write",), span=(0, len(content)))
    if _CRON_PATH.search(resolved):
        programs.cron_lines(em, content, writer, 0, f"crontab {path}")
        return
    if resolved.endswith((".service", ".timer", ".socket")) or "[Service]" in content[:4096]:
        for m in _EXEC_START.finditer(content):
            em.code(m.group(1), "shell", m.start(1), None, (f"systemd unit {path}",), writer, 0)
        return
    if em.file_commands(resolved, content, writer, 0, 0, partial=edit) or files.config_like(resolved):
        programs.heredoc_write(em, call, path, content, edit)
        return
    lang = guess_language(content, path)
    if not lang and _SHELL_FILES.search(resolved):
        lang = "shell"
    if not lang and files.TOOL_CONFIG.search(resolved):
        programs.heredoc_write(em, call, path, content, edit)
        return
    if not lang and not files.NAMED_FORMAT.search(resolved):
        # the name says nothing (settings.txt, app.dat): what does the content look like?
        # (makefile content had its recipes reported by file_commands above)
        if files.sniff_content(content):
            programs.heredoc_write(em, call, path, content, edit)
            return
    if lang == "shell":
        # as the same script written with a here-doc (pipelines and loops are on the tool
        # shell's command line), then its commands
        programs.heredoc_write(em, call, path, content, edit)
        em.code(content, "shell", 0, None, (label,), None, 0)
    elif lang == "python":
        em.facts(analyze_python(content, via=(label,)), None, 0)
    elif lang and interpreter_language(lang):
        em.facts(analyze_tokens(content, interpreter_language(lang), via=(label,)), None, 0)


def analyse_tool_call(call: ToolCall, ctx: TrajectoryContext) -> Analysis:
    """Events for one tool call plus the truncation/degradation flags. Updates ``ctx`` (files
    written, working directory, variables). Never raises on any input."""
    em = _analyse(call, ctx)
    return Analysis(tuple(em.events), em.truncated, em.degraded)


def _analyse(call: ToolCall, ctx: TrajectoryContext) -> Emitter:
    text = call.text
    em = Emitter(call, ctx, text)
    kind = call.kind
    try:
        if kind is ToolKind.SHELL:
            if text:
                em.shell_text(text, root=True)
        elif kind is ToolKind.PYTHON:
            if text:
                _python_call(em, text)
        elif kind is ToolKind.FILE_WRITE or kind is ToolKind.FILE_EDIT:
            _file_write(em, call)
        elif kind is ToolKind.FILE_READ:
            if call.path:
                em.file(activity="read", path=call.path, image="",
                        command_line=cap(f"{call.name} {call.path}".strip()), span=(0, len(text)))
        elif text:
            em.tokens(text, "args")
    except RecursionError:  # pragma: no cover - every level is depth-capped
        em.degraded = True
    return em


def events_for_tool_call(call: ToolCall, ctx: TrajectoryContext) -> list[Event]:
    """The events one tool call would cause, each carrying the context's attribution and a
    span into ``call.text``. Updates ``ctx``. Never raises."""
    return _analyse(call, ctx).events

