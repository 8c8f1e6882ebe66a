"""The result type shared by the payload fingerprinters."""

from __future__ import annotations

from dataclasses import dataclass

MAX_VALUE = 256
"""Longest detail value kept (characters); longer values are cut."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the first payload bytes of one direction of a flow say about the protocol.

    Attributes:
        app_protocol: "stratum", "ssh", "tls", "http", "dns", "quic".
        detail: Ordered (key, value) pairs, e.g. (("method", "mining.subscribe"), ("agent", ...)).
    """

    app_protocol: str
    detail: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        """The first detail value for ``key``."""
        for k, v in self.detail:
            if k == key:
                return v
        return default


def clean(value: object, limit: int = MAX_VALUE) -> str:
    """A printable, bounded string for a detail value."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def ascii_text(data: bytes, limit: int = MAX_VALUE) -> str:
    """Bytes to a printable, bounded string (non-ASCII bytes become "?")."""
    return clean(data[:limit].decode("ascii", "replace").replace("\ufffd", "?"), limit)
