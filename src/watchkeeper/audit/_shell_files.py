"""Which files common programs read, write, delete or change, from their arguments (their
redirections are handled by the parser). Pure functions of an argv tuple; they never raise."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from watchkeeper.audit._shell_tools import positional

Argv = tuple[str, ...]

# -- files ----------------------------------------------------------------------------------------

READERS: dict[str, str] = {
    "cat": "", "tac": "", "less": "bhjkopPtTxyz", "more": "n", "head": "nc", "tail": "ncs",
    "nl": "bdfhilnsvw", "od": "AjNSstw", "xxd": "cgloOsn", "hexdump": "eefns", "hd": "eefns",
    "strings": "nteoT", "base64": "w", "base32": "w", "basenc": "w", "md5sum": "", "sha1sum": "",
    "sha256sum": "", "sha512sum": "", "shasum": "a", "cksum": "a", "b2sum": "l", "wc": "",
    "sort": "kotSTt", "uniq": "fsw", "cut": "bcdf", "file": "mfF", "stat": "cf", "diff": "CUFIxXS",
    "cmp": "inI", "jq": "", "yq": "", "column": "cstoNRHW", "fold": "w", "fmt": "w", "iconv": "fto",
    "bat": "lmHrp", "batcat": "lmHrp", "view": "", "zcat": "", "bzcat": "", "xzcat": "",
    "zless": "", "zmore": "", "tee": "", "paste": "d", "join": "12jteo", "comm": "", "expand": "t",
    "tr": "", "rev": "", "gpg": "orRuk", "vim": "cSuUiTw", "vi": "cSuUiTw", "nano": "",
    "emacs": "l", "source": "", ".": "",
}
"""Programs whose non-option arguments are files they read (with their short options that take
a value)."""

GREPS = frozenset({"grep", "egrep", "fgrep", "zgrep", "rg", "ag", "ack", "ripgrep"})
DELETERS = frozenset({"rm", "unlink", "shred", "srm", "wipe", "rmdir"})


class FileOp(NamedTuple):
    """One file a command touches: activity ("read", "write", "create", "delete", "rename",
    "chmod", "link"), path, and extra text (mode, link target, source path)."""

    activity: str
    path: str
    extra: str = ""


def _non_options(argv: Argv, short: str, long_arg: frozenset[str] = frozenset()) -> list[str]:
    pos, _ = positional(argv, short, long_arg)
    return [argv[i] for i in pos]


def file_ops(name: str, argv: Argv) -> list[FileOp]:
    """Files read/written/deleted... by a command, from its arguments (not its redirections)."""
    if name in READERS:
        if name in ("tee",):
            args = _non_options(argv, "")
            return [FileOp("write", a) for a in args if a not in ("-",)]
        if name in ("tr",):
            return []
        if name in ("vim", "vi", "nano", "emacs"):
            return [FileOp("read", a) for a in _non_options(argv, READERS[name])
                    if not a.startswith("+")][:8]
        return [FileOp("read", a) for a in _non_options(argv, READERS[name]) if a != "-"][:64]
    if name in GREPS:
        pos, opts = positional(argv, "efmABCdDgtTjM" if name == "rg" else "efmABCdD",
                                frozenset({"--regexp", "--file", "--max-count", "--include",
                                           "--exclude", "--exclude-dir", "--context", "--glob",
                                           "--type", "--type-not"}))
        args = [argv[i] for i in pos]
        if not any(k in opts for k in ("-e", "-f", "--regexp", "--file")):
            args = args[1:]
        ops = [FileOp("read", a) for a in args if a != "-"][:64]
        for f in opts.get("-f", []) + opts.get("--file", []):
            ops.append(FileOp("read", f))
        return ops
    if name in ("cp", "install", "mv", "ln"):
        short = {"cp": "tSZ", "install": "tSmogZ", "mv": "tSZ", "ln": "tS"}[name]
        pos, opts = positional(argv, short, frozenset({"--target-directory", "--suffix",
                                                         "--mode", "--owner", "--group"}))
        args = [argv[i] for i in pos]
        target_dir = (opts.get("-t") or opts.get("--target-directory") or [""])[-1]
        if name == "install" and "-d" in opts:
            return []
        if target_dir:
            srcs, dst_dir = args, target_dir
        elif len(args) >= 2:
            srcs, dst_dir = args[:-1], args[-1]
        elif name == "ln" and len(args) == 1:
            srcs, dst_dir = args, "./"
        else:
            return []
        ops = []
        multi = len(srcs) > 1 or bool(target_dir) or dst_dir.endswith("/")
        for src in srcs[:64]:
            dst = (dst_dir.rstrip("/") + "/" + src.rstrip("/").rpartition("/")[2]) if multi else dst_dir
            if name == "ln":
                ops.append(FileOp("link", dst, src))
            elif name == "mv":
                ops.append(FileOp("rename", dst, src))
            else:
                ops.append(FileOp("read", src))
                ops.append(FileOp("write", dst, src))
        return ops
    if name == "dd":
        ops = []
        for a in argv[1:]:
            if a.startswith("if="):
                ops.append(FileOp("read", a[3:]))
            elif a.startswith("of="):
                ops.append(FileOp("write", a[3:]))
        return ops
    if name == "sed":
        pos, opts = positional(argv, "efl", frozenset({"--expression", "--file", "--line-length"}))
        args = [argv[i] for i in pos]
        if not any(k in opts for k in ("-e", "-f", "--expression", "--file")):
            args = args[1:]
        inplace = "-i" in opts or "--in-place" in opts or any(a.startswith("--in-place") for a in argv)
        return [FileOp("write" if inplace else "read", a) for a in args][:64]
    if name in ("awk", "gawk", "mawk", "nawk"):
        pos, opts = positional(argv, "fvF", frozenset())
        args = [argv[i] for i in pos]
        if "-f" not in opts:
            args = args[1:]
        return [FileOp("read", a) for a in args if "=" not in a][:64]
    if name in ("chmod", "chown", "chgrp", "chattr"):
        rest = [a for a in argv[1:] if a not in _MODE_OPTS and not a.startswith("--")]
        if len(rest) < 2:
            return []
        act = "chown" if name in ("chown", "chgrp") else "chmod"
        return [FileOp(act, f, rest[0]) for f in rest[1:65]]
    if name == "touch":
        return [FileOp("create", a) for a in _non_options(argv, "dtr", frozenset({"--date", "--reference"}))][:64]
    if name in DELETERS:
        return [FileOp("delete", a) for a in _non_options(argv, "ns" if name == "shred" else "")][:64]
    if name == "truncate":
        return [FileOp("write", a) for a in _non_options(argv, "sr", frozenset({"--size", "--reference"}))]
    if name in ("tar", "bsdtar"):
        return _tar(argv)
    if name in ("zip", "7z", "7za", "rar"):
        args = _non_options(argv, "xixbnPt")
        if name.startswith("7z") or name == "rar":
            if args and args[0] in ("a", "u"):
                args = args[1:]
            else:
                return [FileOp("read", a) for a in args[1:2]]
        if not args:
            return []
        return [FileOp("write", args[0])] + [FileOp("read", a) for a in args[1:65]]
    if name in ("unzip", "gunzip", "bunzip2", "unxz"):
        return [FileOp("read", a) for a in _non_options(argv, "dPx")][:8]
    if name == "openssl":
        ops = []
        for k in range(1, len(argv) - 1):
            if argv[k] == "-in":
                ops.append(FileOp("read", argv[k + 1]))
            elif argv[k] == "-out":
                ops.append(FileOp("write", argv[k + 1]))
        return ops
    return []


_MODE_OPTS = frozenset({"-R", "-v", "-f", "-c", "-h", "-H", "-L", "-P", "-V", "-RL", "-Rv", "-Rf"})


def _tar(argv: Argv) -> list[FileOp]:
    if len(argv) < 2:
        return []
    args = list(argv[1:])
    if not args[0].startswith("-") and args[0].isalpha():
        args[0] = "-" + args[0]
    pos, opts = positional(("tar", *args), "fCbTXKgLNVH", frozenset(
        {"--file", "--directory", "--exclude", "--files-from", "--exclude-from", "--transform"}))
    letters = set("".join(k[1:] for k in opts if len(k) == 2))
    files = opts.get("-f", []) + opts.get("--file", [])
    members = [(("tar",) + tuple(args))[i] for i in pos]
    if "c" in letters or "--create" in opts or "r" in letters or "u" in letters:
        return [FileOp("write", f) for f in files if f != "-"] + [FileOp("read", m) for m in members][:64]
    if "x" in letters or "--extract" in opts or "t" in letters:
        return [FileOp("read", f) for f in files if f != "-"]
    return []


def crontab_target(argv: Argv, user: str) -> tuple[str, str]:
    """(activity, source) of a crontab command: ("install", FILE or "-"), ("list", ""),
    ("remove", ""), ("edit", "")."""
    pos, opts = positional(argv, "uc", frozenset())
    if "-l" in opts:
        return "list", ""
    if "-r" in opts:
        return "remove", ""
    if "-e" in opts:
        return "edit", ""
    args = [argv[i] for i in pos]
    return "install", args[0] if args else "-"


def crontab_user(argv: Argv, default: str) -> str:
    """The user whose crontab a crontab command changes."""
    _, opts = positional(argv, "uc", frozenset())
    users = opts.get("-u", [])
    return users[-1] if users else default



# -- build and package files: commands that run later ---------------------------------------------

MAKEFILE = re.compile(r"(?:^|/)(?:GNUmakefile|[Mm]akefile|[^/]+\.mk)$")
"""Makefiles, by name: their recipe lines are shell commands run by make."""
PACKAGE_JSON = re.compile(r"(?:^|/)package\.json$")
"""npm package manifests: their ``scripts`` are shell commands run by npm (``postinstall`` runs
on ``npm install``)."""
CONFIG_FILE = re.compile(
    r"\.(?:toml|ini|conf|cfg|json|desktop)$|(?:^|/)\.ssh/config$|ssh_config[^/]*$", re.I)
"""Configuration files whose content carries behaviour to the rules (tunnel and proxy clients,
ssh forwards, miner pools, autostart entries)."""
TOOL_CONFIG = re.compile(r"(?:(?:^|/)[^/]*(?:frp[cs]?|rathole|xmrig|cloudflared|ngrok)[^/]*"
                         r"|/\.cloudflared/[^/]*|/ngrok/[^/]*)\.ya?ml$", re.I)
"""YAML configuration of tunnelling and mining tools (``frpc.yml``, ``~/.cloudflared/config.yml``,
``~/.config/ngrok/ngrok.yml``); other YAML (CI pipelines, manifests) is not read as config."""
_NOT_CONFIG = re.compile(r"(?:^|/)(?:package-lock|composer\.lock|[^/]*\.min)\.json$|\.lock$", re.I)
_MAX_RECIPES = 256
_MAX_SCRIPTS = 256
_MAX_JSON = 1 << 20
_AUTOMATIC = frozenset("<^?*+|%")
_LIFECYCLE = re.compile(
    r'"((?:pre|post)?(?:install|prepare|publish|pack|uninstall|start|test|build|dev)|prepublishOnly)"'
    r'\s*:\s*"((?:[^"\\\n]|\\.){1,4096})"')


def config_like(path: str) -> bool:
    """Whether a written file is configuration by its name (package.json and lock files are
    not: their scripts are analysed as commands)."""
    if _NOT_CONFIG.search(path) or PACKAGE_JSON.search(path):
        return False
    return CONFIG_FILE.search(path) is not None


def make_to_shell(text: str) -> str:
    """A recipe as the shell parser should read it: ``$$`` is ``$``, make references
    (``$(MAKE)``, ``${CC}``, ``$(wildcard *.c)``) become plain ``${NAME}`` words that the parser
    keeps as text, automatic variables (``$<``, ``$^``) become ``${<}``, ``$@`` stays, and
    ``$(shell cmd)`` becomes the substitution ``$(cmd)``. Linear; unbalanced input is kept."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0 or j + 1 >= n:
            out.append(text[i:])
            break
        out.append(text[i:j])
        d = text[j + 1]
        if d == "$":
            out.append("$")
            i = j + 2
        elif d in "({":
            close = ")" if d == "(" else "}"
            depth, k = 1, j + 2
            while k < n and depth:
                ch = text[k]
                if ch == d:
                    depth += 1
                elif ch == close:
                    depth -= 1
                k += 1
            if depth:
                out.append(text[j:])
                break
            inner = text[j + 2:k - 1]
            name, sep, args = inner.partition(" ")
            if name == "shell" and sep:
                out.append("$(" + args.replace("$$", "$") + ")")
            else:
                out.append("${" + (re.sub(r"\W", "_", name) or "_") + "}")
            i = k
        elif d in _AUTOMATIC:
            out.append("${" + d + "}")
            i = j + 2
        else:
            out.append("$" + d)
            i = j + 2
    return "".join(out)


