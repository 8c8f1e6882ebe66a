"""SSH on the wire: to peers outside an allowlist, and reverse-tunnel shapes (T1021.004, T1572).

Three alerts, from the flow table's NetworkEvents (banners are recognised on any port):

``detector:ssh`` (high)
    An SSH banner on a flow between the sandbox and a peer outside ``allow``. T1021.004, plus
    T1571 when the SSH server port is not 22. One alert per flow.
``detector:ssh-reverse`` (critical), the sandbox is the SSH server of a flow it opened
    The key exchange shows that the sandbox side is the SSH *server* on a connection the
    sandbox itself opened to an outside peer: the shape of a reverse shell/tunnel (a relay
    connecting back into an sshd in the sandbox). T1572, T1021.004. Reported even for allowed
    peers.
``detector:ssh-tunnel`` (high), long-lived bidirectional bulk
    An SSH flow to a peer outside ``allow`` that has lasted at least ``long_s`` seconds and moved
    at least ``bulk_bytes`` in each direction (seen on the periodic "traffic" updates and at
    close): the shape of port forwarding rather than a command session. T1572.

SSH port forwarding seen from the process side (``ssh -R/-L/-D``) is left to the rule pack.
"""

from __future__ import annotations

from collections.abc import Iterable

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors._netcommon import (
    AddressSet,
    DnsNames,
    Suppressor,
    destination,
    detail,
    flow_key,
    make_alert,
    server_port,
)
from watchkeeper.events import Event, NetworkEvent

RULE_SSH = "detector:ssh"
RULE_REVERSE = "detector:ssh-reverse"
RULE_TUNNEL = "detector:ssh-tunnel"


class SshDetector:
    """SSH to outside peers and tunnel shapes.

    Args:
        allow: Peers SSH may go to: IP addresses, CIDR networks or host names (a name also
            allows its subdomains; names are learnt from DNS answers and SNI-less flows).
        long_s: Minimum duration of a tunnel-shaped flow.
        bulk_bytes: Minimum payload bytes in each direction of a tunnel-shaped flow.
    """

    name = "ssh"

    def __init__(
        self, allow: Iterable[str] = (), long_s: float = 120.0, bulk_bytes: int = 1 << 20
    ) -> None:
        self.allow = AddressSet(allow)
        self.long_s = long_s
        self.bulk_bytes = bulk_bytes
        self._names = DnsNames()
        self._ssh_flows: dict[tuple[object, ...], NetworkEvent] = {}
        self._once = Suppressor(period=float("inf"))

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event."""
        self._names.observe(event)
        if not isinstance(event, NetworkEvent):
            return []
        key = flow_key(event)
        if event.activity == "close" or detail(event, "update") == "true":
            return self._on_counters(event, key) if key in self._ssh_flows else []
        if event.activity == "traffic" and event.app_protocol == "ssh":
            return self._on_ssh(event, key)
        return []

    def _allowed(self, event: NetworkEvent) -> bool:
        name = event.dst_hostname or self._names.name(event.dst_ip)
        return self.allow.matches(event.dst_ip, name)

    def _on_ssh(self, event: NetworkEvent, key: tuple[object, ...]) -> list[Alert]:
        alerts: list[Alert] = []
        if len(self._ssh_flows) < 65536:
            self._ssh_flows.setdefault(key, event)
        if detail(event, "ssh_server") == "local" and event.initiated:
            if self._once.first((RULE_REVERSE, key), event.ts):
                alerts.append(self._reverse(event))
        banner = detail(event, "banner")
        if banner and not self._allowed(event) and self._once.first((RULE_SSH, key), event.ts):
            alerts.append(self._outside(event, banner))
        return alerts

    def _outside(self, event: NetworkEvent, banner: str) -> Alert:
        port = server_port(event)
        attack: tuple[str, ...] = ("T1021.004",)
        if port != 22:
            attack += ("T1571",)
        side = detail(event, "side")
        direction = "from" if not event.initiated else "to"
        dest = destination(event)
        return make_alert(
            event,
            rule_id=RULE_SSH,
            title=f"SSH {direction} {dest}"
            + ("" if port == 22 else f" on non-standard port {port}"),
            severity=Severity.HIGH,
            attack=attack,
            confidence=0.95,
            evidence=(Evidence(event=event, field="detail.banner", text=banner),),
            description=(
                f"SSH banner {banner!r} sent by the {side or 'unknown'} side of a flow "
                f"{'opened by' if event.initiated else 'into'} the sandbox; the peer is not in "
                "the SSH allowlist."
            ),
            tags=("ssh", "network"),
        )

    def _reverse(self, event: NetworkEvent) -> Alert:
        dest = destination(event)
        return make_alert(
            event,
            rule_id=RULE_REVERSE,
            title=f"Reverse SSH: the sandbox serves SSH over a connection it opened to {dest}",
            severity=Severity.CRITICAL,
            attack=("T1572", "T1021.004"),
            confidence=0.9,
            evidence=(Evidence(event=event, field="detail.ssh_server", text="local"),),
            description=(
                "The SSH key exchange shows the sandbox side as the server, on a TCP connection "
                "the sandbox initiated: an outside peer gets an SSH session into the sandbox."
            ),
            tags=("ssh", "tunnel", "network"),
        )

    def _on_counters(self, event: NetworkEvent, key: tuple[object, ...]) -> list[Alert]:
        first = self._ssh_flows[key]
        if event.activity == "close":
            del self._ssh_flows[key]
        try:
            duration = float(detail(event, "duration", "0"))
        except ValueError:
            duration = 0.0
        duration = max(duration, event.ts - first.ts)
        if (
            duration < self.long_s
            or event.bytes_out < self.bulk_bytes
            or event.bytes_in < self.bulk_bytes
            or self._allowed(event)
            or not self._once.first((RULE_TUNNEL, key), event.ts)
        ):
            return []
        dest = destination(event)
        return [
            make_alert(
                event,
                rule_id=RULE_TUNNEL,
                title=f"Long-lived SSH flow with bulk traffic both ways to {dest} (tunnel shape)",
                severity=Severity.HIGH,
                attack=("T1572",),
                confidence=0.7,
                evidence=(
                    Evidence(event=first, field="app_protocol", text="ssh"),
                    Evidence(
                        event=event,
                        field="bytes_out,bytes_in",
                        text=f"{event.bytes_out},{event.bytes_in} in {duration:.0f} s",
                    ),
                ),
                description=(
                    f"SSH flow open {duration:.0f} s with {event.bytes_out} bytes out and "
                    f"{event.bytes_in} bytes in: forwarding, not an interactive session."
                ),
                tags=("ssh", "tunnel", "network"),
            )
        ]
