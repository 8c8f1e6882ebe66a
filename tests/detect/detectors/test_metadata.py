import pytest

from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors import MetadataDetector
from watchkeeper.events import DnsEvent, NetworkEvent


@pytest.mark.parametrize(
    "ip", ["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"]
)
def test_connection_to_metadata_addresses(ip):
    (a,) = MetadataDetector().observe(
        NetworkEvent(ts=1.0, activity="open", src_ip="10.213.0.2", dst_ip=ip, dst_port=80)
    )
    assert (
        a.rule_id == "detector:metadata"
        and a.attack == ("T1552.005",)
        and a.severity == Severity.HIGH
    )
    assert a.evidence[0].field == "dst_ip" and a.evidence[0].text == ip


def test_dns_lookup_and_suppression():
    d = MetadataDetector(suppress_s=300)
    q = DnsEvent(ts=1.0, query_name="metadata.google.internal", src_ip="10.213.0.2")
    assert [a.rule_id for a in d.observe(q)] == ["detector:metadata"]
    assert (
        d.observe(DnsEvent(ts=2.0, query_name="METADATA.google.internal.", src_ip="10.213.0.2"))
        == []
    )
    assert (
        len(
            d.observe(
                DnsEvent(ts=400.0, query_name="metadata.google.internal", src_ip="10.213.0.2")
            )
        )
        == 1
    )


def test_credential_path_is_critical():
    ev = NetworkEvent(
        ts=1.0,
        activity="traffic",
        app_protocol="http",
        src_ip="10.213.0.2",
        dst_ip="169.254.169.254",
        dst_port=80,
        detail=(
            ("method", "GET"),
            ("path", "/latest/meta-data/iam/security-credentials/r"),
            ("host", "169.254.169.254"),
        ),
    )
    (a,) = MetadataDetector().observe(ev)
    assert a.rule_id == "detector:metadata-credentials" and a.severity == Severity.CRITICAL


def test_metadata_host_header_through_a_proxy():
    ev = NetworkEvent(
        ts=1.0,
        activity="traffic",
        app_protocol="http",
        src_ip="10.213.0.2",
        dst_ip="10.213.0.1",
        dst_port=3128,
        detail=(
            ("method", "GET"),
            ("path", "/computeMetadata/v1/instance/service-accounts/default/token"),
            ("host", "metadata.google.internal"),
        ),
    )
    assert {a.rule_id for a in MetadataDetector().observe(ev)} == {
        "detector:metadata",
        "detector:metadata-credentials",
    }


@pytest.mark.parametrize(
    "ev",
    [
        NetworkEvent(activity="open", dst_ip="169.254.1.1", dst_port=80),
        NetworkEvent(activity="open", dst_ip="169.254.169.254", dst_port=80, initiated=False),
        DnsEvent(query_name="metadata.example.com"),
        NetworkEvent(
            activity="traffic",
            app_protocol="http",
            dst_ip="10.0.0.1",
            detail=(("path", "/security-credentials"),),
        ),
    ],
)
def test_no_alert(ev):
    assert MetadataDetector().observe(ev) == []
