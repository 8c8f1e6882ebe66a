import pytest

from watchkeeper.detect.detectors import FanoutConfig, FanoutDetector
from watchkeeper.events import DnsEvent, NetworkEvent

SBX = "10.213.0.2"


def open_ev(host, port, ts, proto="tcp", sport=40000, **kw):
    return NetworkEvent(
        ts=ts,
        activity="open",
        protocol=proto,
        src_ip=SBX,
        src_port=sport,
        dst_ip=host,
        dst_port=port,
        initiated=True,
        **kw,
    )


def close_ev(host, port, ts, state):
    return NetworkEvent(
        ts=ts,
        activity="close",
        protocol="tcp",
        src_ip=SBX,
        src_port=40000,
        dst_ip=host,
        dst_port=port,
        initiated=True,
        detail=(("conn_state", state),),
    )


def run(d, events):
    return [a for e in events for a in d.observe(e)]


def test_port_scan_threshold_and_suppression():
    d = FanoutDetector()
    alerts = run(d, [open_ev("10.0.0.5", p, 1.0 + p / 100) for p in range(1, 10)])
    assert alerts == []
    (a,) = d.observe(open_ev("10.0.0.5", 10, 1.2))
    assert a.rule_id == "detector:fanout-portscan" and a.attack == ("T1046",)
    assert "10 ports on 10.0.0.5" in a.title and len(a.evidence) == 10
    assert d.observe(open_ev("10.0.0.5", 11, 1.3)) == []  # suppressed


def test_slow_scan_outside_window_does_not_alert():
    d = FanoutDetector(FanoutConfig(window_s=30))
    assert run(d, [open_ev("10.0.0.5", p, p * 4.0) for p in range(1, 30)]) == []


def test_configurable_thresholds():
    d = FanoutDetector(FanoutConfig(ports_per_host=3))
    assert [a.rule_id for a in run(d, [open_ev("10.0.0.5", p, 1.0) for p in (1, 2, 3)])] == [
        "detector:fanout-portscan"
    ]


def test_host_sweep_counts_unresolved_hosts_only():
    d = FanoutDetector()
    # a browser: 12 hosts, all resolved through DNS first
    for i in range(12):
        d.observe(DnsEvent(query_name=f"cdn{i}.example", answers=(f"203.0.113.{i}",)))
    assert run(d, [open_ev(f"203.0.113.{i}", 443, 2.0) for i in range(12)]) == []
    # a sweep of raw addresses
    alerts = run(d, [open_ev(f"10.0.1.{i}", 22, 3.0) for i in range(8)])
    assert [a.rule_id for a in alerts] == ["detector:fanout-hostsweep"] and alerts[0].attack == (
        "T1018",
    )


def test_icmp_echo_sweep():
    d = FanoutDetector()
    alerts = run(d, [open_ev(f"10.0.2.{i}", 0, 1.0, proto="icmp") for i in range(8)])
    assert [a.rule_id for a in alerts] == ["detector:fanout-hostsweep"]


@pytest.mark.parametrize("state", ["S0", "REJ", "RSTOS0", "SH"])
def test_failures(state):
    d = FanoutDetector()
    assert run(d, [close_ev("10.0.0.9", p, 1.0 + p, state) for p in range(4)]) == []
    alerts = d.observe(close_ev("10.0.0.9", 4, 5.0, state))
    assert [a.rule_id for a in alerts] == ["detector:fanout-failures"]
    assert "5 failed" in alerts[0].title and alerts[0].attack == ("T1046",)


def test_repeated_failures_to_one_target_count_once():
    d = FanoutDetector()
    assert run(d, [close_ev("10.0.0.9", 22, 1.0 + i, "REJ") for i in range(10)]) == []


def test_successful_closes_are_not_failures():
    d = FanoutDetector()
    assert run(d, [close_ev("10.0.0.9", p, 1.0, "SF") for p in range(20)]) == []


def test_inbound_flows_are_ignored():
    d = FanoutDetector()
    evs = [
        NetworkEvent(
            ts=1.0, activity="open", src_ip=SBX, dst_ip="10.0.0.5", dst_port=p, initiated=False
        )
        for p in range(20)
    ]
    assert run(d, evs) == []


def test_sources_are_independent():
    d = FanoutDetector()
    a = [open_ev("10.0.0.5", p, 1.0) for p in range(5)]
    b = [
        NetworkEvent(
            ts=1.0,
            activity="open",
            src_ip="10.213.0.6",
            dst_ip="10.0.0.5",
            dst_port=p,
            initiated=True,
        )
        for p in range(5, 10)
    ]
    assert run(d, a + b) == []
