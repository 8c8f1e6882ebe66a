"""The command line that starts one process inside a sandbox.

Layers, outermost first (each one ``exec``s the next, so they are all one process):

1. ``/bin/sh -c 'echo $$ > <cgroup.procs>...; exec "$@"'``: joins the sandbox cgroup in every
   hierarchy before anything else runs; every descendant inherits it.
2. ``ip netns exec wk-<id>``: enters the sandbox's network namespace (bwrap cannot join one).
3. ``setpriv --no-new-privs [--reuid U --regid G --clear-groups]``: no privilege gain through
   setuid binaries, and optionally an unprivileged user.
4. ``bwrap``: new pid, ipc, uts (and cgroup) namespaces, read-only root, writable work dir,
   private ``/tmp``, fresh ``/proc`` and a minimal ``/dev``, all capabilities dropped, a new session,
   death with its parent, and the seccomp filter from an inherited fd.
5. optionally the Landlock helper, then the command.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from watchkeeper.errors import SandboxError

#: PATH inside the sandbox unless the caller sets one.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class Bind:
    """An extra mount inside the sandbox.

    Attributes:
        src: Host path.
        dest: Path inside the sandbox (``src`` when None).
        mode: ``"ro"`` read-only, ``"rw"`` writable, ``"dev"`` device access (GPU nodes...).
        optional: Skip silently when ``src`` does not exist (bwrap's ``-try`` variants).
    """

    src: str
    dest: str | None = None
    mode: Literal["ro", "rw", "dev"] = "ro"
    optional: bool = False

    @property
    def target(self) -> str:
        """Where the mount appears inside the sandbox."""
        return self.dest or self.src

    def argv(self) -> list[str]:
        """The bwrap arguments for this mount."""
        flag = {"ro": "--ro-bind", "rw": "--bind", "dev": "--dev-bind"}[self.mode]
        return [flag + ("-try" if self.optional else ""), self.src, self.target]


@dataclass(frozen=True, slots=True)
class BwrapOptions:
    """What bwrap sets up around the command.

    Attributes:
        workdir: Host directory bound writable at the same path.
        binds: Extra mounts, applied after the defaults (so they can override them).
        hide: Paths covered by an empty tmpfs (host secrets under the read-only root).
        hostname: Host name inside the sandbox.
        chdir: Working directory inside (``workdir`` when None).
        seccomp_fd: Inherited fd holding the seccomp filter, or None for no filter.
        resolv_conf_fd: Inherited fd whose content becomes ``/etc/resolv.conf`` (bwrap copies it,
            so no host file has to be readable by the sandbox user).
        unshare_user: New user namespace (needed when bwrap runs unprivileged).
        tmp_size: Size limit of the ``/tmp`` tmpfs in bytes.
        extra_args: Raw bwrap options from trusted callers (for example the ``--dev-bind``
            pairs of :func:`watchkeeper.sandbox.gpu.gpu_bwrap_args`), placed after the binds.
    """

    workdir: str
    binds: tuple[Bind, ...] = ()
    hide: tuple[str, ...] = ()
    hostname: str = "sandbox"
    chdir: str | None = None
    seccomp_fd: int | None = None
    resolv_conf_fd: int | None = None
    unshare_user: bool = False
    tmp_size: int | None = None
    extra_args: tuple[str, ...] = ()


def bwrap_argv(opts: BwrapOptions, command: Sequence[str], *, bwrap: str = "bwrap") -> list[str]:
    """The bwrap command line for ``command``."""
    if not command:
        raise SandboxError("no command to run in the sandbox")
    if not Path(opts.workdir).is_absolute():
        raise SandboxError(f"work dir {opts.workdir!r} must be an absolute path")
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if opts.unshare_user:
        argv += ["--unshare-user", "--disable-userns"]
    argv += [
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--hostname", opts.hostname,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    if opts.tmp_size is not None:
        argv += ["--size", str(opts.tmp_size)]
    argv += ["--tmpfs", "/tmp"]
    for path in opts.hide:
        argv += ["--tmpfs", path]
    argv += ["--bind", opts.workdir, opts.workdir]
    for bind in opts.binds:
        argv += bind.argv()
    argv += list(opts.extra_args)
    if opts.resolv_conf_fd is not None:
        target = resolv_conf_target()
        if target is not None:
            argv += ["--ro-bind-data", str(opts.resolv_conf_fd), target]
    if opts.seccomp_fd is not None:
        argv += ["--seccomp", str(opts.seccomp_fd)]
    argv += ["--chdir", opts.chdir or opts.workdir, "--", *command]
    return argv


def privileges_argv(uid: int | None = None, gid: int | None = None) -> list[str]:
    """``setpriv`` prefix: always no_new_privs; switches user when ``uid`` is given."""
    argv = ["setpriv", "--no-new-privs"]
    if uid is not None:
        argv += ["--reuid", str(uid), "--regid", str(gid if gid is not None else uid),
                 "--clear-groups"]
    return argv + ["--"]


def netns_argv(netns: str) -> list[str]:
    """Prefix that runs the rest inside network namespace ``netns``."""
    return ["ip", "netns", "exec", netns]


def cgroup_entry_argv(procs_files: Sequence[Path | str]) -> list[str]:
    """Prefix that moves the process into the given ``cgroup.procs`` files, then execs the rest.

    A failed write (for example a full ``pids.max``) aborts before anything else runs.
    """
    writes = " && ".join(f"echo $$ > {shlex.quote(str(p))}" for p in procs_files)
    script = (writes + " && " if writes else "") + 'exec "$@"'
    return ["/bin/sh", "-c", script, "wk-enter"]


def landlock_argv(
    python: str,
    helper_source: str,
    rw_paths: Sequence[str],
    connect_ports: Sequence[int] | None = None,
) -> list[str]:
    """Prefix that applies Landlock (best effort: skipped where the kernel lacks it).

    The helper's source is passed with ``-c`` so no host file has to be visible inside.
    """
    argv = [python, "-I", "-S", "-c", helper_source, "--best-effort"]
    for path in rw_paths:
        argv += ["--rw", path]
    for port in connect_ports or ():
        argv += ["--connect-port", str(port)]
    return argv + ["--"]


def resolv_conf_target() -> str | None:
    """Where the sandbox's resolv.conf must be mounted: ``/etc/resolv.conf`` or the file it links
    to (bwrap cannot mount over a symlink); None when the host has neither."""
    path = Path("/etc/resolv.conf")
    if path.is_symlink():
        real = path.resolve()
        return str(real) if real.exists() else None
    return str(path) if path.exists() else None
