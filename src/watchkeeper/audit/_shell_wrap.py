"""Which commands run other commands, and where in their argv the inner command is.

Two kinds of nesting:

* ``argv`` nests run ``argv[start:end]`` as a command (``sudo``, ``nohup``, ``timeout N``,
  ``env X=Y``, ``xargs``, ``find -exec``, ``docker exec``, ``kubectl exec -- ...``);
* ``script`` nests run ``" ".join(argv[start:end])`` as a shell script (``sh -c``, ``eval``,
  ``su -c``, ``ssh host cmd``, ``watch``, ``tmux new 'cmd'``, ``socat SYSTEM:``).

Everything here is a pure function of an argv tuple and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

Argv = tuple[str, ...]


class Nest(NamedTuple):
    """Where a command nests another: ``argv[start:end]`` run as ``kind`` ("argv"/"script")."""

    kind: str
    start: int
    end: int
    label: str
    user: str = ""
    shell: str = ""
    assigns: tuple[tuple[str, str], ...] = ()
    text: str | None = None


SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "pdksh", "yash", "fish", "csh", "tcsh",
     "rbash", "bsh", "posh", "ksh93", "oksh", "loksh", "lksh"}
)
"""Programs that interpret shell scripts."""

STDIN_SHELL_SINKS = SHELLS | {"at", "batch"}
"""Programs that run what they read on stdin as shell commands."""


def basename(prog: str) -> str:
    """``/usr/bin/python3`` -> ``python3``."""
    return prog.rpartition("/")[2] if "/" in prog else prog


def _skip(
    argv: Argv,
    i: int,
    short_arg: str = "",
    long_arg: frozenset[str] = frozenset(),
    *,
    numeric_flags: bool = False,
) -> int:
    """Index of the first non-option at or after i. Short options in ``short_arg`` take a value
    (attached or next word); ``--long`` options in ``long_arg`` take the next word unless
    written ``--long=value``. ``--`` ends the options."""
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "--":
            return i + 1
        if len(a) < 2 or a[0] != "-":
            return i
        if a.startswith("--"):
            if "=" not in a and a in long_arg:
                i += 2
            else:
                i += 1
            continue
        if numeric_flags and a[1:].isdigit():
            i += 1
            continue
        j = 1
        takes = False
        while j < len(a):
            if a[j] in short_arg:
                takes = j == len(a) - 1
                break
            j += 1
        i += 2 if takes else 1
    return i


def _argv_from(argv: Argv, i: int, label: str, **kw: str) -> list[Nest]:
    if i < len(argv):
        return [Nest("argv", i, len(argv), label, kw.get("user", ""), kw.get("shell", ""))]
    return []


# -- shells and interpreters ------------------------------------------------------------------------


def shell_invocation(argv: Argv) -> tuple[str, int, str]:
    """How a shell is invoked: ("c", index of script, flag word), ("file", index, ""),
    ("stdin", -1, "") or ("interactive", -1, flags)."""
    i = 1
    n = len(argv)
    c_flag = ""
    flags = ""
    while i < n:
        a = argv[i]
        if a == "--" or a == "-":
            i += 1
            break
        if a in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if a.startswith("--"):
            if a == "--command" and not c_flag:
                c_flag = a
            i += 1
            continue
        if len(a) > 1 and a[0] in "-+":
            flags += a[1:]
            if "c" in a[1:] and not c_flag:
                c_flag = a
            i += 1
            continue
        break
    if c_flag:
        return ("c", i, c_flag) if i < n else ("interactive", -1, flags)
    if "s" in flags or i >= n:
        return ("stdin", -1, flags) if "i" not in flags else ("interactive", -1, flags)
    return ("file", i, "")


_CODE_FLAGS: dict[str, tuple[str, ...]] = {
    "python": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "--eval", "-p", "--print"),
    "php": ("-r",),
    "lua": ("-e",),
    "awk": (),
    "tclsh": (),
}
_INTERP_SHORT_ARG: dict[str, str] = {
    "python": "mWXQ",
    "perl": "IMmCdDilx",
    "ruby": "IrCEFK",
    "node": "r",
    "php": "cdfzt",
    "lua": "l",
    "awk": "fvF",
}


def interpreter_language(name: str) -> str:
    """"python", "perl", "ruby", "node", "php", "lua", "awk" for an interpreter name, else ""."""
    if name.startswith(("python", "pypy")):
        return "python"
    if name.startswith("perl"):
        return "perl"
    if name.startswith(("ruby", "jruby")):
        return "ruby"
    if name in ("node", "nodejs", "deno", "bun"):
        return "node"
    if name.startswith("php"):
        return "php"
    if name.startswith(("lua", "luajit")):
        return "lua"
    if name in ("awk", "gawk", "mawk", "nawk", "busybox-awk"):
        return "awk"
    if name.startswith("tclsh"):
        return "tclsh"
    return ""


def interpreter_invocation(argv: Argv) -> tuple[str, str, int]:
    """For an interpreter command: (language, how, index) where how is "code" (argv[index] is
    the program text: ``python -c``, ``perl -e``, awk's program), "module" (``python -m``),
    "file" (a script path), "stdin" or "" when argv[0] is not an interpreter."""
    lang = interpreter_language(basename(argv[0])) if argv else ""
    if not lang:
        return "", "", -1
    n = len(argv)
    flags = _CODE_FLAGS.get(lang, ())
    short = _INTERP_SHORT_ARG.get(lang, "")
    i = 1
    while i < n:
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a == "-":
            return lang, "stdin", -1
        if len(a) < 2 or a[0] != "-":
            break
        if a in flags:
            return (lang, "code", i + 1) if i + 1 < n else (lang, "", -1)
        if lang == "python" and a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            rest = a[a.index("c") + 1 :]
            if rest:
                return lang, "code_attached", i
            return (lang, "code", i + 1) if i + 1 < n else (lang, "", -1)
        if lang == "python" and a == "-m":
            return lang, "module", i + 1
        if lang in ("perl", "ruby") and a[1:2] in ("e", "E") and a[:2] in ("-e", "-E"):
            return lang, "code_attached", i
        if lang == "perl" and "e" in a[1:] and a[1:].isalpha():
            return (lang, "code", i + 1) if i + 1 < n else (lang, "", -1)
        if a.startswith("--") and "=" in a:
            key = a.partition("=")[0]
            if key in flags:
                return lang, "code_attached", i
            i += 1
            continue
        if lang == "awk" and a[:2] == "-f":
            return lang, "file", i + 1 if a == "-f" else i
        if a[1:2] in short and len(a) == 2:
            i += 2
            continue
        i += 1
    if i >= n:
        return lang, "stdin", -1
    if lang == "awk":
        return lang, "code", i
    return lang, "file", i


# -- wrappers ---------------------------------------------------------------------------------------


def _sudo(argv: Argv) -> list[Nest]:
    user = "root"
    i = 1
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or len(a) < 2:
            break
        if a.startswith("--"):
            key, eq, val = a.partition("=")
            if key == "--user":
                user = val if eq else (argv[i + 1] if i + 1 < n else user)
            i += 2 if (not eq and (key in _SUDO_LONG or key == "--user")) else 1
            continue
        takes = False
        for j in range(1, len(a)):
            if a[j] in "ugCDprtUT":
                rest = a[j + 1 :]
                if a[j] == "u":
                    user = rest or (argv[i + 1] if i + 1 < n else user)
                takes = not rest
                break
        i += 2 if takes else 1
    return _argv_from(argv, i, basename(argv[0]), user=user)


_SUDO_LONG = frozenset(
    {"--group", "--close-from", "--chdir", "--prompt", "--role", "--type", "--other-user",
     "--command-timeout", "--host"}
)


def _simple(short_arg: str = "", long_arg: frozenset[str] = frozenset(), numeric: bool = False
            ) -> Callable[[Argv], list[Nest]]:
    def nest(argv: Argv) -> list[Nest]:
        i = _skip(argv, 1, short_arg, long_arg, numeric_flags=numeric)
        return _argv_from(argv, i, basename(argv[0]))

    return nest


def _after_positional(count: int, short_arg: str = "", long_arg: frozenset[str] = frozenset()
                      ) -> Callable[[Argv], list[Nest]]:
    """Options, then ``count`` positional words (a duration, a mask...), then the command."""

    def nest(argv: Argv) -> list[Nest]:
        i = _skip(argv, 1, short_arg, long_arg) + count
        return _argv_from(argv, i, basename(argv[0]))

    return nest


def _env(argv: Argv) -> list[Nest]:
    i = 1
    n = len(argv)
    assigns: list[tuple[str, str]] = []
    while i < n:
        a = argv[i]
        if a in ("-S", "--split-string") and i + 1 < n:
            return [Nest("script", i + 1, i + 2, "env -S", text=argv[i + 1])]
        if a.startswith("-S") and len(a) > 2:
            return [Nest("script", i, i + 1, "env -S", text=a[2:])]
        if a in ("-u", "-C", "--unset", "--chdir"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            if a == "--":
                break
            continue
        if "=" in a and not a.startswith("="):
            k, _, v = a.partition("=")
            assigns.append((k, v))
            i += 1
            continue
        break
    if i < n:
        return [Nest("argv", i, n, "env", assigns=tuple(assigns))]
    return []


def _xargs(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "IndPLsaEe", _XARGS_LONG)
    return _argv_from(argv, i, "xargs", shell="sh")


_XARGS_LONG = frozenset(
    {"--max-args", "--max-procs", "--max-lines", "--delimiter", "--eof", "--max-chars",
     "--arg-file", "--replace", "--process-slot-var"}
)


def _command(argv: Argv) -> list[Nest]:
    if len(argv) > 1 and argv[1] in ("-v", "-V"):
        return []
    return _argv_from(argv, _skip(argv, 1), "command")


def _watch(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "nq", frozenset({"--interval", "--differences"}))
    if i >= len(argv):
        return []
    if any(a in ("-x", "--exec") for a in argv[1:i]):
        return [Nest("argv", i, len(argv), "watch")]
    return [Nest("script", i, len(argv), "watch", shell="sh")]


def _find(argv: Argv) -> list[Nest]:
    out: list[Nest] = []
    n = len(argv)
    i = 1
    while i < n:
        if argv[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < n and argv[j] not in (";", "+", "\\;"):
                j += 1
            if j > i + 1:
                out.append(Nest("argv", i + 1, j, f"find {argv[i]}"))
            i = j
        i += 1
    return out


_FIND_NAME = frozenset({"-name", "-iname", "-lname", "-ilname"})
_FIND_PATH = frozenset({"-path", "-ipath", "-wholename", "-iwholename"})
_FIND_VALUE = frozenset({"-type", "-xtype", "-maxdepth", "-mindepth", "-mtime", "-mmin", "-atime",
                         "-amin", "-ctime", "-cmin", "-size", "-perm", "-user", "-group", "-uid",
                         "-gid", "-newer", "-regex", "-iregex", "-regextype", "-fstype", "-inum",
                         "-links", "-samefile", "-printf", "-fprint", "-fprint0", "-fprintf",
                         "-fls", "-used", "-context"})
MAX_FIND_MATCHES = 8
"""Patterns reported for what one ``find`` matches."""


def find_matches(argv: Argv) -> list[str]:
    """What a ``find`` command matches, as glob patterns: ``ROOT/**/NAME`` for each root and
    each ``-name``/``-iname`` test (``find ~ -name '*.pem'`` -> ``~/**/*.pem``), the pattern of a
    ``-path`` test as written, or ``ROOT/**`` when no name is tested. Negated tests (``!``,
    ``-not``) are left out. These stand for the files that ``-exec cmd {}`` or ``| xargs cmd``
    receive."""
    n = len(argv)
    i = 1
    while i < n and argv[i] in ("-H", "-L", "-P"):
        i += 1
    roots: list[str] = []
    while i < n and argv[i] and argv[i][0] not in "-(!)":
        roots.append(argv[i])
        i += 1
    names: list[str] = []
    paths: list[str] = []
    negated = False
    while i < n:
        a = argv[i]
        if a in ("-exec", "-execdir", "-ok", "-okdir"):
            while i < n and argv[i] not in (";", "+", "\\;"):
                i += 1
        elif a in ("!", "-not"):
            negated = True
            i += 1
            continue
        elif i + 1 < n and (a in _FIND_NAME or a in _FIND_PATH):
            if not negated:
                (names if a in _FIND_NAME else paths).append(argv[i + 1])
            i += 1
        elif a in _FIND_VALUE:
            i += 1
        negated = False
        i += 1
    out = list(paths)
    for root in roots or ["."]:
        base = root.rstrip("/") if root != "/" else ""
        if names:
            out.extend(f"{base}/**/{name}" for name in names)
        elif not paths:
            out.append(f"{base}/**")
    return out[:MAX_FIND_MATCHES]


def xargs_placeholder(argv: Argv) -> str | None:
    """The replace string of ``xargs -I R`` / ``-i`` / ``--replace[=R]``, or None when xargs
    appends its input items to the command."""
    i = 1
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "-I" and i + 1 < n:
            return argv[i + 1]
        if a.startswith("-I") and len(a) > 2:
            return a[2:]
        if a in ("-i", "--replace"):
            return "{}"
        if a.startswith("--replace="):
            return a.partition("=")[2] or "{}"
        if a.startswith("-i") and len(a) > 2 and not a.startswith("--"):
            return a[2:]
        if not a.startswith("-") or a == "--":
            return None
        if a in _XARGS_LONG or (len(a) == 2 and a[1] in "ndPLsaEe"):
            i += 1  # the option's value
        i += 1
    return None


def _ssh(argv: Argv) -> list[Nest]:
    out: list[Nest] = []
    host_i = ssh_host_index(argv)
    for k in range(1, len(argv) - 1 if host_i < 0 else host_i):
        if argv[k] == "-o":
            opt = argv[k + 1]
            key, sep, val = opt.partition("=")
            if not sep:
                key, _, val = opt.partition(" ")
            if key.lower() in ("proxycommand", "localcommand") and val:
                out.append(Nest("script", k + 1, k + 2, f"ssh {key}", shell="sh", text=val))
    if 0 <= host_i < len(argv) - 1:
        out.append(Nest("script", host_i + 1, len(argv), "ssh", shell="sh"))
    return out


SSH_SHORT_ARG = "BbcDEeFIiJLlmOopQRSWw"


def ssh_host_index(argv: Argv) -> int:
    """Index of the destination in an ssh command line, -1 when absent."""
    i = _skip(argv, 1, SSH_SHORT_ARG)
    return i if i < len(argv) else -1


def _su(argv: Argv) -> list[Nest]:
    user = ""
    script_i = -1
    i = 1
    n = len(argv)
    while i < n:
        a = argv[i]
        if a in ("-c", "--command", "--session-command") and i + 1 < n:
            script_i = i + 1
            i += 2
            continue
        if a.startswith("--command="):
            return [Nest("script", i, i + 1, "su -c", user or "root", "sh", text=a[10:])]
        if a in ("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"):
            i += 2
            continue
        if a == "-u" and basename(argv[0]) == "runuser" and i + 1 < n:
            user = argv[i + 1]
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            if a == "--" and basename(argv[0]) == "runuser":
                return _argv_from(argv, i, "runuser", user=user or "root")
            continue
        if not user:
            user = a
        i += 1
    if script_i > 0:
        return [Nest("script", script_i, script_i + 1, f"{basename(argv[0])} -c", user or "root", "sh")]
    return []


def _eval(argv: Argv) -> list[Nest]:
    if len(argv) > 1:
        return [Nest("script", 1, len(argv), "eval")]
    return []


def _container(argv: Argv) -> list[Nest]:
    if len(argv) < 3:
        return []
    sub = argv[1]
    if basename(argv[0]) in ("docker", "podman", "nerdctl") and sub in ("exec", "run", "container"):
        k = 2
        if sub == "container":
            if argv[2] not in ("exec", "run"):
                return []
            sub = argv[2]
            k = 3
        long_arg = _DOCKER_EXEC_LONG if sub == "exec" else _DOCKER_RUN_LONG
        short = "euw" if sub == "exec" else "eupvwlhmacn"
        i = _skip(argv, k, short, long_arg) + 1  # past the container / image
        return _argv_from(argv, i, f"{basename(argv[0])} {sub}", shell="sh")
    if basename(argv[0]) in ("kubectl", "oc") and sub == "exec":
        try:
            i = argv.index("--", 2) + 1
        except ValueError:
            return []
        return _argv_from(argv, i, f"{basename(argv[0])} exec", shell="sh")
    return []


_DOCKER_EXEC_LONG = frozenset({"--env", "--env-file", "--user", "--workdir", "--detach-keys"})
_DOCKER_RUN_LONG = frozenset(
    {"--env", "--env-file", "--user", "--workdir", "--volume", "--publish", "--name", "--network",
     "--net", "--entrypoint", "--mount", "--label", "--hostname", "--cpus", "--memory",
     "--add-host", "--cap-add", "--cap-drop", "--device", "--dns", "--gpus", "--ipc", "--pid",
     "--platform", "--restart", "--runtime", "--security-opt", "--shm-size", "--tmpfs", "--ulimit",
     "--expose", "--log-driver", "--log-opt", "--stop-signal", "--attach", "--cidfile",
     "--cgroupns", "--userns", "--uts", "--pull", "--label-file", "--link", "--volumes-from"}
)


def _flock(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "Ew", frozenset({"--timeout", "--conflict-exit-code"})) + 1
    n = len(argv)
    if i < n and argv[i] in ("-c", "--command") and i + 1 < n:
        return [Nest("script", i + 1, i + 2, "flock -c", shell="sh")]
    return _argv_from(argv, i, "flock")


def _script(argv: Argv) -> list[Nest]:
    for k in range(1, len(argv) - 1):
        if argv[k] in ("-c", "--command"):
            return [Nest("script", k + 1, k + 2, "script -c", shell="sh")]
        if argv[k].startswith("-") and not argv[k].startswith("--") and argv[k].endswith("c"):
            return [Nest("script", k + 1, k + 2, "script -c", shell="sh")]
    return []


def _screen(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "SceEhpstTX", frozenset({"-Logfile"}))
    return _argv_from(argv, i, "screen")


def _tmux(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "LSfT")
    n = len(argv)
    if i >= n:
        return []
    sub = argv[i]
    if sub in ("new-session", "new", "new-window", "neww", "split-window", "splitw",
               "respawn-pane", "run-shell", "run"):
        j = _skip(argv, i + 1, "sncteFxyblp")
        if j < n:
            return [Nest("script", j, n, f"tmux {sub}", shell="sh")]
    if sub in ("send-keys", "send"):
        j = _skip(argv, i + 1, "tN")
        keys = [k for k in argv[j:] if k not in ("Enter", "C-m", "KPEnter")]
        if keys:
            return [Nest("script", j, n, "tmux send-keys", shell="sh", text=" ".join(keys))]
    return []


def _socat(argv: Argv) -> list[Nest]:
    out: list[Nest] = []
    for k in range(1, len(argv)):
        a = argv[k]
        head, sep, rest = a.partition(":")
        if not sep:
            continue
        key = head.upper()
        prog = rest.split(",", 1)[0]
        if key == "SYSTEM" and prog:
            out.append(Nest("script", k, k + 1, "socat SYSTEM", shell="sh", text=prog))
        elif key == "EXEC" and prog:
            out.append(Nest("script", k, k + 1, "socat EXEC", shell="sh", text=prog))
    return out


def _netcat(argv: Argv) -> list[Nest]:
    for k in range(1, len(argv) - 1):
        a = argv[k]
        if a in ("-e", "--exec") or (a.startswith("-") and not a.startswith("--") and a.endswith("e")
                                     and a[1:].isalpha() and len(a) <= 5):
            return [Nest("script", k + 1, k + 2, f"{basename(argv[0])} -e", shell="sh")]
        if a in ("-c", "--sh-exec"):
            return [Nest("script", k + 1, k + 2, f"{basename(argv[0])} -c", shell="sh")]
    return []


def _busybox(argv: Argv) -> list[Nest]:
    if len(argv) > 1 and not argv[1].startswith("-"):
        return [Nest("argv", 1, len(argv), basename(argv[0]))]
    return []


def _systemd_run(argv: Argv) -> list[Nest]:
    i = _skip(argv, 1, "pEMu", frozenset({"--unit", "--property", "--description", "--slice",
                                          "--on-calendar", "--on-active", "--setenv", "--uid",
                                          "--gid", "--working-directory", "--machine", "--host"}))
    return _argv_from(argv, i, "systemd-run")


NESTS: dict[str, Callable[[Argv], list[Nest]]] = {
    "sudo": _sudo,
    "doas": _simple("uC"),
    "pkexec": _simple("", frozenset({"--user"})),
    "nohup": _simple(),
    "setsid": _simple(),
    "nice": _simple("n", frozenset({"--adjustment"}), numeric=True),
    "ionice": _simple("cnp", frozenset({"--class", "--classdata"})),
    "timeout": _after_positional(1, "sk", frozenset({"--signal", "--kill-after"})),
    "stdbuf": _simple("ioe", frozenset({"--input", "--output", "--error"})),
    "env": _env,
    "exec": _simple("a"),
    "command": _command,
    "builtin": _simple(),
    "time": _simple("fo", frozenset({"--format", "--output"})),
    "xargs": _xargs,
    "watch": _watch,
    "busybox": _busybox,
    "toybox": _busybox,
    "strace": _simple("oepsuEPaIbOX"),
    "ltrace": _simple("oepsuEaAnl"),
    "proxychains": _simple("f"),
    "proxychains4": _simple("f"),
    "torsocks": _simple("udpaP"),
    "tsocks": _simple(),
    "firejail": _simple(),
    "chroot": _after_positional(1, "", frozenset({"--userspec", "--groups"})),
    "nsenter": _simple("tSGrwTP", frozenset({"--target", "--setuid", "--setgid", "--root", "--wd"})),
    "unshare": _simple("", frozenset({"--map-user", "--map-group", "--propagation", "--setgroups"})),
    "taskset": _after_positional(1),
    "chrt": _after_positional(1, "TPD"),
    "flock": _flock,
    "script": _script,
    "screen": _screen,
    "tmux": _tmux,
    "socat": _socat,
    "nc": _netcat,
    "ncat": _netcat,
    "netcat": _netcat,
    "find": _find,
    "ssh": _ssh,
    "su": _su,
    "runuser": _su,
    "eval": _eval,
    "docker": _container,
    "podman": _container,
    "nerdctl": _container,
    "kubectl": _container,
    "oc": _container,
    "sshpass": _simple("pfdP"),
    "unbuffer": _simple(),
    "faketime": _after_positional(1),
    "cgexec": _simple("g"),
    "systemd-run": _systemd_run,
    "caffeinate": _simple(),
    "xvfb-run": _simple("nsfe"),
}
"""Commands that run another command, by base name."""


def nests(argv: Argv) -> list[Nest]:
    """Every command nested in ``argv`` (empty for most commands)."""
    if not argv:
        return []
    prog = argv[0]
    fn = NESTS.get(prog.rpartition("/")[2] if "/" in prog else prog)
    if fn is None:
        return []
    return fn(argv)
