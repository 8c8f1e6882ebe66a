from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkEvent(BaseEvent):
    """A network connection or flow: OCSF Network Activity, Sigma ``network_connection``.

    Attributes:
        activity: "open", "close", "refuse", "deny", "traffic", "listen".
        initiated: True when the sandboxed/agent side opened the connection.
        protocol: "tcp", "udp", "icmp".
        app_protocol: Fingerprinted application protocol: "stratum", "ssh", "tls", "http", "dns".
        dst_hostname: Destination name when known (from the command or from DNS/SNI).
        image / command_line: The process that owns the connection, when known.
        bytes_out / bytes_in / packets_out / packets_in: Flow counters.
        detail: Protocol details (SNI, JA3, HTTP host, user agent, SSH banner, stratum method).
    """

    category: ClassVar[str] = "network_connection"
    ocsf_class_uid: ClassVar[int] = 4001
    ocsf_class_name: ClassVar[str] = "Network Activity"

    activity: str = "open"
    initiated: bool = True
    protocol: str = "tcp"
    app_protocol: str = ""
    src_ip: str = ""
    src_port: int | None = None
    dst_ip: str = ""
    dst_port: int | None = None
    dst_hostname: str = ""
    image: str = ""
    command_line: str = ""
    bytes_out: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    packets_in: int = 0
    detail: tuple[tuple[str, str], ...] = ()
