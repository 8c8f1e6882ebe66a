from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from watchkeeper.events import ProcessEvent
from watchkeeper.sensors import _proc_connector as cn
from watchkeeper.sensors._proc_loss import LossReporter, SensorLoss
from watchkeeper.sensors.proc import ProcSensor

root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) for the proc connector"
)


class Collector:
    def __init__(self) -> None:
        self.events: list[ProcessEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        assert isinstance(event, ProcessEvent)
        with self._lock:
            self.events.append(event)

    def wait_for(
        self,
        pred: Callable[[ProcessEvent], bool],
        timeout: float = 5.0,
        debug: Callable[[], object] = lambda: None,
    ) -> ProcessEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if pred(event):
                        return event
            time.sleep(0.01)
        raise AssertionError(
            "event not seen; got: " + repr([e.command_line for e in self.events]) + repr(debug())
        )


@pytest.fixture
def sensor() -> Iterator[tuple[ProcSensor, Collector]]:
    out = Collector()
    s = ProcSensor(run_id="r1", episode_id="e1")
    s.start(out)
    try:
        yield s, out
    finally:
        s.stop()


def test_parse_round_trip_of_each_event_kind() -> None:
    fork = cn.parse(cn.build(cn.PROC_EVENT_FORK, 123, struct.pack("=IIII", 10, 10, 11, 11)))
    assert fork == cn.ProcEvent(cn.PROC_EVENT_FORK, 123, 11, 11, 10, 10)
    exe = cn.parse(cn.build(cn.PROC_EVENT_EXEC, 5, struct.pack("=II", 11, 11)))
    assert exe is not None and (exe.what, exe.tgid) == (cn.PROC_EVENT_EXEC, 11)
    ex = cn.parse(cn.build(cn.PROC_EVENT_EXIT, 6, struct.pack("=IIIIII", 11, 11, 9, 17, 10, 10)))
    assert ex is not None and (ex.exit_code, ex.ptgid) == (9, 10)
    comm = cn.parse(cn.build(cn.PROC_EVENT_COMM, 7, struct.pack("=II16s", 11, 11, b"xmrig\0")))
    assert comm is not None and comm.comm == "xmrig"
    uid = cn.parse(cn.build(cn.PROC_EVENT_UID, 8, struct.pack("=IIII", 11, 11, 0, 1000)))
    assert uid is not None and uid.uid == 1000


@pytest.mark.parametrize(
    "raw",
    [b"", b"\0" * 20, cn.build(cn.PROC_EVENT_FORK, 1, b"\1\2"), b"\xff" * 200],
)
def test_parse_rejects_truncated_and_foreign_datagrams(raw: bytes) -> None:
    assert cn.parse(raw) is None


def test_replayed_events_build_lineage_without_a_socket() -> None:
    s = ProcSensor()
    out = Collector()
    s._emit = out  # replay path: no socket, events applied directly
    s.lineage.register_root(os.getpid(), "sbx", 1, "c1")
    child = os.getpid() + 1_000_000  # a pid that does not exist: /proc reads come back empty
    s.handle(cn.ProcEvent(cn.PROC_EVENT_FORK, time.monotonic_ns(), child, child, 1, os.getpid()))
    s.handle(cn.ProcEvent(cn.PROC_EVENT_EXEC, time.monotonic_ns(), child, child))
    s.handle(cn.ProcEvent(cn.PROC_EVENT_EXIT, time.monotonic_ns(), child, child, exit_code=9))
    launch, end = out.events
    assert (launch.activity, launch.step, launch.argv) == ("launch", 1, ())
    assert s.cmdline_missed == 1
    assert (end.activity, end.exit_code, end.pid) == ("terminate", -9, child)
    assert abs(launch.ts - time.time()) < 5


@pytest.mark.root
@root
def test_sees_fork_exec_exit_of_a_child_tree_with_cmdline(
    sensor: tuple[ProcSensor, Collector],
) -> None:
    s, out = sensor
    # the marked child lives a moment: a process that exits before the sensor reads its command
    # line is reported as "[comm]" (the capture rate of that race is bench/bench_proc.py's)
    proc = subprocess.Popen(
        ["sh", "-c", "read x; /bin/sh -c 'sleep 0.3' wk-marker-one two; exit 3"],
        stdin=subprocess.PIPE,
    )
    s.lineage.register_root(proc.pid, "sbx-1", 5, "call-5")
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    assert proc.wait(5) == 3
    echo = out.wait_for(
        lambda e: e.activity == "launch" and e.command_line.startswith("/bin/sh -c sleep 0.3 wk-marker"),
        debug=lambda: (s.stats(), s.alive, s.lineage.pids(), proc.pid),
    )
    assert echo.argv == ("/bin/sh", "-c", "sleep 0.3", "wk-marker-one", "two")
    assert echo.image.endswith("sh")
    assert (echo.sandbox_id, echo.step, echo.tool_call_id) == ("sbx-1", 5, "call-5")
    assert (echo.run_id, echo.episode_id, echo.source) == ("r1", "e1", "proc")
    assert echo.parent_image.endswith("dash") or echo.parent_image.endswith("sh")
    assert echo.cwd == os.getcwd()
    assert echo.user == "root"
    assert abs(echo.ts - time.time()) < 5
    end = out.wait_for(lambda e: e.activity == "terminate" and e.pid == proc.pid)
    assert end.exit_code == 3
    # processes outside the registered tree are not reported
    subprocess.run(["/bin/echo", "wk-unwatched"], stdout=subprocess.DEVNULL, check=True)
    time.sleep(0.2)
    assert not [e for e in out.events if "wk-unwatched" in e.command_line]
    assert s.stats().received > 0 and s.stats().dropped == 0


@pytest.mark.root
@root
def test_double_forked_setsid_daemon_keeps_its_step(
    sensor: tuple[ProcSensor, Collector], tmp_path: Path
) -> None:
    s, out = sensor
    pidfile = tmp_path / "daemon.pid"
    # the daemon: setsid + background + nohup; it waits for its parent to be gone, then execs
    daemon = (
        f"echo $$ > {pidfile}; while kill -0 $PPID_ORIG 2>/dev/null; do sleep 0.02; done; "
        "exec sleep 0.3"
    )
    script = (
        f"PPID_ORIG=$$; export PPID_ORIG; (setsid nohup sh -c '{daemon}' >/dev/null 2>&1 &); exit 0"
    )
    proc = subprocess.Popen(["sh", "-c", "read x; " + script], stdin=subprocess.PIPE)
    s.lineage.register_root(proc.pid, "sbx-2", 9, "call-9")
    s.lineage.register_root(os.getpid() + 2_000_000, "other", 1)  # an unrelated registration
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.close()
    assert proc.wait(5) == 0
    late = out.wait_for(
        lambda e: e.activity == "launch" and e.command_line == "sleep 0.3",
        debug=lambda: (s.stats(), s.alive, s.lineage.pids(), proc.pid),
    )
    daemon_pid = int(pidfile.read_text())
    assert late.pid == daemon_pid
    assert (late.sandbox_id, late.step, late.tool_call_id) == ("sbx-2", 9, "call-9")
    attribution = s.lineage.attribution_of(daemon_pid)
    assert attribution is not None and attribution.root_pid == proc.pid


@pytest.mark.root
@root
def test_cgroup_membership_attributes_processes_without_lineage(
    sensor: tuple[ProcSensor, Collector],
) -> None:
    s, out = sensor
    group = Path(f"/sys/fs/cgroup/unified/wk-test-proc-{os.getpid()}")
    group.mkdir()
    try:
        s.lineage.register_cgroup(f"/wk-test-proc-{os.getpid()}", "sbx-cg")
        # the marked process lives a moment so that its command line can still be read when the
        # sensor handles its exec (what is tested here is the cgroup attribution, not that race)
        proc = subprocess.Popen(
            ["sh", "-c", "read x; /bin/sh -c 'sleep 0.3' wk-in-cgroup"],
            stdin=subprocess.PIPE,
        )
        (group / "cgroup.procs").write_text(str(proc.pid))
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.close()
        proc.wait(5)
        event = out.wait_for(lambda e: "wk-in-cgroup" in e.command_line)
        assert (event.sandbox_id, event.step) == ("sbx-cg", None)
    finally:
        group.rmdir()


@pytest.mark.root
@root
def test_overrun_is_counted_and_reported_not_silent() -> None:
    losses: list[SensorLoss] = []
    gate = threading.Event()

    def slow_emit(event: object) -> None:
        gate.wait(2.0)  # the first event stalls the reader: the tiny buffer overflows

    s = ProcSensor(
        rcvbuf=4096, watch_all=True, emit_exit=False, on_loss=losses.append, priority="default"
    )
    s.start(slow_emit)
    try:
        code = "import os\nfor _ in range(300):\n    pid = os.fork()\n    if pid == 0: os._exit(0)\n    os.waitpid(pid, 0)\n"
        subprocess.run(["/bin/true"], check=True)
        subprocess.run([sys.executable, "-c", code], check=True)
        gate.set()
        deadline = time.monotonic() + 5
        while not losses and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        gate.set()
        s.stop()
    assert s.stats().dropped >= 1
    assert losses and losses[0].sensor == "proc" and losses[0].count >= 1
    assert "ENOBUFS" in losses[0].reason


@pytest.mark.root
@root
def test_heartbeat_and_priority() -> None:
    beats: list[float] = []
    s = ProcSensor(heartbeat=lambda: beats.append(time.monotonic()))
    s.start(lambda e: None)
    try:
        time.sleep(0.6)
        assert s.alive
        assert s.priority_in_effect in ("fifo:50", "nice:-20", "default")
        assert s.rcvbuf_granted >= 8 * 1024 * 1024
    finally:
        s.stop()
    assert len(beats) >= 2
    assert not s.alive


def test_loss_reports_are_coalesced_but_never_silent() -> None:
    got: list[SensorLoss] = []
    reporter = LossReporter("proc", got.append, interval_s=60)
    for _ in range(5):
        reporter.lost("overrun")
    assert [r.count for r in got] == [1]  # the first at once, the rest held back
    reporter.flush()
    assert [(r.count, r.total) for r in got] == [(1, 1), (4, 5)]
    reporter.flush()
    assert len(got) == 2 and reporter.total == 5
