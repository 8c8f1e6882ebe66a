"""Benchmark of the network sensor, inside a veth pair and namespace it creates (root only).

(a) Flow starts: the namespace opens N short TCP connections to a listener on the host end as
    fast as it can; the sensor must see N flow starts ("open" events), with zero kernel drops.
(b) Bulk throughput: a TCP transfer from the namespace to a sink on the host end, with the
    sensor off and on (alternating, several repetitions, same run); reports the ratio of the
    medians and the sensor's CPU time. ``--no-exclude`` turns the kernel exclusion list off
    (every packet reaches Python), to show what it buys.

Traffic stays inside the veth pair. Prints a summary and one JSON line.

    .venv/bin/python bench/net_sensor.py [--flows 3000] [--seconds 3] [--reps 5] [--no-offload]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from watchkeeper.events import Event, NetworkEvent
from watchkeeper.sensors.net import NetSensor
from watchkeeper.testing.netns import VethNamespace, veth_namespace

PY = sys.executable
SIM = [PY, "-m", "watchkeeper.testing.simulants"]


def _server(kind: str, host: str, seconds: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [*SIM, kind, "--host", host, "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(json.loads(proc.stdout.readline())["port"])
    return proc, port


def _result(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout.strip().splitlines()[-1])["result"]


def flow_starts(v: VethNamespace, n: int) -> dict[str, Any]:
    """(a): N connections from the namespace; how many starts the sensor saw."""
    server, port = _server("accept", v.host_ip, 120)
    opens: list[NetworkEvent] = []

    def on_event(e: Event) -> None:
        if isinstance(e, NetworkEvent) and e.activity == "open" and e.dst_port == port:
            opens.append(e)

    sensor = NetSensor(v.host_if)
    sensor.start(on_event)
    try:
        secs = float(_result(v.run([*SIM, "storm", "--host", v.host_ip, "--port", str(port),
                                    "--count", str(n)], timeout=300)))  # fmt: skip
        time.sleep(1.0)
    finally:
        sensor.stop()
        server.terminate()
        server.wait()
    st = sensor.stats()
    return {
        "connections": n,
        "seconds": round(secs, 3),
        "connections_per_s": round(n / secs),
        "flow_starts_seen": len(opens),
        "missed": n - len({(e.src_port, e.ts) for e in opens}),
        "kernel_packets": st.received,
        "python_packets": sensor.packets_seen,
        "kernel_drops": st.dropped,
        "sensor_cpu_s": round(sensor.cpu_seconds, 3),
        "sensor_us_per_flow": round(1e6 * sensor.cpu_seconds / n, 1),
    }


def _bulk_once(
    v: VethNamespace, port: int, seconds: float, sensor: NetSensor | None
) -> tuple[float, float, int]:
    """(bytes/s, sensor thread CPU seconds, packets that reached Python)."""
    if sensor is not None:
        sensor.start(lambda e: None)
    try:
        out = v.run([*SIM, "bulk", "--host", v.host_ip, "--port", str(port),
                     "--seconds", str(seconds)], timeout=seconds + 60)  # fmt: skip
        sent = int(_result(out))
    finally:
        if sensor is not None:
            sensor.stop()
    if sensor is None:
        return sent / seconds, 0.0, 0
    return sent / seconds, sensor.cpu_seconds, sensor.packets_seen


def bulk(v: VethNamespace, seconds: float, reps: int, exclude: bool) -> dict[str, Any]:
    """(b): throughput with the sensor off and on, in adjacent pairs (order alternating)."""
    server, port = _server("sink", v.host_ip, (seconds + 5) * reps * 2 + 60)
    off: list[float] = []
    on: list[float] = []
    cpu: list[float] = []
    seen: list[int] = []
    drops = 0
    try:
        _bulk_once(v, port, 1.0, None)  # warm-up
        for i in range(reps):
            sensor = NetSensor(v.host_if, exclude_bulk=exclude)
            for with_sensor in (i % 2 == 0, i % 2 == 1):
                if with_sensor:
                    rate, c, s = _bulk_once(v, port, seconds, sensor)
                    on.append(rate)
                    cpu.append(c)
                    seen.append(s)
                else:
                    off.append(_bulk_once(v, port, seconds, None)[0])
            drops += sensor.stats().dropped
    finally:
        server.terminate()
        server.wait()
    pair = [a / b for a, b in zip(on, off, strict=True)]
    m_off, m_on = statistics.median(off), statistics.median(on)
    moved = sum(on) * seconds
    return {
        "exclude_bulk": exclude,
        "seconds": seconds,
        "reps": reps,
        "off_MBps": [round(x / 1e6) for x in off],
        "on_MBps": [round(x / 1e6) for x in on],
        "ratio_of_medians": round(m_on / m_off, 4),
        "median_pair_ratio": round(statistics.median(pair), 4),
        "slowdown_pct": round(100 * (1 - statistics.median(pair)), 2),
        "sensor_cpu_s_per_run": [round(c, 3) for c in cpu],
        "sensor_cpu_pct_of_core": round(100 * statistics.median(cpu) / seconds, 2),
        "sensor_cpu_s_per_GB": round(sum(cpu) / (moved / 1e9), 4),
        "packets_to_python_per_run": seen,
        "kernel_drops": drops,
    }


def python_cost() -> dict[str, Any]:
    """(c): the Python cost per packet and per short flow, offline (decode + flow table)."""
    from watchkeeper.netproto import decode_ethernet
    from watchkeeper.sensors._net_flows import FlowTable
    from watchkeeper.testing.packets import TcpSession

    s = TcpSession("10.213.0.2", 40000, "10.213.0.1", 5000)
    bulk_frames = s.handshake() + s.send(b"x" * 1448 * 20000)
    flows: list[bytes] = []
    for i in range(5000):
        t = TcpSession("10.213.0.2", 10000 + i, "10.213.0.1", 5000)
        flows += t.handshake() + t.reset(True)
    out: dict[str, Any] = {}
    for name, frames, unit in (("bulk", bulk_frames, len(bulk_frames)), ("flows", flows, 5000)):
        table = FlowTable(lambda e: None)
        start = time.process_time()
        for i, f in enumerate(frames):
            pkt = decode_ethernet(f)
            assert pkt is not None
            table.process(pkt, 1000.0 + i * 1e-5, None)
        out[f"us_per_{'packet' if name == 'bulk' else 'flow'}"] = round(
            1e6 * (time.process_time() - start) / unit, 1
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--no-offload", action="store_true", help="turn TSO/GSO/GRO off (needs ethtool)"
    )
    ap.add_argument(
        "--no-exclude", action="store_true", help="also run (b) without the exclusion list"
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespace, AF_PACKET)", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"bench": "net_sensor", "offload": not args.no_offload}
    out["python"] = python_cost()
    print(f"(c) Python cost, offline: {out['python']}", flush=True)
    with veth_namespace(offload=not args.no_offload) as v:
        out["flows"] = flow_starts(v, args.flows)
        print(f"(a) flow starts: {out['flows']}", flush=True)
        out["bulk"] = bulk(v, args.seconds, args.reps, exclude=True)
        print(f"(b) bulk, exclusion on: {out['bulk']}", flush=True)
        if args.no_exclude:
            out["bulk_no_exclude"] = bulk(v, args.seconds, args.reps, exclude=False)
            print(f"(b) bulk, exclusion off: {out['bulk_no_exclude']}", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
