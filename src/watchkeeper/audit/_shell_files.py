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


NAMED_FORMAT = re.compile(
    r"\.(?:md|markdown|rst|adoc|txt\.gz|csv|tsv|log|html?|xml|svg|css|scss|less|tex|sql|ipynb|"
    r"py|pyi|js|mjs|cjs|ts|tsx|jsx|go|c|h|cc|cpp|hpp|rs|java|kt|rb|pl|pm|php|lua|swift|cs|scala|"
    r"r|jl|ex|exs|erl|hs|ml|vue|svelte|proto|graphql|ya?ml|lock|tf|hcl|j2|jinja|tmpl|mustache|"
    r"po|pem|crt|key|pub|patch|diff|sh|bash|zsh|ksh|fish|ps1|bat|cmd)$"
    r"|(?:^|/)(?:Dockerfile|Containerfile|LICENSE|COPYING|NOTICE|CHANGELOG|AUTHORS|README)[^/]*$",
    re.I)
"""Names that say what a file is (documents, data, source code, scripts, YAML, keys, patches):
their content is not sniffed (:func:`sniff_content`)."""
SNIFF_HEAD = 4096
"""Characters of written content that :func:`sniff_content` looks at."""
_JSON_KEY = re.compile(r'^\{\s*"[^"\n]{1,200}"\s*:')
_SECTION = re.compile(r"^[ \t]*\[\[?[^\[\]\n=]{1,80}\]\]?[ \t]*$", re.M)
_KEY_VALUE = re.compile(r"^[ \t]*[A-Za-z_][\w.-]{0,80}[ \t]*=[ \t]*\S", re.M)
_SSH_HOST = re.compile(r"^Host[ \t]+\S", re.M)
_SSH_OPTION = re.compile(r"^[ \t]+(?:HostName|RemoteForward|LocalForward|DynamicForward|ProxyCommand"
                         r"|ProxyJump|IdentityFile|User|Port)[ \t=]+\S", re.M)
_MAKE_RULE = re.compile(r"^[\w.%/$(){}-]{1,80}[ \t]*::?(?:[ \t][^=\n]*)?\n\t[ \t]*[^\s#]", re.M)


def sniff_content(content: str) -> str:
    """What written content is when its name says nothing (``settings.txt``, ``app.dat``, a
    name without a suffix), from its first :data:`SNIFF_HEAD` characters: "json" (a JSON
    object), "ini" (INI/TOML: a ``[section]`` with ``key = value`` lines, or mostly
    ``key = value`` lines), "ssh_config" (``Host`` blocks with ssh options), "makefile"
    (a ``target:`` line of one plain target name followed by a tab-indented recipe) or "" (prose,
    CSV, logs, anything else). Shebangs are read by
    :func:`watchkeeper.audit.decode.guess_language`."""
    head = content[:SNIFF_HEAD].lstrip("\ufeff \t\r\n")
    if not head:
        return ""
    first = head[0]
    if first == "{":
        return "json" if _JSON_KEY.match(head) else ""
    if "=" in head:
        kv = len(_KEY_VALUE.findall(head))
        if kv:
            if _SECTION.search(head):
                return "ini"
            lines = sum(1 for line in head.splitlines()
                        if line.strip() and not line.lstrip().startswith(("#", ";")))
            if kv >= 2 and kv * 5 >= lines * 3:
                return "ini"
    if "Host" in head and _SSH_HOST.search(head) and _SSH_OPTION.search(head):
        return "ssh_config"
    if not head.startswith("#!") and _makefile_head(head):
        return "makefile"
    return ""


def _makefile_head(head: str) -> bool:
    return "\n\t" in head and _MAKE_RULE.search(head) is not None


def makefile_like(path: str, content: str) -> bool:
    """Whether ``content`` written at ``path`` is a makefile whose recipes are reported when it
    is written: a makefile by name (:data:`MAKEFILE`), or makefile content
    (:func:`sniff_content`) under a name that says nothing (not :data:`NAMED_FORMAT`, a
    configuration name or package.json)."""
    if MAKEFILE.search(path):
        return True
    if NAMED_FORMAT.search(path) or PACKAGE_JSON.search(path) or CONFIG_FILE.search(path):
        return False
    head = content[:SNIFF_HEAD].lstrip("\ufeff \t\r\n")
    return not head.startswith("#!") and _makefile_head(head)


def config_like(path: str) -> bool:
    """Whether a written file is configuration by its name (package.json and lock files are
    not: their scripts are analysed as commands)."""
    if _NOT_CONFIG.search(path) or PACKAGE_JSON.search(path):
        return False
    return CONFIG_FILE.search(path) is not None


