from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsEvent(BaseEvent):
    """A DNS query (and its answers): OCSF DNS Activity, Sigma ``dns``."""

    category: ClassVar[str] = "dns"
    ocsf_class_uid: ClassVar[int] = 4003
    ocsf_class_name: ClassVar[str] = "DNS Activity"

    query_name: str = ""
    query_type: str = "A"
    answers: tuple[str, ...] = ()
    rcode: str = ""
    src_ip: str = ""
    dst_ip: str = ""
    image: str = ""
    command_line: str = ""
