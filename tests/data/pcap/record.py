"""Regenerate the captures in this directory (root only): ``.venv/bin/python tests/data/pcap/record.py``.

Real traffic between the simulants (watchkeeper.testing.simulants) across a veth pair into a
namespace this script creates and removes (10.213.x.y/30), captured with AF_PACKET on the host
end. Captures that would need addresses outside the namespace (cloud metadata) are synthesised
with watchkeeper.testing.packets instead. Nothing leaves the veth pair.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

from watchkeeper.testing.netns import VethNamespace, veth_namespace
from watchkeeper.testing.packets import (
    PcapngWriter,
    PcapWriter,
    TcpSession,
    dns_message,
    udp_packet,
)
from watchkeeper.testing.simulants import (
    HttpEndpoint,
    MultiPortListener,
    SshBannerServer,
    StratumPool,
)

HERE = Path(__file__).parent
SIM = [sys.executable, "-m", "watchkeeper.testing.simulants"]


class Capture:
    """Every frame on an interface, with its time, while active."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind((ifname, 3))
        self.sock.settimeout(0.1)
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.frames.append((time.time(), data))

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join()
        self.sock.close()


def write_pcap(name: str, frames: list[tuple[float, bytes]], **kw: bool) -> None:
    with open(HERE / name, "wb") as fh:
        w = PcapWriter(fh, **kw)
        for ts, f in frames:
            w.write(ts, f)


def write_pcapng(name: str, frames: list[tuple[float, bytes]]) -> None:
    with open(HERE / name, "wb") as fh:
        w = PcapngWriter(fh)
        w.interface(tsresol=9)
        for ts, f in frames:
            w.write(ts, f)


def record(v: VethNamespace) -> None:
    with StratumPool(v.host_ip, 443) as pool, Capture(v.host_if) as cap:
        v.run([*SIM, "miner", "--host", v.host_ip, "--port", str(pool.port)])
    write_pcap("stratum_443.pcap", cap.frames)
    with StratumPool(v.host_ip, 3333) as pool, Capture(v.host_if) as cap:
        v.run([*SIM, "miner", "--host", v.host_ip, "--port", "3333", "--variant", "cryptonote"])
    write_pcapng("cryptonote_3333.pcapng", cap.frames)
    with SshBannerServer(v.host_ip, 80) as sshd, Capture(v.host_if) as cap:
        v.run([*SIM, "ssh-client", "--host", v.host_ip, "--port", str(sshd.port)])
    write_pcapng("ssh_80.pcapng", cap.frames)
    with SshBannerServer(v.host_ip, 8022) as relay, Capture(v.host_if) as cap:
        v.run([*SIM, "ssh-client", "--host", v.host_ip, "--port", str(relay.port), "--as-server"])
    write_pcap("ssh_reverse.pcap", cap.frames, big_endian=True, nano=True)
    with MultiPortListener(v.host_ip, [8000, 8443]), Capture(v.host_if) as cap:
        v.run([*SIM, "scan", "--host", v.host_ip, "--ports", "7990-8010,8440-8445"])
    write_pcap("portscan.pcap", cap.frames)
    with HttpEndpoint(v.host_ip, 8080) as web, Capture(v.host_if) as cap:
        v.run(
            [
                *SIM,
                "http-get",
                "--host",
                v.host_ip,
                "--port",
                str(web.port),
                "--path",
                "/index.html",
            ]
        )
    write_pcap("benign_http.pcap", cap.frames)


def synthesise() -> None:
    sbx, dns = "10.213.250.2", "10.213.250.1"
    frames = [
        udp_packet(sbx, 41000, dns, 53, dns_message("metadata.google.internal")),
    ]
    s = TcpSession(sbx, 41001, "169.254.169.254", 80)
    frames += (
        s.handshake()
        + s.send(
            b"GET /latest/meta-data/iam/security-credentials/role HTTP/1.1\r\n"
            b"Host: 169.254.169.254\r\nUser-Agent: python-requests/2.31\r\n\r\n"
        )
        + s.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False)
        + s.close()
    )
    write_pcap("metadata.pcap", [(1_700_000_000 + i / 100, f) for i, f in enumerate(frames)])


def main() -> int:
    synthesise()
    with veth_namespace() as v:
        record(v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