_MAKE_VAR = re.compile(r"^(?:(?:export|override)[ \t]+)*([A-Za-z_][\w.-]*)[ \t]*(?:\?|::?|\+|!)?=[ \t]*(.*)$",
                       re.M)
_MAX_MAKE_VARS = 256
_MAKE_VAR_DEPTH = 4


def make_variables(content: str) -> dict[str, str]:
    """Variables a Makefile defines with a literal value (``URL ?= https://...``, ``CC := gcc``,
    ``export X = y``; ``+=`` appends), for the first :data:`_MAX_MAKE_VARS` definitions outside
    recipes. Values keep their own make references; :func:`make_to_shell` expands them."""
    out: dict[str, str] = {}
    for m in _MAKE_VAR.finditer(content):
        if len(out) >= _MAX_MAKE_VARS:
            break
        name, value = m.group(1), m.group(2).strip()
        if m.group(0).rstrip().endswith("\\"):
            continue
        op = m.group(0)[m.end(1) - m.start(0):].lstrip()
        if op.startswith("+=") and name in out:
            out[name] = f"{out[name]} {value}"
        elif op.startswith("?=") and name in out:
            continue
        else:
            out[name] = value
    return out


def make_to_shell(text: str, variables: dict[str, str] | None = None, _depth: int = 0) -> str:
    """A recipe as the shell parser should read it: ``$$`` is ``$``, references to variables the
    Makefile defines (``variables``, from :func:`make_variables`) become their values, other make
    references (``$(MAKE)``, ``${CC}``, ``$(wildcard *.c)``) become plain ``${NAME}`` words that
    the parser keeps as text, automatic variables (``$<``, ``$^``) become ``${<}``, ``$@``
    stays, and ``$(shell cmd)`` becomes the substitution ``$(cmd)``. Linear per level; values
    are expanded at most :data:`_MAKE_VAR_DEPTH` levels deep; unbalanced input is kept."""
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
            elif variables and not sep and name in variables and _depth < _MAKE_VAR_DEPTH:
                out.append(make_to_shell(variables[name], variables, _depth + 1))
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


def makefiles_of(argv: Argv) -> list[str]:
    """The makefiles a ``make`` command reads: its ``-f FILE`` / ``--file=FILE`` /
    ``--makefile=FILE`` arguments, joined to ``-C DIR`` when given."""
    names: list[str] = []
    directory = ""
    i = 1
    n = len(argv)
    while i < n and len(names) < 8:
        a = argv[i]
        if a in ("-f", "--file", "--makefile") and i + 1 < n:
            names.append(argv[i + 1])
            i += 2
            continue
        if a in ("-C", "--directory") and i + 1 < n:
            directory = argv[i + 1]
            i += 2
            continue
        if a.startswith(("--file=", "--makefile=")):
            names.append(a.partition("=")[2])
        elif a.startswith("--directory="):
            directory = a.partition("=")[2]
        elif a.startswith("-f") and len(a) > 2:
            names.append(a[2:])
        elif a.startswith("-C") and len(a) > 2:
            directory = a[2:]
        i += 1
    names = [x for x in names if x and x != "-"]
    if directory:
        names = [x if x.startswith(("/", "~")) else f"{directory.rstrip('/')}/{x}" for x in names]
    return names


class Recipe(NamedTuple):
    """One recipe line of a Makefile: its offset in the file, its text (without the tab and the
    ``@``/``-``/``+`` prefixes) as make hands it to ``sh -c`` (variables the Makefile defines
    expanded, other references as written), the text the shell parser reads, and the length of
    the line as written (``text`` may be longer once expanded)."""

    offset: int
    text: str
    shell: str
    length: int = -1
    verbatim: bool = True
    """Whether ``shell`` is the line exactly as written (its spans can be exact)."""


_MAKE_REF = re.compile(r"\$[({]([A-Za-z_][\w.-]*)[)}]")


def _expand_known(text: str, variables: dict[str, str], depth: int = 0) -> str:
    """``text`` with references to ``variables`` replaced by their (expanded) values; other
    references stay as written."""
    if "$" not in text or depth >= _MAKE_VAR_DEPTH:
        return text
    return _MAKE_REF.sub(lambda m: _expand_known(variables[m.group(1)], variables, depth + 1)
                         if m.group(1) in variables else m.group(0), text)


def make_recipes(content: str) -> list[Recipe]:
    """Recipe lines (tab-indented, with backslash continuations joined) of a Makefile, with the
    variables the Makefile defines expanded in their shell form."""
    out: list[Recipe] = []
    variables = make_variables(content) if "=" in content else None
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
        text = _expand_known(stripped, variables) if variables else stripped
        shell = make_to_shell(stripped, variables)
        out.append(Recipe(offset, text, shell, len(stripped), shell == stripped))
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
