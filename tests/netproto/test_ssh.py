import pytest

from watchkeeper.netproto import parse_ssh, ssh_role
from watchkeeper.testing.simulants import OPENSSH, kexinit


def test_banner_fields():
    fp = parse_ssh(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    assert fp is not None and fp.app_protocol == "ssh"
    assert fp.get("proto_version") == "2.0"
    assert fp.get("software") == "OpenSSH_9.2p1" and fp.get("comments") == "Debian-2+deb12u3"


def test_server_pre_banner_lines():
    fp = parse_ssh(b"Welcome\r\nauthorised use only\r\nSSH-2.0-dropbear_2022.83\r\n")
    assert fp is not None and fp.get("software") == "dropbear_2022.83"


def test_waits_for_line_end_unless_final():
    assert parse_ssh(b"SSH-2.0-Open") is None
    fp = parse_ssh(b"SSH-2.0-Open", final=True)
    assert fp is not None and fp.get("software") == "Open"


@pytest.mark.parametrize(
    "data", [b"SSH-x\r\n", b"SSHX-2.0\r\n", b"\xff\xfe\r\nSSH-2.0-a\r\n", b"S", b""]
)
def test_not_ssh(data):
    assert parse_ssh(data, final=True) is None


@pytest.mark.parametrize("server", [True, False])
def test_role_from_kexinit(server):
    data = OPENSSH.encode() + b"\r\n" + kexinit(server=server)
    assert ssh_role(data) == ("server" if server else "client")


def test_role_from_kex_message_codes():
    def pkt(code: int) -> bytes:
        payload = bytes([code]) + b"\0" * 10
        pad = 8 - (len(payload) + 5) % 8 + 8
        return (len(payload) + pad + 1).to_bytes(4, "big") + bytes([pad]) + payload + b"\0" * pad

    kex_neutral = pkt(20)
    assert ssh_role(b"SSH-2.0-x\r\n" + kex_neutral + pkt(30)) == "client"
    assert ssh_role(b"SSH-2.0-x\r\n" + kex_neutral + pkt(31)) == "server"
    assert ssh_role(b"SSH-2.0-x\r\n" + kex_neutral) == ""


def test_role_on_garbage_after_banner():
    assert ssh_role(b"SSH-2.0-x\r\n" + b"\xff" * 64) == ""
