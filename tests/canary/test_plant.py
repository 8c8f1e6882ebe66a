"""Planting canary files and removing exactly what was planted."""

from __future__ import annotations

import stat
from pathlib import Path

from watchkeeper.canary import CanaryConfig, TokenKind, plant, unplant


def test_plant_and_unplant(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine mine login me password mine\n")  # the user's own
    planting = plant(home)
    registry = planting.registry
    assert planting.skipped == [home / ".netrc"]
    assert {t.kind for t in registry.tokens()} == set(TokenKind) - {TokenKind.NETRC}
    for token in registry.tokens():
        path = Path(token.path)
        assert path.read_text() == token.content
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert (home / ".netrc").read_text().startswith("machine mine")
    (home / ".env").write_text("changed by the agent\n")
    left = unplant(planting)
    assert left == [f"{home / '.env'}: changed since it was planted"]
    assert sorted(p.name for p in home.iterdir()) == [".env", ".netrc"]  # dirs removed too


def test_plant_selected_kinds_at_custom_paths(tmp_path: Path) -> None:
    config = CanaryConfig(kinds=(TokenKind.AWS,), paths={"aws": "deep/a/b/credentials"})
    planting = plant(tmp_path, config)
    (token,) = planting.registry.tokens()
    assert token.path == str(tmp_path / "deep/a/b/credentials")
    assert planting.registry.by_path(token.path) is token
    assert unplant(planting) == [] and not (tmp_path / "deep").exists()
