"""Ordered parallel audit: ``watchkeeper audit --jobs N``.

The parent reads trajectories (the readers keep input order, file detection and multi-line
records), groups them into batches and sends each batch to a pool of worker processes; each
worker builds its own :class:`Auditor` (and so its own memo) once, from rule *paths*. Results come
back in input order, so every output is the one a single process writes. ``ReadIssue`` records
never go to a worker: they keep their place between the verdicts.

Start method: ``forkserver`` (``spawn`` where there is none). Never ``fork``: the CLI may hold
threads (rich's progress refresher, the executor's own threads) and a forked child of a threaded
process can deadlock. The fork server is a fresh single-threaded interpreter that imports the
package once; every worker is forked from it, so N workers do not import N times.

Memory stays flat in input size: at most ``window`` batches are in flight, and a batch also closes
after :data:`MAX_BATCH_STEPS` agent steps so that long trajectories do not make batches large.

Batches travel as bytes pickled with a small reducer table for the frozen dataclasses
(``Trajectory``, ``Step``, ``ToolCall``, ``Verdict``, ``Finding``): the default dataclass pickling
runs Python code per field and would make the parent, which reads for all workers, the bottleneck.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from enum import Enum
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import Any

from watchkeeper.alerts import Severity
from watchkeeper.audit._score import Auditor
from watchkeeper.audit._verdict import Finding, Verdict
from watchkeeper.errors import WatchkeeperError
from watchkeeper.rules import RuleIssue
from watchkeeper.trajectories import ReadIssue, Step, ToolCall, ToolKind, Trajectory
from watchkeeper.trajectories._fast import positional_maker

#: Trajectories per batch (measured: see docs/audit.md).
DEFAULT_BATCH = 256
#: A batch also closes once it holds this many agent steps (long trajectories, smaller batches).
MAX_BATCH_STEPS = 4096
#: A run of ReadIssues (or a batch) is cut after this many records, so none grows without bound.
_MAX_SLOTS = 8192
#: Batches in flight per worker: one running, one queued, one being read back.
_WINDOW_PER_WORKER = 3


class WorkerDiedError(WatchkeeperError):
    """An audit worker process died (killed, out of memory): the audit is incomplete."""

    exit_code = 3


# ---------------------------------------------------------------------------------------------
# Pickling the model without per-field Python code


_TABLE: dict[type[Any], Callable[[Any], str | tuple[Any, ...]]] = dict(copyreg.dispatch_table)


def _register(cls: type[Any]) -> None:
    """Pickle ``cls`` as ``_make_<cls>((field values))`` when that is the same as its constructor.

    ``_make_<cls>`` is :func:`~watchkeeper.trajectories._fast.positional_maker` (the slots' own
    setters, no per-field Python code) kept as a module global, so pickle finds it by name.
    """
    maker_name = f"_make_{cls.__name__}"
    maker = positional_maker(cls, maker_name)
    if maker is None or len(dataclasses.fields(cls)) < 2:
        return  # default pickling (attrgetter of one name returns a bare value, not a tuple)
    names = [f.name for f in dataclasses.fields(cls)]
    maker.__module__ = __name__
    globals()[maker_name] = maker
    values = attrgetter(*names)

    def reduce(obj: Any) -> tuple[Any, ...]:
        return maker, (values(obj),)

    _TABLE[cls] = reduce


def _register_enum(cls: type[Enum]) -> None:
    """Unpickle members as ``getattr(cls, name)`` (C) instead of ``cls(value)`` (Python)."""

    def reduce(member: Enum) -> tuple[Any, ...]:
        return getattr, (cls, member.name)

    _TABLE[cls] = reduce


for _cls in (Trajectory, Step, ToolCall, Verdict, Finding):
    _register(_cls)
_register_enum(Severity)
_register_enum(ToolKind)


def _dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    pickler.dump(obj)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The worker side


class _WorkerState:
    auditor: Auditor | None = None
    error: BaseException | None = None


def _init_worker(rules_dirs: tuple[str, ...], builtin: bool, run_id: str) -> None:
    """Pool initializer: build this worker's auditor once; Ctrl-C is the parent's to handle.

    A worker also ends when the parent does, however it ended (``kill -9`` included): waiting on a
    queue that the worker itself holds open, it would otherwise wait forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="wk-audit-parent", daemon=True).start()
    try:
        _WorkerState.auditor = Auditor.from_rules(rules_dirs=rules_dirs, builtin=builtin, run_id=run_id)
    except Exception as exc:  # noqa: BLE001 - reported by the first task, as the parent would raise it
        _WorkerState.error = exc


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent process has ended
    os._exit(1)


