"""The Python API of the live runtime: a watched sandbox that runs an agent's commands.

::

    from watchkeeper import Sandbox

    with Sandbox(allow=["host:8080/tcp"], out_dir="run1") as sb:
        result = sb.exec("pip install -e . && pytest -q", step_id=3, tool_call_id="call_7")
        if result.denied:
            ...  # the episode was ended (or the sandbox killed) by the policy
        for alert in result.alerts:
            print(alert.severity.label, alert.rule_id, alert.action)

Every command is forked by the sandbox's exec server (:mod:`watchkeeper.runtime.execserver`) and
registered with the process lineage under its step and tool call *before* it runs anything; its
descendants, daemons included, keep that attribution. The monitor (:mod:`~watchkeeper.runtime.monitor`)
watches the sandbox, and the policy acts on alerts as they come.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

from watchkeeper.alerts import Alert
from watchkeeper.canary import CanaryConfig, CanaryKit, CanaryRegistry
from watchkeeper.detect.detectors.gpu import GpuDetectorConfig, GpuPolicy
from watchkeeper.errors import SandboxError, WatchkeeperError
from watchkeeper.events import Event
from watchkeeper.respond import (
    CutNetworkResponder,
    EndEpisodeResponder,
    Enforcer,
    EpisodeLatch,
    FreezeResponder,
    KillResponder,
    Policy,
    Response,
    kill_tree,
)
from watchkeeper.runtime.collect import Collector
from watchkeeper.runtime.executor import ExecFailed, Execution, Executor, devnull
from watchkeeper.runtime.monitor import Monitor
from watchkeeper.runtime.output import AlertLog, AlertPrinter
from watchkeeper.runtime.pipeline import Pipeline, PipelineConfig, engine_for, known_rule_ids
from watchkeeper.runtime.watch import Call, Watch
from watchkeeper.sandbox import (
    Bind,
    Limits,
    SandboxHost,
    SandboxSpec,
    check_prerequisites,
    new_sandbox_id,
)
from watchkeeper.sandbox.firewall import parse_allow_list
from watchkeeper.sandbox.gpu import GpuGrant
from watchkeeper.sensors.fs import sensitive_paths
from watchkeeper.store import DuckStore, StepRecord

_EXIT_WAIT_S = 1.0
_KILLED = 137


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one :meth:`Sandbox.exec` call did.

    Attributes:
        stdout / stderr: The command's output (UTF-8, invalid bytes replaced).
        exit_code: The command's exit code; 128+N when a signal N ended it (137: killed);
            126 when the call was denied.
        alerts: The alerts this call caused: attributed to its step and tool call, raised
            while it ran. Later alerts of its daemons appear in :meth:`Sandbox.alerts`.
        killed: True when watchkeeper stopped the command (a policy kill or end_episode, or the
            timeout).
        duration_s: Wall time of the call.
        denied: Non-empty when the call was refused without running (the reason).
        timed_out: The timeout expired and the command was killed.
        frozen: The sandbox was frozen (policy ``freeze`` or fail closed) while it ran.
        step / tool_call_id: The attribution the command ran under.
    """

    stdout: str
    stderr: str
    exit_code: int
    alerts: tuple[Alert, ...] = ()
    killed: bool = False
    duration_s: float = 0.0
    denied: str = ""
    timed_out: bool = False
    frozen: bool = False
    step: int | None = None
    tool_call_id: str = ""

    @property
    def ok(self) -> bool:
        """True when the command ran and exited 0."""
        return self.exit_code == 0 and not self.denied


PolicyArg = Policy | str | os.PathLike[str] | None


