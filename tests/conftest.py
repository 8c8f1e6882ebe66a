"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

FifoReader = Callable[[str], tuple[Path, Callable[[], bytes | None]]]


@pytest.fixture
def read_fifo(tmp_path: Path) -> FifoReader:
    """``path, result = read_fifo("name")``: a named pipe in ``tmp_path`` drained by a thread;
    ``result()`` waits up to 5 s for the writer to close it and returns what was written (None
    when nothing was: e.g. the writer replaced the pipe instead of writing into it)."""

    def make(name: str) -> tuple[Path, Callable[[], bytes | None]]:
        path = tmp_path / name
        os.mkfifo(path)
        got: list[bytes] = []

        def read() -> None:
            with path.open("rb") as f:
                got.append(f.read())

        thread = threading.Thread(target=read, daemon=True)
        thread.start()

        def result() -> bytes | None:
            thread.join(5)
            return got[0] if got else None

        return path, result

    return make