def _auditor() -> Auditor:
    if _WorkerState.auditor is None:
        raise _WorkerState.error or RuntimeError("audit worker not initialised")
    return _WorkerState.auditor


def _worker_ready() -> tuple[RuleIssue, ...]:
    """The first task of each worker: its rule-load issues (the same in every worker)."""
    return _auditor().rule_issues


def _audit_batch(payload: bytes) -> bytes:
    """Audit a pickled list of trajectories; returns pickled (verdicts, error or None).

    An exception stops the batch: the verdicts before it still come back, as the one-process
    path would have written them before failing.
    """
    auditor = _auditor()
    trajectories: list[Trajectory] = pickle.loads(payload)
    verdicts: list[Verdict] = []
    error: Exception | None = None
    for trajectory in trajectories:
        try:
            verdicts.append(auditor.audit(trajectory))
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
            exc.add_note("in audit worker:\n" + "".join(traceback.format_exception(exc)).rstrip())
            error = exc
            break
    try:
        return _dumps((verdicts, error))
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        return _dumps((verdicts, RuntimeError(f"{type(error).__name__}: {error}")))


# ---------------------------------------------------------------------------------------------
# The parent side


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_preload())
        return ctx
    return multiprocessing.get_context("spawn")


def _preload() -> list[str]:
    """What the fork server imports once for all workers: the main script and our package.

    The package modules this process has loaded are imported too, so that a worker re-running a
    ``python -m watchkeeper...`` main module (as multiprocessing does) finds them loaded. The main
    module itself is left out: re-running a module already imported warns.
    """
    main_name = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    package = __name__.partition(".")[0]
    loaded = sorted(
        name for name in list(sys.modules)
        if name.partition(".")[0] == package and name != main_name
    )
    return ["__main__", __name__, *loaded]


class _Batch:
    """A run of input records in order: ``None`` marks a trajectory sent to ``future``."""

    __slots__ = ("future", "slots")

    def __init__(self, future: Future[bytes] | None, slots: list[ReadIssue | None]) -> None:
        self.future = future
        self.slots = slots


