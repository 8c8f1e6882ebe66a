"""Files and folders given on the command line: walking input folders, writing outputs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator


def walk_files(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Every file name under ``folder``, recursively: folders in name order, each folder's files
    in name order. Folders whose name starts with "." are skipped and links to folders are not
    followed; files are all yielded (hidden ones too: the caller decides and counts)."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            yield os.path.join(root, name)


def special_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an existing device, FIFO or socket (``-o /dev/null``, a named pipe).

    Outputs are normally written to a temporary file and renamed onto their path, so a failed
    run leaves nothing half-written; renaming onto one of these would replace the node itself
    (turning ``/dev/null`` into a regular file). They are opened and written in place instead.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
