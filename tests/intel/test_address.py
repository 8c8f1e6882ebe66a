from __future__ import annotations

import ipaddress

import pytest

from watchkeeper.intel import AddressClass, address_block, classify_address

C = AddressClass


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", C.PUBLIC),
        ("2606:4700:4700::1111", C.PUBLIC),
        ("10.1.2.3", C.PRIVATE),
        ("172.31.255.255", C.PRIVATE),
        ("172.32.0.1", C.PUBLIC),
        ("192.168.1.1", C.PRIVATE),
        ("fd12:3456::1", C.PRIVATE),
        ("127.0.0.53", C.LOOPBACK),
        ("::1", C.LOOPBACK),
        ("169.254.10.1", C.LINK_LOCAL),
        ("fe80::1%eth0", C.LINK_LOCAL),
        ("169.254.169.254", C.CLOUD_METADATA),
        ("fd00:ec2::254", C.CLOUD_METADATA),
        ("169.254.170.2", C.CLOUD_METADATA),
        ("100.100.100.200", C.CLOUD_METADATA),
        ("100.64.0.1", C.CGNAT),
        ("100.127.255.254", C.CGNAT),
        ("100.128.0.1", C.PUBLIC),
        ("224.0.0.251", C.MULTICAST),
        ("ff02::1", C.MULTICAST),
        ("192.0.2.10", C.DOCUMENTATION),
        ("198.51.100.9", C.DOCUMENTATION),
        ("203.0.113.7", C.DOCUMENTATION),
        ("2001:db8::1", C.DOCUMENTATION),
        ("0.0.0.0", C.BOGON),
        ("255.255.255.255", C.BOGON),
        ("240.1.2.3", C.BOGON),
        ("198.18.0.1", C.BOGON),
        ("::", C.BOGON),
        ("4000::1", C.BOGON),  # outside 2000::/3
        ("::ffff:10.0.0.1", C.PRIVATE),  # IPv4-mapped: the IPv4 address decides
        ("::ffff:169.254.169.254", C.CLOUD_METADATA),
        ("64:ff9b::8.8.8.8", C.PUBLIC),
        ("not-an-ip", C.INVALID),
        ("", C.INVALID),
        ("1.2.3.4.5", C.INVALID),
    ],
)
def test_classes(ip: str, expected: AddressClass) -> None:
    assert classify_address(ip) is expected


def test_address_objects_and_blocks() -> None:
    assert classify_address(ipaddress.ip_address("100.64.1.1")) is C.CGNAT
    block = address_block("100.64.1.1")
    assert block.network == "100.64.0.0/10" and "6598" in block.label
    assert address_block("8.8.8.8").network is None
    assert C.PUBLIC.is_public and not C.PRIVATE.is_public
