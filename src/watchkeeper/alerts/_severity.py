from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    """Alert severity, ordered. Names follow Sigma ``level`` and OCSF ``severity``."""

    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        """Lower-case name as used in Sigma and in our outputs."""
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a Sigma level or severity name (``informational``, ``low``...); ValueError if unknown."""
        key = text.strip().upper()
        if key == "INFO":
            key = "INFORMATIONAL"
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


_LABELS = {s: s.name.lower() for s in Severity}
