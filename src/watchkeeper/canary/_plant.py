"""Plant canary files into a sandbox's home and remove them again."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchkeeper.canary._registry import CanaryConfig, CanaryError, CanaryRegistry
from watchkeeper.canary._token import make_token
from watchkeeper.errors import Location


@dataclass(slots=True)
class Planting:
    """What :func:`plant` wrote (so :func:`unplant` removes exactly that).

    Attributes:
        registry: The registry holding the planted tokens.
        files: (path, sha256 of the content written) of each planted file.
        dirs: Directories created for them (removed when empty), deepest last.
        skipped: Paths left alone because a file was already there.
    """

    registry: CanaryRegistry
    files: list[tuple[Path, str]] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def plant(
    home: str | os.PathLike[str],
    config: CanaryConfig | None = None,
    registry: CanaryRegistry | None = None,
) -> Planting:
    """Write one canary file per configured kind under ``home`` and register the tokens.

    Files get mode 0600 (``.ssh`` 0700) like real credentials. A path where a file already
    exists is skipped (never overwritten) and listed in ``skipped``.

    Raises:
        CanaryError: A path cannot be written.
    """
    config = config or CanaryConfig()
    registry = registry if registry is not None else CanaryRegistry(config.zone)
    result = Planting(registry)
    now = time.time()
    for kind in dict.fromkeys(config.kinds):
        path = config.path_for(kind, home)
        if path.exists() or path.is_symlink():
            result.skipped.append(path)
            continue
        try:
            for parent in reversed(path.parents):
                if not parent.exists():
                    parent.mkdir(mode=0o700 if parent.name == ".ssh" else 0o755)
                    result.dirs.append(parent)
            token = make_token(kind, zone=config.zone, path=str(path), now=now)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(token.content)
        except OSError as exc:
            unplant(result)
            raise CanaryError(f"cannot plant the {kind.value} canary: {exc.strerror}",
                              Location(str(path))) from exc  # fmt: skip
        registry.add(token)
        result.files.append((path, _digest(token.content.encode())))
    return result


def unplant(planting: Planting) -> list[str]:
    """Remove the planted files that are unchanged, then the directories made for them if
    empty; returns what was left in place and why."""
    left: list[str] = []
    for path, digest in planting.files:
        try:
            if _digest(path.read_bytes()) != digest:
                left.append(f"{path}: changed since it was planted")
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            left.append(f"{path}: {exc.strerror}")
    for directory in reversed(planting.dirs):
        try:
            directory.rmdir()
        except OSError:
            pass
    planting.files.clear()
    planting.dirs.clear()
    return left


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
