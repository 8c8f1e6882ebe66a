from __future__ import annotations

from pathlib import Path

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
