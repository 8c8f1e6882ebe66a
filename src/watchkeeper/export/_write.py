"""Write an output file atomically: into a temporary file beside it, then rename.

A report or export that fails half-way leaves nothing behind, and a reader never sees a
half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from watchkeeper._files import special_file
from watchkeeper.errors import InputError, Location


@contextlib.contextmanager
def atomic_text(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A text stream whose content replaces ``path`` only when the block ends without error.

    Raises:
        InputError: the folder of ``path`` does not exist or cannot be written.
    """
    target = Path(path)
    if special_file(target):  # a device or pipe: written in place, never replaced
        try:
            with open(target, "w", encoding="utf-8", newline="\n") as stream:
                yield stream
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", Location(str(target))) from None
        return
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("output folder does not exist", Location(str(folder)))
    if target.is_dir():
        raise InputError("output is a directory, not a file", Location(str(target)))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror}", Location(str(folder))) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise InputError(f"cannot write: {exc.strerror or exc}", Location(str(target))) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
