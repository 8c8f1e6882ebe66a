"""The watchkeeper exception family.

Every error a user can cause carries where it happened (file, line, field) so the CLI can print
one line without a traceback. Internal bugs are left to raise normally.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an input something went wrong: ``path[:line][ field]``."""

    path: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
        if self.field:
            text += f" (field {self.field!r})"
        return text


class WatchkeeperError(Exception):
    """Base of every error that watchkeeper reports to a user as one line."""

    exit_code: int = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is not None:
            return f"{self.location}: {self.message}"
        return self.message


class InputError(WatchkeeperError):
    """A malformed or unsupported input file (trajectory, log, capture)."""


class UnknownFormatError(InputError):
    """The input format could not be detected or is not supported."""


class RuleError(WatchkeeperError):
    """A Sigma rule that cannot be parsed or compiled."""


class PolicyError(WatchkeeperError):
    """A response policy with an error."""


class PrerequisiteError(WatchkeeperError):
    """Something the host must provide is missing (root, bubblewrap, nftables, NVML...)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message if fix is None else f"{message} (fix: {fix})")
        self.fix = fix


class SandboxError(WatchkeeperError):
    """Setting up, running or tearing down a sandbox failed."""


class SensorError(WatchkeeperError):
    """A sensor failed or lost events."""
