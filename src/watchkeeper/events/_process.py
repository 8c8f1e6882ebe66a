from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessEvent(BaseEvent):
    """A process started (or ended): OCSF Process Activity, Sigma ``process_creation``.

    Attributes:
        activity: "launch" or "terminate".
        image: Full path (or bare name when the path is unknown) of the executable.
        command_line: The command line as one string.
        argv: The arguments, argv[0] first.
        parent_image / parent_command_line: the parent process, when known.
        cwd: Working directory.
        user: User name or uid.
        ppid: Parent pid.
        exit_code: For "terminate".
        via: How the command was reached in offline analysis, e.g. ("bash -c", "base64").
    """

    category: ClassVar[str] = "process_creation"
    ocsf_class_uid: ClassVar[int] = 1007
    ocsf_class_name: ClassVar[str] = "Process Activity"

    activity: str = "launch"
    image: str = ""
    command_line: str = ""
    argv: tuple[str, ...] = ()
    parent_image: str = ""
    parent_command_line: str = ""
    cwd: str = ""
    user: str = ""
    ppid: int | None = None
    exit_code: int | None = None
    via: tuple[str, ...] = ()
