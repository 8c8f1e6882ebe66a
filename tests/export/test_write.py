from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import InputError
from watchkeeper.export import atomic_text


def test_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_text(target) as out:
        out.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_text(target) as out:
        out.write("new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="output folder does not exist"):
        with atomic_text(tmp_path / "no" / "x.html"):
            pass
    with pytest.raises(InputError, match="is a directory"):
        with atomic_text(tmp_path):
            pass


def test_a_fifo_is_written_in_place(read_fifo: Any) -> None:
    """A device or named pipe (``-o /dev/null``) is opened and written, never renamed over."""
    fifo, result = read_fifo("pipe")
    with atomic_text(fifo) as out:
        out.write("report\n")
    assert result() == b"report\n" and stat.S_ISFIFO(fifo.stat().st_mode)
