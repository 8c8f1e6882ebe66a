from watchkeeper.alerts import Severity
from watchkeeper.detect.detectors import SshDetector
from watchkeeper.events import DnsEvent, NetworkEvent

SBX, OUT = "10.213.0.2", "198.51.100.22"


def ev(
    activity="traffic",
    port=22,
    detail=(("banner", "SSH-2.0-OpenSSH_9.6"), ("side", "local")),
    ts=100.0,
    initiated=True,
    dst=OUT,
    **kw,
):
    return NetworkEvent(
        ts=ts,
        activity=activity,
        app_protocol="ssh",
        src_ip=SBX,
        src_port=40000,
        dst_ip=dst,
        dst_port=port,
        detail=detail,
        initiated=initiated,
        **kw,
    )


def test_ssh_outside_allowlist_plain_and_on_port_80():
    (a,) = SshDetector().observe(ev())
    assert (
        a.rule_id == "detector:ssh" and a.attack == ("T1021.004",) and a.severity == Severity.HIGH
    )
    (b,) = SshDetector().observe(ev(port=80))
    assert b.attack == ("T1021.004", "T1571") and "port 80" in b.title


def test_allowlist_by_ip_cidr_and_dns_name():
    assert SshDetector(allow=[OUT]).observe(ev()) == []
    assert SshDetector(allow=["198.51.100.0/24"]).observe(ev()) == []
    d = SshDetector(allow=["github.com"])
    d.observe(DnsEvent(query_name="ssh.github.com", answers=(OUT,)))
    assert d.observe(ev(port=443)) == []
    assert len(SshDetector(allow=["github.com"]).observe(ev(port=443))) == 1


def test_one_alert_per_flow_for_both_banners():
    d = SshDetector()
    assert len(d.observe(ev())) == 1
    assert d.observe(ev(detail=(("banner", "SSH-2.0-x"), ("side", "remote")))) == []


def test_reverse_shape_sandbox_is_server_on_its_own_connection():
    d = SshDetector(allow=[OUT])
    alerts = d.observe(ev(port=8022, detail=(("ssh_server", "local"), ("side", "local"))))
    assert [a.rule_id for a in alerts] == ["detector:ssh-reverse"]
    assert alerts[0].attack == ("T1572", "T1021.004") and alerts[0].severity == Severity.CRITICAL
    # an inbound connection to an sshd in the sandbox is not the reverse shape
    assert (
        SshDetector(allow=[OUT]).observe(ev(initiated=False, detail=(("ssh_server", "local"),)))
        == []
    )
    # the usual shape: the remote side is the server
    assert SshDetector(allow=[OUT]).observe(ev(detail=(("ssh_server", "remote"),))) == []


def test_long_lived_bidirectional_bulk_is_a_tunnel():
    d = SshDetector(long_s=120, bulk_bytes=1 << 20)
    d.observe(ev(ts=0.0))
    short = ev(
        activity="traffic",
        ts=60.0,
        detail=(("update", "true"), ("duration", "60")),
        bytes_out=5 << 20,
        bytes_in=5 << 20,
    )
    assert d.observe(short) == []
    one_way = ev(
        activity="close",
        ts=300.0,
        detail=(("conn_state", "SF"), ("duration", "300")),
        bytes_out=5 << 20,
        bytes_in=4096,
    )
    assert d.observe(one_way) == []
    d.observe(ev(ts=0.0))
    both = ev(
        activity="traffic",
        ts=200.0,
        detail=(("update", "true"), ("duration", "200")),
        bytes_out=3 << 20,
        bytes_in=2 << 20,
    )
    (a,) = d.observe(both)
    assert a.rule_id == "detector:ssh-tunnel" and a.attack == ("T1572",)
    assert len(a.evidence) == 2 and "200" in a.evidence[1].text


def test_non_ssh_ignored():
    assert (
        SshDetector().observe(
            NetworkEvent(activity="traffic", app_protocol="tls", dst_ip=OUT, dst_port=22)
        )
        == []
    )