class ParallelAuditor:
    """A pool of audit workers that audits a stream of trajectories in input order.

    Use as a context manager; leaving it with an exception (Ctrl-C included) kills the workers.

    Args:
        jobs: Worker processes (>= 1).
        rules_dirs: Rule files or folders, as for :meth:`Auditor.from_rules`.
        builtin: Load the built-in pack.
        run_id: Stamped on every finding.
        batch: Trajectories per batch sent to a worker.
        window: Batches in flight at once (default ``3 * jobs``); bounds memory.

    Attributes:
        rule_issues: Rules that could not be loaded (known once the first worker is up).
    """

    def __init__(
        self,
        *,
        jobs: int,
        rules_dirs: Iterable[Path | str] = (),
        builtin: bool = True,
        run_id: str = "",
        batch: int = DEFAULT_BATCH,
        window: int | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, not {jobs}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        self.jobs = jobs
        self.batch = batch
        self.window = window if window is not None else _WINDOW_PER_WORKER * jobs
        if self.window < 1:
            raise ValueError(f"window must be >= 1, not {self.window}")
        self._initargs = (tuple(str(p) for p in rules_dirs), builtin, run_id)
        self._pool: ProcessPoolExecutor | None = None
        self.rule_issues: tuple[RuleIssue, ...] = ()

    def __enter__(self) -> ParallelAuditor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(kill=exc_type is not None)

    def start(self) -> None:
        """Start the workers and wait for the first one to have loaded the rules."""
        if self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=_context(), initializer=_init_worker, initargs=self._initargs
        )
        try:
            # one no-op task per worker starts them all now (the pool starts them on demand)
            ready = [self._pool.submit(_worker_ready) for _ in range(self.jobs)]
            self.rule_issues = self._result(ready[0])
        except BaseException:
            self.close(kill=True)
            raise

    @property
    def pids(self) -> tuple[int, ...]:
        """The worker processes' ids (empty when not started)."""
        return tuple(p.pid for p in _processes(self._pool)) if self._pool is not None else ()

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: let them finish (default) or kill them now (``kill=True``)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            _kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)

    def audit_all(self, items: Iterable[Trajectory | ReadIssue]) -> Iterator[Verdict | ReadIssue]:
        """Audit ``items``; yields a Verdict per trajectory and each ReadIssue, in input order.

        An exception raised by ``items`` (``--strict``'s first malformed record, an unknown
        format) is raised after the results of everything read before it.

        Raises:
            WorkerDiedError: A worker process died; the pool is then closed.
        """
        self.start()
        pending: deque[_Batch] = deque()
        in_flight = 0
        trajectories: list[Trajectory] = []
        slots: list[ReadIssue | None] = []
        steps = 0
        failure: Exception | None = None
        source = iter(items)
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - re-raised once the earlier results are out
                failure = exc
                break
            if isinstance(item, ReadIssue):
                if not pending and not slots:
                    yield item
                    continue
                slots.append(item)
            else:
                trajectories.append(item)
                slots.append(None)
                steps += len(item.steps)
            if len(trajectories) < self.batch and steps < MAX_BATCH_STEPS and len(slots) < _MAX_SLOTS:
                continue
            future = self._submit(trajectories) if trajectories else None
            pending.append(_Batch(future, slots))
            in_flight += future is not None
            trajectories, slots, steps = [], [], 0
            while pending and (in_flight >= self.window or _done(pending[0])):
                in_flight -= pending[0].future is not None
                yield from self._take(pending.popleft())
        if slots:
            pending.append(_Batch(self._submit(trajectories) if trajectories else None, slots))
        while pending:
            yield from self._take(pending.popleft())
        if failure is not None:
            raise failure

    def _submit(self, trajectories: list[Trajectory]) -> Future[bytes]:
        assert self._pool is not None
        try:
            return self._pool.submit(_audit_batch, _dumps(trajectories))
        except BrokenProcessPool:
            raise self._died() from None

    def _take(self, batch: _Batch) -> Iterator[Verdict | ReadIssue]:
        verdicts: list[Verdict] = []
        error: Exception | None = None
        if batch.future is not None:
            verdicts, error = pickle.loads(self._result(batch.future))
        results = iter(verdicts)
        for slot in batch.slots:
            if slot is not None:
                yield slot
                continue
            verdict = next(results, None)
            if verdict is None:
                assert error is not None
                raise error
            yield verdict

    def _result(self, future: Future[Any]) -> Any:
        try:
            return future.result()
        except BrokenProcessPool:
            raise self._died() from None

    def _died(self) -> WorkerDiedError:
        pool, self._pool = self._pool, None
        why = "a worker process ended abruptly"
        if pool is not None:
            procs = _processes(pool)
            pool.shutdown(wait=True, cancel_futures=True)  # the pool has already stopped the others
            why = _death_of(procs) or why
        return WorkerDiedError(f"audit worker died ({why})")


def _done(batch: _Batch) -> bool:
    return batch.future is None or batch.future.done()


def _processes(pool: ProcessPoolExecutor) -> list[Any]:
    procs = getattr(pool, "_processes", None)  # no public accessor before Python 3.14
    return list(procs.values()) if isinstance(procs, dict) else []


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    kill = getattr(pool, "kill_workers", None)  # Python >= 3.14
    if callable(kill):
        kill()
        return
    for proc in _processes(pool):
        try:
            proc.kill()
        except (OSError, ValueError, AttributeError):
            pass


def _death_of(procs: list[Any]) -> str:
    """How the first worker that was not stopped by the pool itself ended, e.g. ``killed by SIGKILL``."""
    found = ""
    for proc in procs:
        code = proc.exitcode
        if code is None or code == 0:
            continue
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            text = f"pid {proc.pid} killed by {name}"
            if code == -signal.SIGKILL:
                text += ", e.g. out of memory"
        else:
            text = f"pid {proc.pid} exited with status {code}"
        if code != -signal.SIGTERM:  # the pool terminates the survivors with SIGTERM
            return text
        found = found or text
    return found


def audit_parallel(
    items: Iterable[Trajectory | ReadIssue],
    *,
    jobs: int,
    rules_dirs: Iterable[Path | str] = (),
    builtin: bool = True,
    run_id: str = "",
    batch: int = DEFAULT_BATCH,
) -> Iterator[Verdict | ReadIssue]:
    """Audit ``items`` with ``jobs`` worker processes; results in input order.

    The workers stop when the iterator is exhausted or closed (use ``contextlib.closing`` when
    you may stop early). See :class:`ParallelAuditor` for the rule issues and the details.
    """
    with ParallelAuditor(jobs=jobs, rules_dirs=rules_dirs, builtin=builtin, run_id=run_id,
                         batch=batch) as pool:
        yield from pool.audit_all(items)


def default_jobs() -> int:
    """The CPUs this process may run on (``--jobs 0``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
