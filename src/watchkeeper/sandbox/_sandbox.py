"""The lifecycle of one live sandbox: set up, run commands inside, contain, tear down."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import _cmd, bwrap, landlock, seccomp
from watchkeeper.sandbox._state import (
    STATE_DIR,
    StateRecord,
    owner_alive,
    process_start,
    remove_parts,
    state_path,
    write_state,
)
from watchkeeper.sandbox.cgroup import Cgroup, Limits
from watchkeeper.sandbox.dns import DnsForwarder, DnsQuery, Resolver, StaticResolver, SystemResolver
from watchkeeper.sandbox.firewall import DENY_PREFIX, Firewall, parse_allow_list
from watchkeeper.sandbox.gpu import GpuGrant, gpu_bwrap_args, sandbox_env
from watchkeeper.sandbox.netns import (
    DEFAULT_POOLS,
    NetnsInfo,
    create_netns,
    destroy_netns,
    names_for,
)

log = logging.getLogger(__name__)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_File = int | IO[Any] | None


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """Everything that defines one sandbox.

    Attributes:
        id: 1-40 lowercase letters, digits and '-'; names every part (``wk-<id>``, ``wk_<id>``).
        workdir: Host directory bound writable at the same path; the default cwd and HOME.
        binds: Extra mounts (read-only, writable or device, e.g. GPU nodes).
        hide: Host paths covered by an empty tmpfs inside.
        limits: CPU, memory and pids limits.
        allow: Egress allowlist entries (see :func:`~watchkeeper.sandbox.firewall.parse_allow`).
        dns: Static name -> addresses map used to answer allowed names; the address ``"host"``
            stands for the host end (where local services for the sandbox listen).
        dns_resolver: ``"static"`` (``dns`` only) or ``"system"`` (the host's resolver: real DNS).
        seccomp: Install the seccomp filter.
        landlock: Apply Landlock write rules (skipped where the kernel lacks it).
        landlock_connect_ports: With Landlock ABI 4+, the only TCP ports ``connect()`` may use.
        env: Extra environment for every command (over the clean default).
        hostname: Host name inside.
        uid: Run commands as this user (the work dir must be writable by it); None keeps root
            with every capability dropped.
        gid: Group for ``uid`` (defaults to ``uid``).
        nflog_group: NFLOG group for denied packets; None disables logging.
        log_rate: Denied-packet log records per second at most.
        pools: Address pools for the veth pair's /30.
        tmp_size: Size limit of ``/tmp`` inside, in bytes.
        gpu: The GPUs the sandbox may use (None or ``GpuGrant.none()``: no ``/dev/nvidia*`` node
            and no ``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` inside; see
            :func:`~watchkeeper.sandbox.gpu.gpu_bwrap_args`).
        gpu_dev_root: Where the host's ``nvidia*`` device nodes are (tests use a fake tree).
        gpu_minors: Granted device (index or UUID, as in the grant) -> N of ``/dev/nvidiaN``,
            when known from NVML; without it index N is ``/dev/nvidiaN``.
    """

    id: str
    workdir: str
    binds: tuple[bwrap.Bind, ...] = ()
    hide: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    allow: tuple[str, ...] = ()
    dns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dns_resolver: str = "static"
    seccomp: bool = True
    landlock: bool = True
    landlock_connect_ports: tuple[int, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    hostname: str = "sandbox"
    uid: int | None = None
    gid: int | None = None
    nflog_group: int | None = 1
    log_rate: int = 20
    pools: tuple[str, ...] = DEFAULT_POOLS
    tmp_size: int | None = None
    gpu: GpuGrant | None = None
    gpu_dev_root: str = "/dev"
    gpu_minors: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise SandboxError(
                f"invalid sandbox id {self.id!r}: use 1-40 lowercase letters, digits and '-'"
            )
        if not os.path.isabs(self.workdir):
            raise SandboxError(f"work dir {self.workdir!r} must be an absolute path")
        if self.dns_resolver not in ("static", "system"):
            raise SandboxError(f"dns_resolver must be 'static' or 'system', not {self.dns_resolver!r}")
        parse_allow_list(self.allow)
        StaticResolver(_dns_map(self.dns, "127.0.0.1"))
        if self.gpu is not None and not isinstance(self.gpu, GpuGrant):
            raise SandboxError(f"gpu must be a GpuGrant or None, not {type(self.gpu).__name__}")


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """What sensors and responders need to know about a running sandbox.

    Attributes:
        id: Sandbox id.
        netns: Network namespace name.
        host_if: Host end of the veth (capture here).
        sandbox_if: Sandbox end of the veth.
        host_addr: Host end address (gateway, DNS server).
        sandbox_addr: The sandbox's address.
        table: nftables table (family inet).
        nflog_group: NFLOG group of denied packets (None: not logged).
        log_prefix: Prefix of this sandbox's NFLOG records (``"wk-deny:<id> "``).
        cgroup_paths: Every cgroup directory of the sandbox.
        cgroup_id: v2 cgroup id (directory inode), for eBPF filters.
        setup_ms: How long :meth:`SandboxHost.setup` took.
    """

    id: str
    netns: str
    host_if: str
    sandbox_if: str
    host_addr: str
    sandbox_addr: str
    table: str
    nflog_group: int | None
    log_prefix: str
    cgroup_paths: tuple[str, ...]
    cgroup_id: int | None
    setup_ms: float


class SandboxHost:
    """One live sandbox on this host: cgroup + netns/veth + nftables + DNS forwarder + bwrap.

    Use as a context manager (teardown runs on exit, also after an exception)::

        spec = SandboxSpec(id="run1", workdir="/srv/agent", allow=("pypi.org:443",))
        with SandboxHost(spec) as box:
            proc = box.popen(["python3", "tool.py"], stdout=subprocess.PIPE)
    """

    def __init__(
        self,
        spec: SandboxSpec,
        *,
        on_dns_query: Callable[[DnsQuery], None] | None = None,
        state_dir: Path = STATE_DIR,
        resolver: Resolver | None = None,
    ) -> None:
        """Describe the sandbox; :meth:`setup` creates it.

        Args:
            spec: The sandbox definition.
            on_dns_query: Called for every DNS query the sandbox makes.
            state_dir: Where state files go.
            resolver: Overrides the resolver chosen by ``spec.dns_resolver``.
        """
        self.spec = spec
        self.on_dns_query = on_dns_query
        self.state_dir = state_dir
        self._resolver = resolver
        self.cgroup: Cgroup | None = None
        self.net: NetnsInfo | None = None
        self.firewall: Firewall | None = None
        self.dns: DnsForwarder | None = None
        self.info: SandboxInfo | None = None
        self.teardown_ms: float | None = None
        self._record: StateRecord | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._procs_lock = threading.Lock()
        self._seccomp: bytes | None = None
        self._resolv_conf = b""
        self._landlock_abi = 0
        self._landlock_python = ""
        self._gpu_argv: list[str] = []
        self._gpu_env: dict[str, str] = {}

    # ----------------------------------------------------------------- setup

    def setup(self) -> SandboxInfo:
        """Create every part; on any failure, remove what was made and raise.

        Raises:
            PrerequisiteError: Not root, or bwrap / nft / ip / setpriv missing.
            SandboxError: A part could not be created.
        """
        if self.info is not None:
            return self.info
        check_prerequisites()
        start = time.monotonic()
        spec = self.spec
        # before anything exists: a granted GPU without its node fails here (fail closed)
        argv, self._gpu_env = gpu_bwrap_args(
            spec.gpu or GpuGrant.none(), spec.gpu_dev_root, minors=spec.gpu_minors
        )
        for key, value in self._gpu_env.items():  # after the --unsetenv pairs
            argv += ["--setenv", key, value]
        self._gpu_argv = argv
        self._claim_id()
        try:
            names = names_for(spec.id)
            record = self._record
            assert record is not None
            record.netns, record.host_if = names.name, names.host_if
            record.table = "wk_" + spec.id.replace("-", "_")
            record.cgroup_name = spec.id
            write_state(record, self.state_dir)

            self.cgroup = Cgroup.create(spec.id, spec.limits)
            record.cgroup_v2 = str(self.cgroup.v2_path or "")
            record.cgroup_v1 = {k: str(v) for k, v in self.cgroup.v1_paths.items()}
            write_state(record, self.state_dir)

            self.net = create_netns(spec.id, pools=spec.pools)
            entries = parse_allow_list(spec.allow)
            self.firewall = Firewall(
                spec.id,
                host_if=self.net.host_if,
                host_addr=self.net.host_addr,
                allow=entries,
                nflog_group=spec.nflog_group,
                log_rate=spec.log_rate,
            )
            self.firewall.apply()

            self._resolv_conf = (
                f"nameserver {self.net.host_addr}\noptions timeout:2 attempts:2\n".encode()
            )
            if spec.seccomp:
                self._seccomp = seccomp.build_filter()
            if spec.landlock:
                self._landlock_abi = landlock.abi_version()
                self._landlock_python = _find_python()

            resolver = self._resolver or (
                SystemResolver()
                if spec.dns_resolver == "system"
                else StaticResolver(_dns_map(spec.dns, self.net.host_addr))
            )
            names_allowed = [e.target for e in entries if e.kind == "name"]
            firewall_ = self.firewall
            self.dns = DnsForwarder(
                self.net.host_addr,
                allow=names_allowed,
                resolver=resolver,
                on_query=self.on_dns_query,
                on_allow=lambda name, addrs, ttl: firewall_.allow_resolved(name, addrs),
            )
            self.dns.start()
        except BaseException:
            self._teardown_parts(quiet=True)
            raise
        self.info = SandboxInfo(
            id=spec.id,
            netns=self.net.name,
            host_if=self.net.host_if,
            sandbox_if=self.net.sandbox_if,
            host_addr=self.net.host_addr,
            sandbox_addr=self.net.sandbox_addr,
            table=self.firewall.table,
            nflog_group=spec.nflog_group,
            log_prefix=f"{DENY_PREFIX}{spec.id} ",
            cgroup_paths=tuple(str(p) for p in self.cgroup.paths),
            cgroup_id=self.cgroup.inode,
            setup_ms=(time.monotonic() - start) * 1000,
        )
        return self.info

    def _claim_id(self) -> None:
        path = state_path(self.spec.id, self.state_dir)
        if path.exists():
            try:
                old = StateRecord.from_json(path.read_text())
            except (OSError, ValueError, KeyError, TypeError):
                old = None
            if old is not None and owner_alive(old):
                raise SandboxError(
                    f"sandbox id {self.spec.id!r} is in use by process {old.owner_pid}"
                )
            if old is not None:
                problems = remove_parts(old)
                if problems:
                    raise SandboxError(
                        f"leftovers of sandbox {self.spec.id!r} could not be removed: "
                        + "; ".join(problems)
                    )
        pid = os.getpid()
        self._record = StateRecord(id=self.spec.id, owner_pid=pid, owner_start=process_start(pid))
        write_state(self._record, self.state_dir)

    # ----------------------------------------------------------------- running

    def command(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        binds: Sequence[bwrap.Bind] = (),
        seccomp_fd: int | None = None,
        resolv_conf_fd: int | None = None,
        bwrap_args: Sequence[str] = (),
    ) -> list[str]:
        """The full command line that runs ``argv`` inside (see :mod:`watchkeeper.sandbox.bwrap`)."""
        if self.cgroup is None or self.net is None:
            raise SandboxError(f"sandbox {self.spec.id} is not set up")
        spec = self.spec
        inner = list(argv)
        all_binds = tuple(spec.binds) + tuple(binds)
        _check_bind_targets(all_binds, [spec.workdir, "/tmp", "/dev", *spec.hide])
        if spec.landlock and self._landlock_abi > 0 and self._landlock_python:
            rw = [spec.workdir, "/tmp", "/dev"] + [b.target for b in all_binds if b.mode != "ro"]
            ports = spec.landlock_connect_ports if self._landlock_abi >= 4 else None
            inner = bwrap.landlock_argv(self._landlock_python, _landlock_source(), rw, ports) + inner
        opts = bwrap.BwrapOptions(
            workdir=spec.workdir,
            binds=all_binds,
            hide=spec.hide,
            hostname=spec.hostname,
            chdir=cwd,
            seccomp_fd=seccomp_fd,
            resolv_conf_fd=resolv_conf_fd,
            unshare_user=spec.uid is not None,
            tmp_size=spec.tmp_size,
            extra_args=(*self._gpu_argv, *bwrap_args),
        )
        return (
            bwrap.cgroup_entry_argv(self.cgroup.procs_files)
            + bwrap.netns_argv(self.net.name)
            + bwrap.privileges_argv(spec.uid, spec.gid)
            + bwrap.bwrap_argv(opts, inner)
        )

    @property
    def gpu_env(self) -> dict[str, str]:
        """What the GPU grant sets inside (``CUDA_VISIBLE_DEVICES``...; empty without a grant)."""
        return dict(self._gpu_env)

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The clean environment a command gets: defaults, then ``spec.env``, then ``env``;
        then the GPU variables are removed and, with a grant, set to the granted devices."""
        result = {
            "PATH": bwrap.DEFAULT_PATH,
            "HOME": self.spec.workdir,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
        }
        result.update(self.spec.env)
        result.update(env or {})
        return sandbox_env(result, self._gpu_env)

    def popen(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: _File = None,
        stdout: _File = None,
        stderr: _File = None,
        binds: Sequence[bwrap.Bind] = (),
        bwrap_args: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the sandbox and return the process (the bwrap process).

        The process is in the sandbox cgroup before it runs anything. Killing it kills the
        sandboxed command (``--die-with-parent``). ``binds`` adds mounts for this command only
        (for example GPU device nodes); ``bwrap_args`` adds raw bwrap options from trusted code
        (such as the output of ``gpu_bwrap_args``). ``env`` goes over the clean default.
        """
        if self.info is None:
            raise SandboxError(f"sandbox {self.spec.id} is not set up")
        fds: list[int] = []
        try:
            filter_fd = None
            if self._seccomp is not None:
                filter_fd = seccomp.filter_fd(self._seccomp)
                fds.append(filter_fd)
            resolv_fd = _cmd.data_fd(self._resolv_conf, "wk-resolv")
            fds.append(resolv_fd)
            full = self.command(
                argv, cwd=cwd, binds=binds, seccomp_fd=filter_fd, resolv_conf_fd=resolv_fd,
                bwrap_args=bwrap_args,
            )
            proc = subprocess.Popen(
                full,
                env=self.environment(env),
                cwd="/",
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=tuple(fds),
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0] if argv else '?'} in the sandbox: {exc}") from exc
        finally:
            for fd in fds:
                os.close(fd)
        with self._procs_lock:
            self._procs = [p for p in self._procs if p.poll() is None] + [proc]
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        input: bytes | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` inside to completion, capturing output; on timeout the process is killed."""
        proc = self.popen(
            argv, cwd=cwd, env=env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    # ----------------------------------------------------------------- responses

    def pids(self) -> list[int]:
        """Every process of the sandbox (global pids)."""
        return self.cgroup.pids() if self.cgroup is not None else []

    def freeze(self) -> None:
        """Stop every process of the sandbox in place."""
        self._need_cgroup().freeze()

    def thaw(self) -> None:
        """Resume a frozen sandbox."""
        self._need_cgroup().thaw()

    def kill(self) -> None:
        """SIGKILL every process of the sandbox (race-free against forks); the sandbox stays set up."""
        self._need_cgroup().kill()
        self._reap()

    def cut_network(self) -> None:
        """Deny all traffic from the sandbox from now on, established connections included."""
        if self.firewall is None:
            raise SandboxError(f"sandbox {self.spec.id} is not set up")
        self.firewall.cut_network()

    def _need_cgroup(self) -> Cgroup:
        if self.cgroup is None:
            raise SandboxError(f"sandbox {self.spec.id} is not set up")
        return self.cgroup

    # ----------------------------------------------------------------- teardown

    def teardown(self) -> None:
        """Kill everything inside and remove every part (idempotent).

        Raises:
            SandboxError: Some part could not be removed (its state file is kept for cleanup).
        """
        problems = self._teardown_parts(quiet=False)
        if problems:
            raise SandboxError(f"teardown of sandbox {self.spec.id} incomplete: " + "; ".join(problems))

    def _teardown_parts(self, *, quiet: bool) -> list[str]:
        start = time.monotonic()
        problems: list[str] = []
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if self.cgroup is not None:
            try:
                if self.cgroup.exists() and self.cgroup.populated():
                    self.cgroup.kill()
                self._reap()
                self.cgroup.remove()
            except SandboxError as exc:
                problems.append(str(exc))
        self._reap()
        if self.firewall is not None:
            try:
                self.firewall.remove()
            except SandboxError as exc:
                problems.append(str(exc))
        if self._record is not None:
            problems += remove_parts(self._record)
        elif self.net is not None:
            try:
                destroy_netns(self.net)
            except SandboxError as exc:
                problems.append(str(exc))
        if not problems:
            state_path(self.spec.id, self.state_dir).unlink(missing_ok=True)
            self._record = None
            self.cgroup = None
            self.net = None
            self.firewall = None
            self.info = None
        elif quiet:
            log.warning("teardown of sandbox %s incomplete: %s", self.spec.id, "; ".join(problems))
        self.teardown_ms = (time.monotonic() - start) * 1000
        return problems

    def _reap(self) -> None:
        """Collect the processes we started; one that had not joined the cgroup yet when the
        group was killed is killed directly."""
        with self._procs_lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.returncode is None:
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)

    def __enter__(self) -> SandboxHost:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.teardown()
        else:
            self._teardown_parts(quiet=True)


def check_prerequisites() -> None:
    """Raise ``PrerequisiteError`` (with the fix) unless this host can run live sandboxes."""
    _cmd.require_root()
    for tool in ("bwrap", "nft", "ip", "setpriv"):
        _cmd.require_tool(tool)


def new_sandbox_id(prefix: str = "sbx") -> str:
    """A fresh random sandbox id like ``sbx-3f9a1c2e``."""
    return f"{prefix}-{os.urandom(4).hex()}"


def _check_bind_targets(binds: Sequence[bwrap.Bind], writable: Sequence[str]) -> None:
    """bwrap cannot create a mount point on the read-only root: the target must exist already
    or lie on a fresh mount (the work dir, /tmp, /dev, a hidden path)."""
    for bind in binds:
        target = os.path.normpath(bind.target)
        if os.path.lexists(target):
            continue
        if any(target == w or target.startswith(w.rstrip("/") + "/") for w in writable):
            continue
        raise SandboxError(
            f"bind target {target} does not exist on the read-only root: create it on the host, "
            "or mount under the work dir, /tmp or /dev"
        )


def _dns_map(table: Mapping[str, Sequence[str]], host_addr: str) -> dict[str, tuple[str, ...]]:
    return {name: tuple(host_addr if a == "host" else a for a in addrs) for name, addrs in table.items()}


def _find_python() -> str:
    """An interpreter every user can run for the Landlock helper (the system one first)."""
    return shutil.which("python3", path=bwrap.DEFAULT_PATH) or sys.executable or ""


@functools.cache
def _landlock_source() -> str:
    return Path(landlock.__file__).read_text()
