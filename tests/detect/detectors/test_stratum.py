import pytest

from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors import StratumDetector
from watchkeeper.events import DnsEvent, NetworkEvent


def traffic(
    port=3333,
    detail=(("method", "mining.subscribe"), ("variant", "stratum")),
    app="stratum",
    sport=40000,
):
    return NetworkEvent(
        ts=10.0,
        activity="traffic",
        app_protocol=app,
        src_ip="10.213.0.2",
        src_port=sport,
        dst_ip="198.51.100.9",
        dst_port=port,
        detail=detail,
        sandbox_id="s",
        step=3,
    )


def test_plain_stratum_on_a_miner_port():
    (alert,) = StratumDetector().observe(traffic())
    assert alert.rule_id == "detector:stratum" and alert.attack == ("T1496",)
    assert alert.severity == Severity.HIGH and alert.step == 3 and alert.sandbox_id == "s"
    assert (
        alert.evidence[0].field == "detail.method" and alert.evidence[0].text == "mining.subscribe"
    )


def test_evasive_stratum_on_443_with_login_is_critical_and_non_standard_port():
    ev = traffic(
        443,
        (
            ("method", "login"),
            ("variant", "cryptonote"),
            ("login", "4WALLET"),
            ("agent", "XMRig/6"),
        ),
    )
    (alert,) = StratumDetector().observe(ev)
    assert alert.severity == Severity.CRITICAL and alert.attack == ("T1496", "T1571")
    assert [e.text for e in alert.evidence] == ["login", "4WALLET", "XMRig/6"]
    assert "4WALLET" in alert.description


def test_once_per_flow():
    d = StratumDetector()
    assert len(d.observe(traffic())) == 1
    assert d.observe(traffic(detail=(("method", "mining.notify"),))) == []
    assert len(d.observe(traffic(sport=40001))) == 1


def test_getwork_over_http_and_pool_name_from_dns():
    d = StratumDetector()
    d.observe(DnsEvent(query_name="pool.example", answers=("198.51.100.9",)))
    (alert,) = d.observe(
        traffic(8332, (("method", "POST"), ("jsonrpc_method", "getwork")), app="http")
    )
    assert "pool.example" in alert.title and alert.attack == ("T1496", "T1571")


@pytest.mark.parametrize(
    "ev",
    [
        traffic(app="http", detail=(("method", "GET"),)),
        traffic(app="tls"),
        NetworkEvent(activity="open", app_protocol="stratum"),
        DnsEvent(query_name="pool.minexmr.com"),
    ],
)
def test_other_events_do_not_alert(ev):
    assert StratumDetector().observe(ev) == []