class Sandbox:
    """A watched sandbox for an agent's commands.

    Args:
        policy: A :class:`~watchkeeper.respond.Policy`, a policy file, or None for the default
            policy. A file is checked against the loaded rules and detectors.
        allow: Egress allowlist (``10.0.0.5:443``, ``host:8080/tcp``, ``pypi.org:443``...).
        workdir: Host directory bound writable inside (cwd and HOME); a temporary one, removed
            at the end, when None.
        limits: CPU, memory and pids limits.
        declared_workload: Image globs whose CPU use is expected (not a CPU-hijack alert).
        out_dir: Where ``alerts.jsonl`` and ``events.duckdb`` go (nothing is written when None).
        rules: Extra Sigma rule files or directories (the builtin pack is always loaded).
        network: False cuts the network from the start (DNS included).
        monitor: False runs the sandbox without sensors or policy (for comparisons).
        echo: A stream to print one line per alert to (``sys.stderr`` for the CLI).
        on_alert: Called with every alert (after the response), from the dispatcher thread.
        on_event: Called with every event of the sandbox (attributed), from the dispatcher
            thread; keep it fast.
        deny_after_kill: After the policy killed the sandbox, refuse later calls (True) or
            start a fresh exec server and go on (False). ``end_episode`` always refuses.
        sandbox_id / run_id / episode_id: Names (generated when empty).
        dns: Static DNS answers for allowed names (``"host"`` = the host end).
        hide: Host paths hidden inside (an empty tmpfs over each).
        binds: Extra mounts inside.
        env: Extra environment for every command.
        seccomp / landlock: Sandbox layers (on by default).
        canaries: Plant canary tokens in the work dir (the home) before anything runs, alert
            when they are read or used, and serve the canary HTTP listener on the host end
            (docs/canaries.md). ``out_dir`` gets ``canaries.json`` (the planted tokens).
        gpu: The GPUs the sandbox may use: ``GpuGrant.of(0)``, ``GpuGrant.of("GPU-...")``,
            ``GpuGrant.all()``. None (the default) grants none: no ``/dev/nvidia*`` node and no
            ``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` inside, and any GPU use the
            GPU sensor sees from the sandbox is a ``detector:gpu-ungranted`` alert. The
            declared GPU workload is the process tree of every call made with
            ``gpu_workload=True`` (:meth:`exec`, :meth:`run`). See docs/gpu.md.
        gpu_detector: GPU detector thresholds (None: the defaults).
        gpu_dev_root: Where the host's ``nvidia*`` device nodes are (``/dev``; a granted GPU
            without its node there fails the start).
    """

    def __init__(
        self,
        policy: PolicyArg = None,
        allow: Iterable[str] = (),
        workdir: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        declared_workload: Iterable[str] | str | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        *,
        rules: Sequence[str] = (),
        network: bool = True,
        monitor: bool = True,
        echo: TextIO | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        deny_after_kill: bool = True,
        sandbox_id: str = "",
        run_id: str = "",
        episode_id: str = "",
        dns: Mapping[str, tuple[str, ...]] | None = None,
        hide: Iterable[str] = (),
        binds: Iterable[Bind] = (),
        env: Mapping[str, str] | None = None,
        seccomp: bool = True,
        landlock: bool = True,
        canaries: CanaryConfig | None = None,
        gpu: GpuGrant | None = None,
        gpu_detector: GpuDetectorConfig | None = None,
        gpu_dev_root: str = "/dev",
    ) -> None:
        if gpu is not None and not isinstance(gpu, GpuGrant):
            raise SandboxError(f"gpu must be a GpuGrant or None, not {type(gpu).__name__}")
        self.gpu = gpu or GpuGrant.none()
        """The sandbox's GPU grant (``GpuGrant.none()`` without one)."""
        self._gpu_detector = gpu_detector
        self._gpu_dev_root = gpu_dev_root
        self._canary = CanaryKit(canaries) if canaries is not None else None
        if self._canary is not None:
            allow = (*allow, *self._canary.allow_entries())
            dns = {**self._canary.dns_map(), **(dns or {})}
        self.allow = tuple(allow)
        parse_allow_list(self.allow)  # AllowSpecError early, with every bad entry
        self.sandbox_id = sandbox_id or new_sandbox_id("wk")
        self.run_id = run_id or self.sandbox_id
        self.episode_id = episode_id
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if isinstance(declared_workload, str):
            declared_workload = (declared_workload,)
        self.declared_workload = tuple(declared_workload or ())
        self._engine, ruleset = engine_for(rules)
        self.policy = _load_policy(policy, known_rule_ids(ruleset))
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self._limits = limits or Limits()
        self._network = network
        self._monitoring = monitor
        self._echo = echo
        self._on_alert = on_alert
        self._on_event = on_event
        self._deny_after_kill = deny_after_kill
        self._dns = dict(dns or {})
        self._hide = tuple(hide)
        self._binds = tuple(binds)
        self._env = dict(env or {})
        self._seccomp = seccomp
        self._landlock = landlock
        self._box: SandboxHost | None = None
        self._executor: Executor | None = None
        self._monitor: Monitor | None = None
        self._watch: Watch | None = None
        self._store: DuckStore | None = None
        self._log: AlertLog | None = None
        self._latch = EpisodeLatch()
        self._lock = threading.Lock()
        self._next_step = 0
        self._contained = threading.Event()
        self._contain_alert: Alert | None = None
        self._calls: dict[tuple[int, str], Call] = {}
        self._closed = False
        self.started_at = 0.0

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Set the sandbox up, start monitoring and the exec server.

        Raises:
            PrerequisiteError: Not root, or bwrap / nft / ip / setpriv missing.
            SandboxError: The sandbox could not be set up.
        """
        if self._box is not None:
            return self
        check_prerequisites()
        self.started_at = time.time()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="wk-work-", dir=_workdir_base()))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._canary is not None:
            self._canary.plant(self.workdir)
            if self.out_dir is not None:
                self._canary.registry.save(self.out_dir / "canaries.json")
        if self._monitoring:
            self._monitor = Monitor.acquire()
        spec = SandboxSpec(
            id=self.sandbox_id,
            workdir=str(self.workdir.resolve()),
            limits=self._limits,
            allow=self.allow,
            dns=self._dns,
            hide=self._hide,
            binds=self._binds,
            env=self._env,
            seccomp=self._seccomp,
            landlock=self._landlock,
            nflog_group=self._monitor.nflog_group if self._monitor is not None else None,
            gpu=self.gpu,
            gpu_dev_root=self._gpu_dev_root,
            gpu_minors=self._monitor.gpu_minors() if self._monitor is not None else None,
        )
        on_dns = self._monitor.dns_callback(lambda: self._watch) if self._monitor else None
        self._box = SandboxHost(spec, on_dns_query=on_dns)
        self._box.setup()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._log = AlertLog(self.out_dir)
            if self._monitoring:
                self._store = DuckStore(self.out_dir, run_id=self.run_id)
                self._store.start_run(self.run_id, command="", config=self._config())
        if self._monitor is not None:
            self._watch = self._make_watch(self._monitor, self._box)
            paths = None
            if self._canary is not None:
                paths = sensitive_paths([self.workdir], extra=self._canary.paths())
            self._monitor.attach(self._watch, fs_paths=paths)
        if self._canary is not None:
            self._canary.start(self.host_addr, self._inject)
        if not self._network:
            self._box.cut_network()
        self._start_server()

    def _make_watch(self, monitor: Monitor, box: SandboxHost) -> Watch:
        targets = monitor.targets
        kill = KillResponder(targets, monitor.lineage)
        enforcer = Enforcer(
            self.policy,
            [kill, FreezeResponder(targets), CutNetworkResponder(targets),
             EndEpisodeResponder(targets, kill)],
        )  # fmt: skip
        info = box.info
        assert info is not None
        config = PipelineConfig(
            declared_workload=self.declared_workload,
            exfil_allow=_allowed_addresses(self.allow, info.host_addr),
            canaries=self._canary.paths() if self._canary is not None else (),
            detectors=(self._canary.detector(),) if self._canary is not None else (),
            gpu_policy=GpuPolicy(grants={self.sandbox_id: self.gpu}),
            gpu=self._gpu_detector,
        )
        watch = Watch(
            sandbox_id=self.sandbox_id,
            run_id=self.run_id,
            episode_id=self.episode_id,
            box=box,
            pipeline=Pipeline(self._engine, monitor.lineage, config),
            policy=self.policy,
            enforcer=enforcer,
            latch=self._latch,
        )
        if self._store is not None:
            watch.on_event.append(self._store.add_event)
            watch.on_sample.append(self._store.add_sample)
            watch.on_alert.append(self._store.add_alert)
        if self._log is not None:
            watch.on_alert.append(self._log.write)
        if self._echo is not None:
            watch.on_alert.append(AlertPrinter(self._echo).write)
        if self._on_alert is not None:
            watch.on_alert.append(self._on_alert)
        if self._on_event is not None:
            watch.on_event.append(self._on_event)
        watch.on_contain.append(self._contained_by)
        return watch

    def _start_server(self) -> None:
        assert self._box is not None
        executor = Executor(self._box, on_spawn=self._plumbing)
        executor.start()
        self._executor = executor

    def _plumbing(self, pid: int) -> None:
        if self._monitor is not None and self._watch is not None:
            self._watch.plumbing_roots.add(pid)
            self._monitor.lineage.register_root(pid, self.sandbox_id, None, "")

    def close(self) -> None:
        """Stop everything inside, stop monitoring, tear the sandbox down, close the outputs.

        Idempotent; also runs on leaving the ``with`` block (after an exception too).

        Raises:
            SandboxError: Some part of the sandbox could not be removed.
        """
        if self._closed:
            return
        self._closed = True
        problems: list[str] = []
        if self._canary is not None and self._canary.http is not None:
            self._canary.http.stop()
        if self._executor is not None:
            self._executor.close()
        monitor, watch = self._monitor, self._watch
        if monitor is not None and watch is not None:
            monitor.quiesce(self.sandbox_id)
        if self._box is not None:
            try:
                self._box.teardown()
            except WatchkeeperError as exc:
                problems.append(str(exc))
        if monitor is not None:
            if watch is not None:
                monitor.detach(self.sandbox_id)
            monitor.release()
            self._monitor = None
        if self._store is not None:
            self._store.end_run(self.run_id)
            self._store.close()
        if self._log is not None:
            self._log.close()
        if self._canary is not None:
            self._canary.close()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if problems:
            raise SandboxError("; ".join(problems))

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close()
        except WatchkeeperError:
            if exc is None:
                raise

    # --- state ------------------------------------------------------------------------------

    @property
    def box(self) -> SandboxHost:
        """The underlying sandbox host (set up)."""
        if self._box is None or self._box.info is None:
            raise SandboxError("the sandbox is not started (use it in a with block)")
        return self._box

    @property
    def host_addr(self) -> str:
        """The host end of the sandbox's veth (``host`` in allow entries)."""
        info = self.box.info
        assert info is not None
        return info.host_addr

    @property
    def contained(self) -> str:
        """The strongest response taken so far: "", "freeze", "kill" or "end_episode"."""
        return self._watch.contained if self._watch is not None else ""

    @property
    def canaries(self) -> CanaryRegistry | None:
        """The planted canary tokens (None without ``canaries=``)."""
        return self._canary.registry if self._canary is not None else None

    def inject(self, event: Event, wait: float = 1.0) -> None:
        """Hand an outside observation of this sandbox (a canary listener hit, an external
        sensor) to the dispatcher: it is attributed (a flow's process and step from its
        socket, while it is open), detected on and recorded like a sensor's event. Waits up
        to ``wait`` seconds until it has been handled."""
        self._inject(event, wait)

    def _inject(self, event: Event, wait: float = 1.0) -> None:
        monitor, watch = self._monitor, self._watch
        if monitor is None or watch is None:
            return
        event = dataclasses.replace(event, sandbox_id=self.sandbox_id, run_id=self.run_id,
                                    episode_id=self.episode_id)  # fmt: skip
        monitor.dispatcher.put(event)
        if wait > 0:
            monitor.dispatcher.barrier(wait)

    @property
    def monitor(self) -> Monitor | None:
        """The shared monitor (None when monitoring is off)."""
        return self._monitor

    def sensor_status(self) -> dict[str, str]:
        """Sensor name -> state, e.g. ``{"proc": "running", ..., "gpu": "unavailable: ..."}``
        (empty when monitoring is off)."""
        return self._monitor.sensor_status() if self._monitor is not None else {}

    def alerts(self) -> tuple[Alert, ...]:
        """Every alert of this sandbox so far (daemons' later alerts included)."""
        if self._watch is None:
            return ()
        with self._watch.lock:
            return tuple(self._watch.alerts)

    def responses(self) -> list[tuple[str, Response]]:
        """(rule id, response) of the responses taken so far, with their timings."""
        return list(self._watch.enforcer.responses) if self._watch is not None else []

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until every observation made so far has been handled (alerts are current)."""
        if self._monitor is not None:
            self._monitor.dispatcher.barrier(timeout)

    def denial(self) -> str:
        """Why a new command would be refused now ("" when it would run)."""
        if self._closed:
            return "the sandbox is closed"
        if self._latch.ended:
            return f"the episode was ended by watchkeeper ({self._latch.reason})"
        cause = self._contain_alert
        why = f" ({cause.rule_id}: {cause.title})" if cause is not None else ""
        if self.contained in ("kill", "end_episode") and self._deny_after_kill:
            return f"the sandbox was killed by watchkeeper{why}"
        if self.contained == "freeze":
            return f"the sandbox is frozen by watchkeeper{why}"
        return ""

    def _contained_by(self, alert: Alert) -> None:
        self._contain_alert = alert
        self._contained.set()

    # --- running ----------------------------------------------------------------------------

    def exec(
        self,
        command: str | Sequence[str],
        *,
        step_id: int | None = None,
        tool_call_id: str = "",
        timeout: float | None = None,
        input: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        gpu_workload: bool = False,
    ) -> ExecResult:
        """Run one command in the sandbox and wait for it.

        Args:
            command: A shell string (run with ``/bin/sh -c``) or an argv list.
            step_id: The agent step (0-based); the next one when None.
            tool_call_id: The tool call's id.
            timeout: Seconds before the command (and what it started) is killed.
            input: Bytes (or text) for its stdin; /dev/null when None.
            env: Extra environment (over the sandbox's clean default).
            cwd: Working directory inside (the work dir when None).
            gpu_workload: This command's process tree is the sandbox's declared GPU workload
                (its GPU use is expected; other processes' sustained use is reported).

        Returns:
            The result; ``denied`` is set (and nothing ran) when the episode was ended or the
            sandbox killed or frozen by the policy.
        """
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        if not argv:
            raise SandboxError("empty command")
        step = self._take_step(step_id)
        started = time.monotonic()
        denied = self.denial()
        if denied:
            return ExecResult("", f"watchkeeper: denied: {denied}\n", 126, denied=denied,
                              step=step, tool_call_id=tool_call_id)  # fmt: skip
        self._ensure_server()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        feed: tuple[int, bytes] | None = None
        if input is not None:
            in_r, in_w = os.pipe()
            feed = (in_w, input.encode() if isinstance(input, str) else input)
        else:
            in_r = devnull()
        collector = Collector([out_r, err_r], feed=feed)
        mark = self._watch.alert_count() if self._watch is not None else 0
        self._step_started(step, tool_call_id, command)
        try:
            execution = self._spawn(argv, step, tool_call_id, in_r, out_w, err_w, env, cwd,
                                    gpu_workload)  # fmt: skip
        except ExecFailed as exc:
            collector.finish(0.1)
            self._step_ended(step, tool_call_id, exc.code)
            return ExecResult(collector.text(out_r), collector.text(err_r) + f"{exc}\n",
                              exc.code, step=step, tool_call_id=tool_call_id,
                              duration_s=time.monotonic() - started)  # fmt: skip
        except BaseException:
            collector.finish(0.0)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        code, killed, timed_out, frozen = self._wait(execution, timeout)
        collector.finish(0.05 if frozen else 0.2)
        self._step_ended(step, tool_call_id, code)
        watch = self._watch
        alerts = watch.alerts_of(step, tool_call_id, mark) if watch is not None else ()
        return ExecResult(
            stdout=collector.text(out_r),
            stderr=collector.text(err_r),
            exit_code=code,
            alerts=alerts,
            killed=killed,
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            frozen=frozen,
            step=step,
            tool_call_id=tool_call_id,
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: int = 0,
        stdout: int = 1,
        stderr: int = 2,
        step_id: int | None = 0,
        tool_call_id: str = "",
        env: Mapping[str, str] | None = None,
        gpu_workload: bool = False,
    ) -> int:
        """Run a whole program (an agent) with the given stdio fds; returns its exit code
        (137 when watchkeeper stopped it, 126 when denied). ``gpu_workload``: the program's
        process tree is the declared GPU workload."""
        step = self._take_step(step_id)
        if self.denial():
            return 126
        self._ensure_server()
        self._step_started(step, tool_call_id, list(argv))
        try:
            execution = self._spawn(argv, step, tool_call_id, stdin, stdout, stderr, env, None,
                                    gpu_workload)  # fmt: skip
        except ExecFailed as exc:
            os.write(stderr, f"watchkeeper: cannot run {argv[0]}: {exc}\n".encode())
            self._step_ended(step, tool_call_id, exc.code)
            return exc.code
        code, _killed, _timed_out, frozen = self._wait(execution, None)
        self._step_ended(step, tool_call_id, code)
        return _KILLED if frozen else code

    def _take_step(self, step_id: int | None) -> int:
        with self._lock:
            step = self._next_step if step_id is None else step_id
            self._next_step = max(self._next_step, step + 1)
            return step

    def _ensure_server(self) -> None:
        executor = self._executor
        if executor is not None and executor.alive:
            return
        if executor is not None:
            executor.close()
            self._executor = None
        self._start_server()

    def _spawn(
        self,
        argv: Sequence[str],
        step: int,
        tool_call_id: str,
        stdin: int,
        stdout: int,
        stderr: int,
        env: Mapping[str, str] | None,
        cwd: str | None,
        gpu_workload: bool = False,
    ) -> Execution:
        executor = self._executor
        assert executor is not None
        return executor.spawn(
            argv, stdin=stdin, stdout=stdout, stderr=stderr, env=self.box.environment(env),
            cwd=cwd, register=lambda pid: self._register(pid, step, tool_call_id, gpu_workload),
        )  # fmt: skip

    def _register(self, pid: int, step: int, tool_call_id: str, gpu_workload: bool) -> None:
        if self._monitor is not None:
            self._monitor.dispatcher.expect_exit(pid)
            self._monitor.lineage.register_root(pid, self.sandbox_id, step, tool_call_id)
        if gpu_workload and self._watch is not None:
            self._watch.pipeline.declare_gpu(self.sandbox_id, pid)

    def _wait(self, execution: Execution, timeout: float | None) -> tuple[int, bool, bool, bool]:
        """(exit code, killed, timed out, frozen) once the command ended or was contained."""
        deadline = None if timeout is None else execution.started + timeout
        timed_out = frozen = False
        while not execution.wait(0.02):
            if self.contained == "freeze":
                frozen = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                lineage = self._monitor.lineage if self._monitor is not None else None
                try:
                    kill_tree({execution.pid}, lineage, None, 5.0)
                except WatchkeeperError:
                    pass
                execution.wait(5.0)
                break
        if self._monitor is not None and not frozen:
            # the exit is handled after every earlier process event and the responses to them;
            # packets still queued at the network sensor are read and handled too
            self._monitor.dispatcher.expect_exit(execution.pid).wait(_EXIT_WAIT_S)
            self._monitor.dispatcher.forget_exit(execution.pid)
            self._monitor.settle(self.sandbox_id)
        contained = self.contained in ("kill", "end_episode")
        if frozen:
            return -1, False, False, True
        if execution.code is None:  # the exec server died: the sandbox was killed
            return _KILLED, contained or timed_out, timed_out, False
        code = execution.code
        if code < 0:
            code = 128 - code
        killed = timed_out or (contained and code == _KILLED)
        return code, killed, timed_out, False

    def _step_started(self, step: int, tool_call_id: str, command: str | Sequence[str]) -> None:
        if self._watch is not None:
            self._calls[(step, tool_call_id)] = self._watch.call_started(
                step, tool_call_id, time.time()
            )
        if self._store is not None:
            text = command if isinstance(command, str) else " ".join(command)
            self._store.add_step(StepRecord(self.run_id, self.episode_id, step, tool_call_id,
                                            text, started=time.time()))  # fmt: skip

    def _step_ended(self, step: int, tool_call_id: str, code: int | None) -> None:
        call = self._calls.pop((step, tool_call_id), None)
        if call is not None:
            call.ended = time.time()
        if self._store is not None:
            self._store.end_step(self.run_id, step, tool_call_id, code)

    def _config(self) -> dict[str, object]:
        return {
            "sandbox_id": self.sandbox_id,
            "allow": list(self.allow),
            "policy": self.policy.source,
            "declared_workload": list(self.declared_workload),
            "network": self._network,
            "gpu": grant_text(self.gpu),
            "sensors": self.sensor_status(),
        }


def grant_text(grant: GpuGrant) -> str:
    """A grant as ``watchkeeper run --gpu`` takes it: "none", "all" or "0,GPU-..."."""
    if grant.everything:
        return "all"
    return ",".join(grant.devices) or "none"


def _load_policy(policy: PolicyArg, known: set[str]) -> Policy:
    if policy is None:
        return Policy.default()
    if isinstance(policy, Policy):
        return policy
    return Policy.load(Path(policy), known)


def _allowed_addresses(allow: Sequence[str], host_addr: str) -> tuple[str, ...]:
    """Addresses and names of the allow entries (ports dropped), ``host`` resolved."""
    out: list[str] = []
    for entry in parse_allow_list(allow):
        target = host_addr if entry.kind == "host" else entry.target
        if target:
            out.append(target.lstrip("*."))
    return tuple(out)


def _workdir_base() -> str | None:
    """Temporary work dirs must not live on /tmp: the sandbox has its own private /tmp."""
    for base in ("/var/tmp", os.path.expanduser("~")):
        if os.path.isdir(base) and os.access(base, os.W_OK):
            return base
    return None

