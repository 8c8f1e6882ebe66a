"""Output paths that must be written in place rather than replaced."""

from __future__ import annotations

import os
import stat


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
