"""Cloud instance metadata access from the sandbox (T1552.005).

``detector:metadata`` (high)
    The sandbox opens a flow to a metadata address (AWS/GCP/Azure/OpenStack 169.254.169.254,
    AWS IPv6 fd00:ec2::254, ECS task credentials 169.254.170.2, EKS pod identity 169.254.170.23 and
    fd00:ec2::23, Alibaba 100.100.100.200), queries a metadata host name in DNS
    (metadata.google.internal, metadata.goog, instance-data.ec2.internal), or sends an HTTP
    request with such a Host header. Once per source and target per ``suppress_s``.
``detector:metadata-credentials`` (critical)
    An HTTP request to a metadata service asks for credentials (IAM role credentials, a token,
    a service-account token, an identity document).
"""

from __future__ import annotations

from collections.abc import Iterable

from watchkeeper.alerts import Alert, Evidence, Severity
from watchkeeper.detect.detectors._netcommon import Suppressor, destination, detail, make_alert
from watchkeeper.events import DnsEvent, Event, NetworkEvent

RULE_ID = "detector:metadata"
RULE_CREDENTIALS = "detector:metadata-credentials"
METADATA_ADDRESSES = frozenset(
    {"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "fd00:ec2::23",
     "100.100.100.200"}
)  # fmt: skip
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data.ec2.internal",
     "instance-data"}
)  # fmt: skip
CREDENTIAL_PATHS = (
    "/security-credentials", "/api/token", "/latest/api/token", "/service-accounts/",
    "/identity/oauth2/token", "/metadata/identity", "/dynamic/instance-identity",
    "/v2/credentials", "/ram/security-credentials",
)  # fmt: skip


class MetadataDetector:
    """Egress to cloud metadata services.

    Args:
        addresses: Metadata IP addresses (defaults to the well-known ones).
        names: Metadata host names.
        suppress_s: Quiet period per source and target.
    """

    name = "metadata"

    def __init__(
        self,
        addresses: Iterable[str] = METADATA_ADDRESSES,
        names: Iterable[str] = METADATA_NAMES,
        suppress_s: float = 300.0,
    ) -> None:
        self.addresses = frozenset(addresses)
        self.names = frozenset(n.lower().rstrip(".") for n in names)
        self._gate = Suppressor(suppress_s)

    def observe(self, event: Event) -> list[Alert]:
        """Alerts for one event."""
        if isinstance(event, DnsEvent):
            name = event.query_name.lower().rstrip(".")
            if name in self.names and self._gate.first((RULE_ID, event.src_ip, name), event.ts):
                return [self._alert(event, "query_name", name, f"DNS lookup of {name}")]
            return []
        if not isinstance(event, NetworkEvent):
            return []
        alerts: list[Alert] = []
        host = detail(event, "host").split(":")[0].lower().rstrip(".")
        to_metadata = event.dst_ip in self.addresses or host in self.names
        if event.activity == "open" and event.initiated and event.dst_ip in self.addresses:
            if self._gate.first((RULE_ID, event.src_ip, event.dst_ip), event.ts):
                alerts.append(
                    self._alert(
                        event, "dst_ip", event.dst_ip,
                        f"Connection to the cloud metadata service {destination(event)}",
                    )
                )  # fmt: skip
        if event.activity == "traffic" and event.app_protocol == "http" and to_metadata:
            path = detail(event, "path")
            if host in self.names and self._gate.first((RULE_ID, event.src_ip, host), event.ts):
                alerts.append(
                    self._alert(
                        event, "detail.host", host, f"HTTP request to the metadata host {host}"
                    )
                )
            if any(p in path for p in CREDENTIAL_PATHS) and self._gate.first(
                (RULE_CREDENTIALS, event.src_ip, path), event.ts
            ):
                alerts.append(self._credentials(event, path))
        return alerts

    def _alert(self, event: Event, field: str, text: str, title: str) -> Alert:
        return make_alert(
            event,
            rule_id=RULE_ID,
            title=title,
            severity=Severity.HIGH,
            attack=("T1552.005",),
            confidence=0.9,
            evidence=(Evidence(event=event, field=field, text=text),),
            description="Code in the sandbox reached for the cloud instance metadata service, "
            "where instance credentials live.",
            tags=("credentials", "network"),
        )

    def _credentials(self, event: NetworkEvent, path: str) -> Alert:
        return make_alert(
            event,
            rule_id=RULE_CREDENTIALS,
            title=f"Credential request to the cloud metadata service: {path}",
            severity=Severity.CRITICAL,
            attack=("T1552.005",),
            confidence=0.95,
            evidence=(Evidence(event=event, field="detail.path", text=path),),
            description="An HTTP request to the metadata service asked for credentials or a token.",
            tags=("credentials", "network"),
        )