class Recipe(NamedTuple):
    """One recipe line of a Makefile: its offset in the file, the text as written (without the
    tab and the ``@``/``-``/``+`` prefixes) and the text the shell receives."""

    offset: int
    text: str
    shell: str


def make_recipes(content: str) -> list[Recipe]:
    """Recipe lines (tab-indented, with backslash continuations joined) of a Makefile."""
    out: list[Recipe] = []
    lines = content.split("\n")
    pos = 0
    i = 0
    while i < len(lines) and len(out) < _MAX_RECIPES:
        line = lines[i]
        start = pos
        pos += len(line) + 1
        i += 1
        if not line.startswith("\t"):
            continue
        body = line[1:]
        while body.endswith("\\") and i < len(lines):
            nxt = lines[i]
            pos += len(nxt) + 1
            i += 1
            body += "\n" + (nxt[1:] if nxt.startswith("\t") else nxt)
        stripped = body.lstrip(" \t@-+")
        if not stripped.strip() or stripped.lstrip().startswith("#"):
            continue
        offset = start + 1 + (len(body) - len(stripped))
        out.append(Recipe(offset, stripped, make_to_shell(stripped)))
    return out


def package_scripts(content: str, *, partial: bool = False) -> list[tuple[str, str]]:
    """(name, command) of every entry of a package.json ``scripts`` object. JSON is parsed
    safely; a broken file gives nothing, except for a ``partial`` text (an edit's new text),
    where npm lifecycle entries (``"postinstall": "..."``) are read from the text."""
    if len(content) > _MAX_JSON:
        return []
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        scripts = data.get("scripts")
        if not isinstance(scripts, dict):
            return []
        return [(str(k), v) for k, v in list(scripts.items())[:_MAX_SCRIPTS]
                if isinstance(v, str) and v.strip()]
    if not partial:
        return []
    out: list[tuple[str, str]] = []
    for m in _LIFECYCLE.finditer(content):
        try:
            value = json.loads('"' + m.group(2) + '"')
        except ValueError:
            continue
        if isinstance(value, str) and value.strip():
            out.append((m.group(1), value))
        if len(out) >= _MAX_SCRIPTS:
            break
    return out
