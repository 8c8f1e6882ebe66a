"""The live network sensor on a veth pair into a namespace the test creates (root only)."""

import json
import os
import shutil
import sys
import time

import pytest

from watchkeeper.detect.detectors import network_detectors
from watchkeeper.errors import SensorError
from watchkeeper.events import NetworkEvent
from watchkeeper.sensors import Sensor
from watchkeeper.sensors.net import NetSensor
from watchkeeper.testing.simulants import (
    MultiPortListener,
    SinkServer,
    SshBannerServer,
    StratumPool,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]
SIM = [sys.executable, "-m", "watchkeeper.testing.simulants"]


@pytest.fixture(scope="module")
def veth():
    from watchkeeper.testing.netns import veth_namespace

    with veth_namespace() as v:
        yield v


def _until(pred, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.02)


def test_sensor_protocol():
    assert isinstance(NetSensor("lo"), Sensor)


def test_unknown_interface():
    with pytest.raises(SensorError):
        NetSensor("wk-no-such-if").start(lambda e: None)


def test_stratum_flow_seen_with_counters_and_no_drops(veth):
    events = []
    losses = []
    with StratumPool(veth.host_ip) as pool:
        beats = []
        sensor = NetSensor(
            veth.host_if,
            sandbox_id="sbx1",
            run_id="r1",
            on_loss=losses.append,
            heartbeat=lambda: beats.append(1),
        )
        sensor.start(events.append)
        try:
            veth.run(
                [
                    *SIM,
                    "miner",
                    "--host",
                    veth.host_ip,
                    "--port",
                    str(pool.port),
                    "--variant",
                    "cryptonote",
                ]
            )
            _until(
                lambda: any(e.activity == "close" for e in events if isinstance(e, NetworkEvent))
            )
            # The capture thread beats every ~100 ms while healthy; a fast flow can end sooner.
            _until(lambda: len(beats) >= 2)
        finally:
            sensor.stop()
    flow = [e for e in events if isinstance(e, NetworkEvent) and e.dst_port == pool.port]
    acts = [e.activity for e in flow]
    assert acts[0] == "open" and acts[-1] == "close" and "traffic" in acts
    op = flow[0]
    assert op.src_ip == veth.sandbox_ip and op.dst_ip == veth.host_ip and op.initiated
    assert op.sandbox_id == "sbx1" and op.run_id == "r1" and op.source == "net"
    assert len(beats) >= 2 and not sensor.alive
    fp = [e for e in flow if e.activity == "traffic" and dict(e.detail).get("side") == "local"][0]
    assert fp.app_protocol == "stratum" and dict(fp.detail)["method"] == "login"
    assert dict(fp.detail)["agent"].startswith("XMRig/")
    close = flow[-1]
    assert dict(close.detail)["conn_state"] == "SF"
    assert close.bytes_out > 200 and close.bytes_in > 100 and close.packets_out >= 4
    stats = sensor.stats()
    assert stats.dropped == 0 and stats.received >= len(acts) and losses == []
    alerts = [a for d in network_detectors() for e in events for a in d.observe(e)]
    assert [a.rule_id for a in alerts] == ["detector:stratum"]


def test_bulk_flow_is_excluded_in_kernel_but_bytes_stay_exact(veth):
    events = []
    sink = SinkServer(veth.host_ip).start()
    sensor = NetSensor(veth.host_if)
    sensor.start(events.append)
    try:
        out = veth.run(
            [*SIM, "bulk", "--host", veth.host_ip, "--port", str(sink.port), "--seconds", "1"]
        )
        sent = json.loads(out.stdout)["result"]
        _until(lambda: any(e.activity == "close" for e in events if isinstance(e, NetworkEvent)))
    finally:
        sensor.stop()
        sink.stop()
    close = [
        e
        for e in events
        if isinstance(e, NetworkEvent) and e.activity == "close" and e.dst_port == sink.port
    ][0]
    assert close.bytes_out == sent
    assert sensor.filter_swaps >= 1
    # a 1 s bulk transfer is tens of thousands of segments; only starts, samples and ends reach Python
    assert sensor.packets_seen < 2000
    assert 4 * sensor.packets_seen < close.packets_out + close.packets_in
    assert sensor.stats().dropped == 0


def test_ssh_on_port_80_and_python_port_scan_alert(veth):
    events = []
    with (
        SshBannerServer(veth.host_ip) as sshd,
        MultiPortListener(veth.host_ip, [0] * 4) as open_ports,
    ):
        sensor = NetSensor(veth.host_if)
        sensor.start(events.append)
        try:
            veth.run([*SIM, "ssh-client", "--host", veth.host_ip, "--port", str(sshd.port)])
            ports = ",".join(str(p) for p in [*open_ports.ports, *range(20000, 20008)])
            found = json.loads(
                veth.run([*SIM, "scan", "--host", veth.host_ip, "--ports", ports]).stdout
            )["result"]
            assert sorted(found) == sorted(open_ports.ports)
            _until(
                lambda: (
                    sum(e.activity == "close" for e in events if isinstance(e, NetworkEvent)) >= 13
                )
            )
        finally:
            sensor.stop()
    detectors = network_detectors()
    rules = {a.rule_id for e in events for d in detectors for a in d.observe(e)}
    assert "detector:ssh" in rules
    assert {"detector:fanout-portscan", "detector:fanout-failures"} <= rules
    rej = [
        e
        for e in events
        if isinstance(e, NetworkEvent)
        and e.activity == "close"
        and e.dst_port in range(20000, 20008)
    ]
    assert len(rej) == 8 and {dict(e.detail)["conn_state"] for e in rej} == {"REJ"}


def test_kernel_drops_are_counted_and_reported(veth):
    losses = []
    sensor = NetSensor(veth.host_if, rcvbuf=1, on_loss=losses.append)
    sensor.start(lambda e: time.sleep(0.001))  # a slow consumer
    try:
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range(3000): s.sendto(b'x' * 200, ('{veth.host_ip}', 9))\n"
        )
        veth.run([sys.executable, "-c", code])
        _until(lambda: bool(losses), timeout=3)
    finally:
        sensor.stop()
    assert sensor.stats().dropped > 0
    assert losses and losses[0].sensor == "net" and losses[-1].total == sensor.stats().dropped


def test_stop_processes_what_the_kernel_already_queued(veth):
    opens = []

    def slow(e):
        if isinstance(e, NetworkEvent) and e.activity == "open":
            opens.append(e)
        time.sleep(0.002)  # a consumer slower than the traffic: a backlog builds up

    srv = MultiPortListener(veth.host_ip, [0]).start()
    sensor = NetSensor(veth.host_if)
    sensor.start(slow)
    try:
        veth.run(
            [*SIM, "storm", "--host", veth.host_ip, "--port", str(srv.ports[0]), "--count", "200"]
        )
    finally:
        sensor.stop()
        srv.stop()
    assert len([e for e in opens if e.dst_port == srv.ports[0]]) == 200
    assert sensor.stats().dropped == 0 and sensor.packets_seen == sensor.stats().received
