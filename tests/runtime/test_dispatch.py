"""The dispatcher's ordering guarantees and alert folding."""

from __future__ import annotations

import threading

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.attribution.lineage import Lineage
from watchkeeper.events import NetworkEvent, ProcessEvent
from watchkeeper.runtime.dispatch import Dispatcher, _fold_key
from watchkeeper.runtime.sockets import SocketOwners


def _alert(event: object, rule: str = "r") -> Alert:
    return Alert(rule_id=rule, title="t", severity=Severity.HIGH,
                 evidence=(Evidence(event=event),))  # type: ignore[arg-type]  # fmt: skip


def test_a_rule_fires_once_per_flow_and_once_per_exec() -> None:
    opened = NetworkEvent(activity="open", src_ip="a", src_port=1, dst_ip="b", dst_port=2)
    traffic = NetworkEvent(activity="traffic", src_ip="a", src_port=1, dst_ip="b", dst_port=2)
    other = NetworkEvent(activity="open", src_ip="a", src_port=3, dst_ip="b", dst_port=2)
    assert _fold_key(_alert(opened)) == _fold_key(_alert(traffic)) != _fold_key(_alert(other))
    assert _fold_key(_alert(opened, "x")) != _fold_key(_alert(opened, "y"))
    assert _fold_key(_alert(NetworkEvent(activity="deny"))) is None  # each attempt counts
    shim = ProcessEvent(pid=5, command_line="python3 -c x")
    assert _fold_key(_alert(shim)) == _fold_key(_alert(ProcessEvent(pid=5, command_line="python3 -c x")))
    assert _fold_key(_alert(shim)) != _fold_key(_alert(ProcessEvent(pid=6, command_line="python3 -c x")))
    assert _fold_key(Alert(rule_id="r", title="t", severity=Severity.LOW)) is None


def test_exit_waiters_and_barrier_follow_the_queue_order() -> None:
    beats: list[int] = []
    dispatcher = Dispatcher(Lineage(), SocketOwners(lambda s: []), heartbeat=lambda: beats.append(1),
                            rt_priority=None)  # fmt: skip
    dispatcher.start()
    try:
        waiter = dispatcher.expect_exit(123)
        order: list[str] = []
        dispatcher.put(lambda: order.append("first"))
        dispatcher.put(ProcessEvent(pid=123, activity="terminate", sandbox_id="unknown"))
        assert waiter.wait(2.0) and order == ["first"]
        assert dispatcher.barrier(2.0)
        dispatcher.forget_exit(123)
        assert dispatcher.expect_exit(123) is not waiter
        done = threading.Event()
        dispatcher.put(done.set)
        assert done.wait(2.0)
    finally:
        dispatcher.stop()
    assert not dispatcher.barrier(0.1)  # stopped
    assert beats and dispatcher.errors == 0
