"""Pure protocol parsers: packet decoding and first-payload fingerprints.

Every function here takes bytes and returns a value or None; none raises on garbage or runs
without bound, so they are safe on hostile input (live traffic and pcap files alike).
"""

from watchkeeper.netproto._dns import DnsMessage, parse_dns, type_name
from watchkeeper.netproto._fingerprint import Fingerprint
from watchkeeper.netproto._http import parse_http
from watchkeeper.netproto._identify import identify
from watchkeeper.netproto._packet import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    SUPPORTED_LINKTYPES,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    Packet,
    decode_ethernet,
    decode_ip,
    decode_link,
    decode_sll,
    decode_sll2,
    ip_text,
)
from watchkeeper.netproto._ssh import parse_ssh, ssh_role
from watchkeeper.netproto._stratum import parse_stratum
from watchkeeper.netproto._tls import is_grease, parse_tls

__all__ = [
    "DnsMessage",
    "Fingerprint",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_RAW",
    "PROTO_ICMP",
    "PROTO_ICMPV6",
    "PROTO_TCP",
    "PROTO_UDP",
    "Packet",
    "SUPPORTED_LINKTYPES",
    "TCP_ACK",
    "TCP_FIN",
    "TCP_PSH",
    "TCP_RST",
    "TCP_SYN",
    "decode_ethernet",
    "decode_ip",
    "decode_link",
    "decode_sll",
    "decode_sll2",
    "identify",
    "ip_text",
    "is_grease",
    "parse_dns",
    "parse_http",
    "parse_ssh",
    "parse_stratum",
    "parse_tls",
    "ssh_role",
    "type_name",
]
