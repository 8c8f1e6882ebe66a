"""The registry of planted canary tokens: lookups by path, by secret text and by host name."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watchkeeper.canary._token import DEFAULT_PATHS, DEFAULT_ZONE, CanaryToken, TokenKind
from watchkeeper.errors import InputError, Location, WatchkeeperError

MAX_SCAN = 65536
"""Characters of a text searched for secrets at most (a command line, a request head)."""


class CanaryError(WatchkeeperError):
    """A canary configuration or registry problem (a bad path, a duplicate id)."""


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """Which canary tokens to plant and how the sandbox can reach the canary listener.

    Attributes:
        kinds: The kinds to plant (all five by default).
        paths: Overrides of :data:`~watchkeeper.canary.DEFAULT_PATHS`, keyed by kind name
            (``{"aws": ".config/aws/credentials"}``); relative paths are under the home (the
            sandbox's work dir), absolute ones are taken as they are.
        zone: DNS zone of canary host names; the sandbox's DNS answers names under it with the
            canary HTTP listener.
        http_port: Port of the canary HTTP listener on the sandbox's host end (None: no listener).
        intercept: Extra names the sandbox's DNS answers with the canary listener (an API
            endpoint a stolen key would be tried against, e.g. ``sts.amazonaws.com``); nothing
            is ever looked up or contacted outside.
    """

    kinds: tuple[TokenKind, ...] = tuple(TokenKind)
    paths: Mapping[str, str] = field(default_factory=dict)
    zone: str = DEFAULT_ZONE
    http_port: int | None = 80
    intercept: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = {k.value for k in TokenKind}
        bad = sorted(set(self.paths) - known)
        if bad:
            raise CanaryError(f"unknown canary kind(s) {', '.join(bad)} (known: {', '.join(sorted(known))})",
                              Location("canaries", field="paths"))  # fmt: skip
        if self.http_port is not None and not 1 <= self.http_port <= 65535:
            raise CanaryError(f"http_port {self.http_port} is not a port", Location("canaries", field="http_port"))
        labels = self.zone.strip(".").split(".")
        if len(labels) < 2 or not all(labels):
            raise CanaryError(f"zone {self.zone!r} needs two labels or more", Location("canaries", field="zone"))

    def path_for(self, kind: TokenKind, home: str | os.PathLike[str]) -> Path:
        """The absolute path of ``kind``'s file for a sandbox whose home is ``home``."""
        rel = self.paths.get(kind.value, DEFAULT_PATHS[kind])
        path = Path(rel)
        return path if path.is_absolute() else Path(home) / path


