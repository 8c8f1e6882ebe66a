"""Pick the fingerprinter for the first payload bytes of a flow direction, on any port."""

from __future__ import annotations

import struct

from watchkeeper.netproto._fingerprint import Fingerprint
from watchkeeper.netproto._http import parse_http
from watchkeeper.netproto._ssh import parse_ssh
from watchkeeper.netproto._stratum import parse_stratum
from watchkeeper.netproto._tls import parse_tls

_QUIC_VERSIONS = {0x00000001: "1", 0x6B3343CF: "2", 0xFF00001D: "draft-29"}


def identify(data: bytes, *, udp: bool = False, final: bool = False) -> Fingerprint | None:
    """Fingerprint the first payload bytes of one direction of a flow (port-independent).

    Args:
        data: Contiguous payload from the start of the direction.
        udp: The flow is UDP (only QUIC is recognised there; DNS is decoded per message).
        final: No more bytes will come, so parsers may judge a cut message.

    Returns:
        The fingerprint, or None when nothing is recognised (yet).
    """
    if not data:
        return None
    if udp:
        return _quic(data)
    first = data[0]
    if first == 0x16:
        return parse_tls(data, final)
    if first == 0x53:  # "S"
        return parse_ssh(data, final)
    if first in b"{ \t\r\n":
        return parse_stratum(data, final)
    if 0x41 <= first <= 0x5A:  # an upper-case method or "HTTP/1."
        return parse_http(data, final)
    return None


def _quic(data: bytes) -> Fingerprint | None:
    """A QUIC long-header Initial packet (the ClientHello inside is encrypted: no SNI)."""
    if len(data) < 7 or data[0] & 0xC0 != 0xC0:
        return None
    version = struct.unpack_from("!I", data, 1)[0]
    name = _QUIC_VERSIONS.get(version)
    if name is None or (data[0] >> 4) & 0x3 != 0:  # packet type 0 = Initial
        return None
    return Fingerprint("quic", (("version", name),))
