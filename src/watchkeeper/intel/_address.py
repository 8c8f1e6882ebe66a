"""Offline address classes: private, loopback, cloud metadata, CGNAT, bogon... or public."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from enum import StrEnum


class AddressClass(StrEnum):
    """What kind of address an IP is, from fixed IANA/RFC facts (no lookups)."""

    PUBLIC = "public"
    PRIVATE = "private"  # RFC 1918, IPv6 unique local
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    CLOUD_METADATA = "cloud-metadata"  # instance metadata services (a credential-theft target)
    CGNAT = "cgnat"  # RFC 6598 shared address space
    MULTICAST = "multicast"
    DOCUMENTATION = "documentation"  # RFC 5737, RFC 3849, RFC 9637
    BOGON = "bogon"  # reserved, unspecified, broadcast, benchmarking, not allocated
    INVALID = "invalid"  # not an IP address at all

    @property
    def is_public(self) -> bool:
        """True for globally routable unicast addresses."""
        return self is AddressClass.PUBLIC


@dataclass(frozen=True, slots=True)
class AddressBlock:
    """The special-purpose block an address falls in (``network`` is None for plain public)."""

    cls: AddressClass
    network: str | None
    label: str


_C = AddressClass
# Most specific first; the first match wins. (network, class, label)
_BLOCKS_V4: tuple[tuple[str, AddressClass, str], ...] = (
    ("169.254.169.254/32", _C.CLOUD_METADATA, "instance metadata service (AWS, GCP, Azure, OpenStack...)"),
    ("169.254.170.2/32", _C.CLOUD_METADATA, "AWS ECS task metadata endpoint"),
    ("100.100.100.200/32", _C.CLOUD_METADATA, "Alibaba Cloud metadata service"),
    ("168.63.129.16/32", _C.CLOUD_METADATA, "Azure WireServer host endpoint"),
    ("0.0.0.0/8", _C.BOGON, "this network (RFC 791)"),
    ("10.0.0.0/8", _C.PRIVATE, "private (RFC 1918)"),
    ("100.64.0.0/10", _C.CGNAT, "shared address space for carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", _C.LOOPBACK, "loopback (RFC 1122)"),
    ("169.254.0.0/16", _C.LINK_LOCAL, "link-local (RFC 3927)"),
    ("172.16.0.0/12", _C.PRIVATE, "private (RFC 1918)"),
    ("192.0.0.0/24", _C.BOGON, "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", _C.DOCUMENTATION, "TEST-NET-1 documentation (RFC 5737)"),
    ("192.88.99.0/24", _C.BOGON, "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", _C.PRIVATE, "private (RFC 1918)"),
    ("198.18.0.0/15", _C.BOGON, "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", _C.DOCUMENTATION, "TEST-NET-2 documentation (RFC 5737)"),
    ("203.0.113.0/24", _C.DOCUMENTATION, "TEST-NET-3 documentation (RFC 5737)"),
    ("224.0.0.0/4", _C.MULTICAST, "multicast (RFC 5771)"),
    ("255.255.255.255/32", _C.BOGON, "limited broadcast (RFC 919)"),
    ("240.0.0.0/4", _C.BOGON, "reserved for future use (RFC 1112)"),
)
_BLOCKS_V6: tuple[tuple[str, AddressClass, str], ...] = (
    ("fd00:ec2::254/128", _C.CLOUD_METADATA, "AWS instance metadata service (IPv6)"),
    ("::/128", _C.BOGON, "unspecified address"),
    ("::1/128", _C.LOOPBACK, "loopback"),
    ("64:ff9b:1::/48", _C.PRIVATE, "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", _C.BOGON, "discard-only (RFC 6666)"),
    ("2001:2::/48", _C.BOGON, "benchmarking (RFC 5180)"),
    ("2001:10::/28", _C.BOGON, "deprecated ORCHID (RFC 4843)"),
    ("2001:db8::/32", _C.DOCUMENTATION, "documentation (RFC 3849)"),
    ("3fff::/20", _C.DOCUMENTATION, "documentation (RFC 9637)"),
    ("fc00::/7", _C.PRIVATE, "unique local (RFC 4193)"),
    ("fe80::/10", _C.LINK_LOCAL, "link-local (RFC 4291)"),
    ("fec0::/10", _C.BOGON, "deprecated site-local (RFC 3879)"),
    ("ff00::/8", _C.MULTICAST, "multicast (RFC 4291)"),
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def _compile(
    blocks: tuple[tuple[str, AddressClass, str], ...],
) -> tuple[tuple[int, int, AddressBlock], ...]:
    out = []
    for text, cls, label in blocks:
        net = ipaddress.ip_network(text)
        out.append((int(net.network_address), int(net.broadcast_address),
                    AddressBlock(cls, str(net), label)))
    return tuple(out)


_RANGES_V4 = _compile(_BLOCKS_V4)
_RANGES_V6 = _compile(_BLOCKS_V6)
_PUBLIC = AddressBlock(AddressClass.PUBLIC, None, "public")
_INVALID = AddressBlock(AddressClass.INVALID, None, "not an IP address")
_UNALLOCATED_V6 = AddressBlock(AddressClass.BOGON, "outside 2000::/3",
                               "not allocated for global unicast")


def _block_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> AddressBlock:
    value = int(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _MAPPED or ip in _NAT64:
            return _block_of(ipaddress.IPv4Address(value & 0xFFFFFFFF))
        for low, high, block in _RANGES_V6:
            if low <= value <= high:
                return block
        return _PUBLIC if ip in _GLOBAL_UNICAST else _UNALLOCATED_V6
    for low, high, block in _RANGES_V4:
        if low <= value <= high:
            return block
    return _PUBLIC


@functools.lru_cache(maxsize=65536)
def address_block(ip: str) -> AddressBlock:
    """The special-purpose block of ``ip`` (a string), with its class and an RFC label.

    IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses are classed by
    the IPv4 address inside. A zone (``fe80::1%eth0``) is ignored. Never raises: text that is
    not an address gives the ``INVALID`` class.
    """
    text = ip.strip().split("%", 1)[0] if isinstance(ip, str) else ""
    if not text or len(text) > 64:
        return _INVALID
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return _INVALID
    return _block_of(parsed)


def classify_address(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> AddressClass:
    """The class of an IP address: private, loopback, cloud metadata, CGNAT, bogon... or public.

    Cloud metadata addresses (169.254.169.254, fd00:ec2::254, 169.254.170.2, 100.100.100.200,
    168.63.129.16) win over the blocks they sit in (link-local, ULA, CGNAT, public). IPv6 outside
    2000::/3 that is no other special block is a bogon. Text that is not an IP address gives
    ``AddressClass.INVALID`` (no exception).
    """
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return _block_of(ip).cls
    return address_block(ip).cls