class CanaryRegistry:
    """Every canary token of a sandbox (or a fleet), thread-safe.

    Args:
        zone: The DNS zone of the tokens' host names.
        tokens: Tokens to start with.
    """

    def __init__(self, zone: str = DEFAULT_ZONE, tokens: Iterable[CanaryToken] = ()) -> None:
        self.zone = zone.lower().strip(".")
        self._lock = threading.Lock()
        self._tokens: dict[str, CanaryToken] = {}
        self._paths: dict[str, str] = {}
        self._needles: dict[str, str] = {}  # secret or host name -> token id
        self._hosts: dict[str, str] = {}
        for token in tokens:
            self.add(token)

    def add(self, token: CanaryToken) -> None:
        """Register a token.

        Raises:
            CanaryError: Its id, path or one of its secrets is already registered.
        """
        with self._lock:
            if token.id in self._tokens:
                raise CanaryError(f"canary token {token.id} is already registered")
            keys = _path_keys(token.path) if token.path else []
            taken = [k for k in keys if k in self._paths]
            if taken:
                raise CanaryError(f"a canary token is already registered at {taken[0]}")
            for needle in token.secrets + token.hostnames:
                if needle in self._needles:
                    raise CanaryError(f"canary token {token.id} repeats a secret of {self._needles[needle]}")
            self._tokens[token.id] = token
            for key in keys:
                self._paths[key] = token.id
            for needle in token.secrets + token.hostnames:
                self._needles[needle] = token.id
            for host in token.hostnames:
                self._hosts[host.lower()] = token.id

    def __len__(self) -> int:
        return len(self._tokens)

    def tokens(self) -> tuple[CanaryToken, ...]:
        """Every token, in the order they were added."""
        with self._lock:
            return tuple(self._tokens.values())

    def get(self, token_id: str) -> CanaryToken | None:
        """The token with this id."""
        return self._tokens.get(token_id)

    def paths(self) -> tuple[str, ...]:
        """The paths of the planted tokens."""
        return tuple(t.path for t in self.tokens() if t.path)

    def by_path(self, path: str) -> CanaryToken | None:
        """The token planted at ``path`` (compared normalised, symlinks resolved)."""
        if not path:
            return None
        for key in _path_keys(path):
            token_id = self._paths.get(key)
            if token_id is not None:
                return self._tokens.get(token_id)
        return None

    def find(self, text: str) -> list[tuple[CanaryToken, str]]:
        """(token, the secret or host name found) for every token whose secret is in ``text``
        (the first :data:`MAX_SCAN` characters)."""
        if not text:
            return []
        text = text[:MAX_SCAN]
        with self._lock:
            needles = list(self._needles.items())
        found: list[tuple[CanaryToken, str]] = []
        seen: set[str] = set()
        lowered = text.lower()
        for needle, token_id in needles:
            host = needle.lower() in self._hosts  # host names match in any case
            hit = needle.lower() in lowered if host else needle in text
            if hit and token_id not in seen:
                token = self._tokens.get(token_id)
                if token is not None:
                    seen.add(token_id)
                    found.append((token, needle))
        return found

    def in_zone(self, name: str) -> bool:
        """True when ``name`` is the zone or lies under it."""
        name = name.lower().rstrip(".")
        return name == self.zone or name.endswith("." + self.zone)

    def by_hostname(self, name: str) -> CanaryToken | None:
        """The token whose host name is ``name`` or a subdomain of it; else, for a name under
        the zone, the token whose id is the label just left of the zone."""
        name = name.lower().rstrip(".")
        token_id = self._hosts.get(name)
        if token_id is None and self.in_zone(name) and name != self.zone:
            label = name[: -len(self.zone) - 1].rsplit(".", 1)[-1]
            token_id = label if label in self._tokens else None
        return self._tokens.get(token_id) if token_id else None

    # --- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The registry as JSON-ready data (tokens without file contents)."""
        return {"zone": self.zone, "tokens": [t.to_dict() for t in self.tokens()]}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the registry as JSON (mode 0600: it lists the canary secrets)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.to_dict(), out, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CanaryRegistry:
        """Read a registry written by :meth:`save`.

        Raises:
            InputError: The file is missing or malformed (with where).
        """
        where = Location(str(path))
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            registry = cls(str(data.get("zone", DEFAULT_ZONE)))
            for item in data["tokens"][:10000]:
                registry.add(CanaryToken(
                    id=str(item["id"]), kind=TokenKind(item["kind"]), path=str(item.get("path", "")),
                    secrets=tuple(str(s) for s in item.get("secrets", ())),
                    labels=tuple(str(s) for s in item.get("labels", ())),
                    hostnames=tuple(str(h) for h in item.get("hostnames", ())),
                    created=float(item.get("created", 0.0)),
                ))  # fmt: skip
        except OSError as exc:
            raise InputError(f"cannot read the canary registry: {exc.strerror}", where) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"not a canary registry: {exc}", where) from exc
        return registry


def _path_keys(path: str) -> list[str]:
    normal = os.path.normpath(os.path.abspath(path))
    try:
        real = os.path.realpath(normal)
    except OSError:
        real = normal
    return list(dict.fromkeys((normal, real)))
