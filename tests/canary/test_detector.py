"""The canary detector on synthetic events of every kind it consumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.alerts import Severity
from watchkeeper.canary import (
    RULE_DNS,
    RULE_FILE_READ,
    RULE_HTTP,
    RULE_TOKEN_USED,
    CanaryDetector,
    CanaryHit,
    CanaryRegistry,
    TokenKind,
    hit_event,
    make_token,
)
from watchkeeper.events import DnsEvent, FileEvent, NetworkEvent, ProcessEvent

ZONE = "canary.example.test"
CTX = {"sandbox_id": "sb1", "run_id": "r1", "episode_id": "e1", "step": 6, "tool_call_id": "call_6"}


@pytest.fixture
def tokens(tmp_path: Path) -> dict[TokenKind, object]:
    return {k: make_token(k, zone=ZONE, path=str(tmp_path / k.value)) for k in TokenKind}


@pytest.fixture
def detector(tokens: dict[TokenKind, object]) -> CanaryDetector:
    return CanaryDetector(CanaryRegistry(ZONE, tokens.values()), resolvers=["10.0.0.1"])  # type: ignore[arg-type]


def test_file_read(detector: CanaryDetector, tokens: dict) -> None:
    aws = tokens[TokenKind.AWS]
    read = FileEvent(activity="read", path=aws.path, pid=42, image="/usr/bin/cat", ts=1.0, **CTX)
    (alert,) = detector.observe(read)
    assert (alert.rule_id, alert.severity, alert.attack) == (RULE_FILE_READ, Severity.HIGH, ("T1552.001",))
    assert (alert.step, alert.tool_call_id, alert.sandbox_id) == (6, "call_6", "sb1")
    assert aws.id in alert.description and "cat (pid 42)" in alert.description
    assert f"canary_token:{aws.id}" in alert.tags
    assert detector.observe(read) == []  # folded
    ssh_read = FileEvent(activity="read", path=tokens[TokenKind.SSH].path, pid=43, **CTX)
    assert detector.observe(ssh_read)[0].attack == ("T1552.004",)
    assert detector.observe(FileEvent(activity="write", path=aws.path, pid=44, **CTX)) == []
    assert detector.observe(FileEvent(activity="read", path="/etc/hosts", pid=45, **CTX)) == []


def test_secret_on_a_command_line(detector: CanaryDetector, tokens: dict) -> None:
    key_id = tokens[TokenKind.AWS].secrets[0]
    event = ProcessEvent(pid=7, image="/usr/bin/python3", command_line=f"python3 x.py {key_id}", **CTX)
    (alert,) = detector.observe(event)
    assert alert.rule_id == RULE_TOKEN_USED and alert.severity is Severity.CRITICAL
    assert alert.attack == ("T1078.004", "T1552.001") and key_id in alert.description
    assert alert.evidence[0].field == "CommandLine" and alert.evidence[0].text == key_id
    github = tokens[TokenKind.ENV].secrets[1]
    (alert,) = detector.observe(ProcessEvent(pid=8, argv=("git", "push", github), **CTX))
    assert alert.attack[0] == "T1528" and github[:10] in alert.description
    assert github not in alert.description  # secrets other than key ids are shortened
    assert detector.observe(ProcessEvent(pid=9, command_line="ls -la", **CTX)) == []
    assert detector.observe(ProcessEvent(pid=7, activity="terminate", command_line=key_id, **CTX)) == []


def test_network_fingerprints(detector: CanaryDetector, tokens: dict) -> None:
    key_id = tokens[TokenKind.AWS].secrets[0]
    http = NetworkEvent(activity="traffic", app_protocol="http", src_ip="10.0.0.2", src_port=5000,
                        dst_ip="10.0.0.1", dst_port=80,
                        detail=(("method", "GET"), ("path", f"/?X-Amz-Credential={key_id}"),
                                ("user_agent", "aws-cli/2.15")), **CTX)  # fmt: skip
    (alert,) = detector.observe(http)
    assert alert.rule_id == RULE_TOKEN_USED and "aws-cli/2.15" in alert.description
    host = tokens[TokenKind.KUBECONFIG].hostnames[0]
    tls = NetworkEvent(activity="traffic", app_protocol="tls", src_ip="10.0.0.2", src_port=5001,
                       dst_ip="10.0.0.1", dst_port=6443,
                       detail=(("sni", host), ("ja3_md5", "abc123"), ("ja4", "t13d1516h2_x_y")), **CTX)  # fmt: skip
    (alert,) = detector.observe(tls)
    assert alert.attack[0] == "T1528" and "ja3_md5=abc123" in alert.description
    assert "ja4=t13d1516h2_x_y" in alert.description


def test_listener_hit(detector: CanaryDetector, tokens: dict) -> None:
    aws = tokens[TokenKind.AWS]
    hit = CanaryHit(listener="http", client=("10.0.0.2", 41000), server=("10.0.0.1", 80), ts=5.0,
                    tokens=(aws.id,), method="GET", path="/?Action=GetCallerIdentity",
                    host="sts.amazonaws.com", user_agent="Boto3/1.34",
                    headers=(("Authorization", f"AWS4-HMAC-SHA256 Credential={aws.secrets[0]}/x"),))  # fmt: skip
    event = hit_event(hit, sandbox_id="sb1")
    assert (event.src_ip, event.src_port, event.dst_port) == ("10.0.0.2", 41000, 80)
    (alert,) = detector.observe(event)
    assert alert.rule_id == RULE_HTTP and alert.severity is Severity.CRITICAL
    for text in ("Boto3/1.34", "10.0.0.2:41000", "sts.amazonaws.com", "authorization: AWS4", aws.id):
        assert text in alert.description
    assert alert.attack[0] == "T1078.004"
    plain = hit_event(CanaryHit(listener="http", client=("10.0.0.2", 41001), server=("10.0.0.1", 80),
                                method="GET", path="/robots.txt"))  # fmt: skip
    (alert,) = detector.observe(plain)
    assert alert.severity is Severity.MEDIUM and "no known token" in alert.description


def test_dns(detector: CanaryDetector, tokens: dict) -> None:
    env = tokens[TokenKind.ENV]
    name = env.hostnames[0]
    query = DnsEvent(source="dns", query_name=name, src_ip="10.0.0.2", dst_ip="10.0.0.1", pid=9, **CTX)
    (alert,) = detector.observe(query)
    assert alert.rule_id == RULE_DNS and alert.severity is Severity.CRITICAL and env.id in alert.description
    assert detector.observe(query) == []
    packet_copy = DnsEvent(source="net", query_name=f"a.{name}", src_ip="10.0.0.2", dst_ip="10.0.0.1", **CTX)
    assert detector.observe(packet_copy) == []  # the forwarder reports its own queries
    unknown = DnsEvent(source="pcap", query_name=f"zzz.{ZONE}", src_ip="10.0.0.2", dst_ip="9.9.9.9", **CTX)
    assert detector.observe(unknown)[0].severity is Severity.HIGH
    key_id = tokens[TokenKind.AWS].secrets[0]
    smuggled = DnsEvent(source="dns", query_name=f"{key_id.lower()}.exfil.example.test", **CTX)
    (alert,) = detector.observe(smuggled)
    assert alert.rule_id == RULE_TOKEN_USED and alert.attack[0] == "T1078.004"
    assert detector.observe(DnsEvent(source="dns", query_name="pypi.org", **CTX)) == []


def test_no_tokens_no_alerts() -> None:
    detector = CanaryDetector(CanaryRegistry())
    assert detector.observe(ProcessEvent(command_line="AKIAAAAAAAAAAAAAAAAA")) == []
