"""Stratum / CryptoNote mining protocol on any flow and any port (T1496, T1571).

Fires on a NetworkEvent "traffic" fingerprinted as ``stratum`` by the flow table (JSON-RPC lines
with ``mining.*`` methods, CryptoNote ``login``/``submit``/``job``/``keepalived`` with their
parameter shapes, or a pool's subscribe/login answer), and on HTTP requests whose JSON-RPC body
calls getwork/getblocktemplate/submitblock or a ``mining.*`` method. One alert per flow.

Severity is critical when the miner identifies itself (login, authorize, submit, a wallet or an
agent string) and high otherwise. T1571 is added when the pool port is not one of the ports
miners usually use (Falco's ``miner_ports`` list).
"""

from __future__ import annotations

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors._netcommon import (
    DnsNames,
    Suppressor,
    destination,
    detail,
    flow_key,
    make_alert,
    server_port,
)
from watchkeeper.events import Event, NetworkEvent
from watchkeeper.netproto._stratum import GBT_METHODS

RULE_ID = "detector:stratum"

# Ports miners use, from the Falco rules' "miner_ports" list
# (github.com/falcosecurity/rules, rules/falco-sandbox_rules.yaml; Apache-2.0).
MINER_PORTS = frozenset(
    {25, 3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777, 7778,
     8000, 8001, 8008, 8080, 8118, 8333, 8888, 8899, 9332, 9999, 14433, 14444, 45560, 45700}
)  # fmt: skip
_IDENTIFYING = frozenset({"login", "mining.authorize", "mining.submit", "submit"})


class StratumDetector:
    """Mining protocol on the wire.

    Args:
        usual_ports: Pool ports that do not add T1571.
    """

    name = "stratum"

    def __init__(self, usual_ports: frozenset[int] = MINER_PORTS) -> None:
        self.usual_ports = usual_ports
        self._once = Suppressor(period=float("inf"))
        self._names = DnsNames()

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event (at most one per flow)."""
        self._names.observe(event)
        if not isinstance(event, NetworkEvent) or event.activity != "traffic":
            return []
        if event.app_protocol == "stratum":
            method = detail(event, "method")
        elif event.app_protocol == "http" and (
            detail(event, "jsonrpc_method") in GBT_METHODS
            or detail(event, "jsonrpc_method").startswith("mining.")
        ):
            method = detail(event, "jsonrpc_method")
        else:
            return []
        if not self._once.first(flow_key(event), event.ts):
            return []
        return [self._alert(event, method)]

    def _alert(self, event: NetworkEvent, method: str) -> Alert:
        login = detail(event, "login")
        agent = detail(event, "agent")
        port = server_port(event)
        attack: tuple[str, ...] = ("T1496",)
        if port is not None and port not in self.usual_ports:
            attack += ("T1571",)
        identifying = bool(login or agent or method in _IDENTIFYING)
        evidence = [Evidence(event=event, field="detail.method", text=method)]
        if login:
            evidence.append(Evidence(event=event, field="detail.login", text=login))
        if agent:
            evidence.append(Evidence(event=event, field="detail.agent", text=agent))
        dest = destination(event)
        name = self._names.name(event.dst_ip)
        where = f"{dest} ({name})" if name and not event.dst_hostname else dest
        variant = detail(event, "variant", "stratum")
        partial = detail(event, "partial") == "true"
        return make_alert(
            event,
            rule_id=RULE_ID,
            title=f"Cryptocurrency mining protocol ({variant} {method}) with {where}",
            severity=Severity.CRITICAL if identifying else Severity.HIGH,
            attack=attack,
            confidence=0.8 if partial else 0.95,
            evidence=tuple(evidence),
            description=(
                f"The flow {event.src_ip}:{event.src_port} -> {dest} carries mining JSON-RPC "
                f"({variant}, method {method}"
                + (f", login {login}" if login else "")
                + (f", agent {agent}" if agent else "")
                + ")."
            ),
            tags=("mining", "network"),
        )
