from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEvent(BaseEvent):
    """A file was read, created, written, deleted...: OCSF File System Activity, Sigma ``file_event``.

    Attributes:
        activity: "read", "create", "write", "delete", "rename", "chmod", "link".
        path: The target path (Sigma TargetFilename).
        image / command_line: The process (or tool) acting on the file.
        content: For offline file-writing tool calls, the head of what was written.
    """

    category: ClassVar[str] = "file_event"
    ocsf_class_uid: ClassVar[int] = 1001
    ocsf_class_name: ClassVar[str] = "File System Activity"

    activity: str = "write"
    path: str = ""
    image: str = ""
    command_line: str = ""
    content: str = ""
