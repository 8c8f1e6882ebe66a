from __future__ import annotations

import threading
import time

from watchkeeper.attribution.lineage import Attribution, Lineage


def test_fork_inherits_attribution_and_survives_reparenting() -> None:
    lin = Lineage()
    lin.register_root(100, "sbx", 2, "call-2")
    assert lin.on_fork(100, 101) == Attribution("sbx", 2, "call-2", 100)
    lin.on_fork(101, 102)  # the daemon
    lin.on_exit(101)  # intermediate parent exits: 102 is reparented to pid 1
    lin.on_exec(102, "/usr/bin/sleep", "sleep 60")
    attribution = lin.attribution_of(102)
    assert attribution is not None and attribution.step == 2
    assert lin.ancestors(102) == [101, 100]
    lin.on_fork(102, 103)  # the daemon forks after its parent died
    assert lin.attribution_of(103) == Attribution("sbx", 2, "call-2", 100)


def test_unwatched_processes_are_not_attributed() -> None:
    lin = Lineage()
    lin.register_root(100, "sbx", 0)
    assert lin.on_fork(1, 200) is None
    assert lin.on_exec(200, "/bin/x", "x") is None
    assert lin.attribution_of(200) is None
    assert lin.pids() == {100}


def test_late_registration_adopts_descendants_forked_first() -> None:
    lin = Lineage()
    lin.on_fork(50, 60)  # the runtime's child forks before register_root returns
    lin.on_fork(60, 61)
    lin.on_fork(61, 62)
    lin.on_exit(61)
    lin.register_root(60, "sbx", 4, "c4")
    assert lin.attribution_of(62) == Attribution("sbx", 4, "c4", 60)
    assert lin.record(61) is not None and not lin.record(61).alive  # exited: kept as a link
    assert lin.descendants(60) == {62}


def test_pid_reuse_resets_attribution() -> None:
    lin = Lineage()
    lin.register_root(10, "sbx", 1)
    lin.on_fork(10, 11)
    lin.on_exit(11)
    assert lin.attribution_of(11) is not None  # recent exits stay resolvable
    lin.on_fork(1, 11)  # pid 11 reused by an unwatched process
    assert lin.attribution_of(11) is None


def test_cgroup_registration_and_queries() -> None:
    lin = Lineage()
    assert not lin.watches_cgroups
    lin.register_cgroup("/wk/sbx-a/", "a")
    assert lin.sandbox_of_cgroup("/wk/sbx-a/inner/leaf") == "a"
    assert lin.sandbox_of_cgroup("/wk/sbx-b") is None
    lin.adopt(300, Attribution("a"))
    lin.register_root(301, "a", 7, "c7")
    lin.on_fork(301, 302)
    assert lin.active_steps("a") == {(7, "c7")}
    assert lin.pids("a", 7) == {301, 302}
    assert lin.pids("a") == {300, 301, 302}
    lin.unregister_sandbox("a")
    assert len(lin) == 0 and lin.sandbox_of_cgroup("/wk/sbx-a") is None


def test_concurrent_writers_and_readers() -> None:
    lin = Lineage()
    lin.register_root(1_000_000, "sbx", 0)

    def writer(base: int) -> None:
        for i in range(1000):
            lin.on_fork(1_000_000, base + i)
            lin.on_exit(base + i)

    def reader() -> None:
        for _ in range(1000):
            lin.pids("sbx")
            lin.descendants(1_000_000)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (10_000, 20_000)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lin.pids("sbx") == {1_000_000}


def test_a_fork_event_older_than_the_registration_keeps_the_root() -> None:
    lin = Lineage()
    fork_ts = time.monotonic_ns()
    lin.register_root(500, "sbx", 3, "c3")  # the runtime registered before the sensor caught up
    assert lin.on_fork(1, 500, fork_ts) == Attribution("sbx", 3, "c3", 500)
    assert lin.attribution_of(500) == Attribution("sbx", 3, "c3", 500)
    lin.on_exit(500)
    assert lin.on_fork(1, 500, time.monotonic_ns()) is None  # a newer fork: pid reuse
