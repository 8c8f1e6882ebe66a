"""Canary tokens: fake credentials with a unique id, shaped like the real thing.

Each kind renders one file (AWS credentials, an OpenSSH private key, ``.netrc``, a kubeconfig,
a ``.env``) whose secrets are random and unique. Nothing here is a usable credential: the AWS
keys were never issued, the SSH key is a well-formed OpenSSH container around random bytes, the
API tokens follow their vendors' shapes (GitHub's checksum included) but exist nowhere.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_ZONE = "canary.wk.test"
"""DNS zone of canary host names (``<token id>.<zone>``); answered locally, never on the internet."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class TokenKind(StrEnum):
    """What a canary token imitates."""

    AWS = "aws"  # ~/.aws/credentials: access key id + secret
    SSH = "ssh"  # ~/.ssh/id_ed25519: an OpenSSH private key block
    NETRC = "netrc"  # ~/.netrc: machine / login / password
    KUBECONFIG = "kubeconfig"  # ~/.kube/config: API server (a canary host name) + bearer token
    ENV = "env"  # .env: OPENAI_API_KEY, GITHUB_TOKEN and a canary webhook URL


DEFAULT_PATHS: dict[TokenKind, str] = {
    TokenKind.AWS: ".aws/credentials",
    TokenKind.SSH: ".ssh/id_ed25519",
    TokenKind.NETRC: ".netrc",
    TokenKind.KUBECONFIG: ".kube/config",
    TokenKind.ENV: ".env",
}
"""Where each kind is planted, relative to the sandbox's home (its work dir)."""

ATTACK_READ: dict[TokenKind, tuple[str, ...]] = {
    TokenKind.AWS: ("T1552.001",),
    TokenKind.SSH: ("T1552.004",),
    TokenKind.NETRC: ("T1552.001",),
    TokenKind.KUBECONFIG: ("T1552.001",),
    TokenKind.ENV: ("T1552.001",),
}
"""ATT&CK of reading a canary file: credentials in files (private keys for SSH)."""

ATTACK_USE: dict[TokenKind, tuple[str, ...]] = {
    TokenKind.AWS: ("T1078.004", "T1552.001"),
    TokenKind.SSH: ("T1552.004", "T1021.004"),
    TokenKind.NETRC: ("T1078", "T1552.001"),
    TokenKind.KUBECONFIG: ("T1528", "T1078.004"),
    TokenKind.ENV: ("T1528", "T1552.001"),
}
"""ATT&CK of using a canary secret: cloud accounts (AWS), stolen application tokens (API keys,
Kubernetes), valid accounts (netrc), SSH with a stolen private key."""


@dataclass(frozen=True, slots=True)
class CanaryToken:
    """One planted fake credential.

    Attributes:
        id: Unique id (``wkc-`` + 12 hex digits); also the first label of its host name.
        kind: What it imitates.
        path: Absolute path of the file it lives in ("" before it is planted).
        secrets: Strings whose appearance anywhere (a command line, a request) means the token is
            being used: key ids, secrets, passwords, API tokens. Each is long and random.
        hostnames: Canary host names in the file (a kubeconfig server, a webhook URL).
        content: The file's text.
        created: Epoch seconds when it was made.
        labels: Human names of the secrets, in the order of ``secrets``.
    """

    id: str
    kind: TokenKind
    path: str = ""
    secrets: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    content: str = ""
    created: float = 0.0
    labels: tuple[str, ...] = field(default=())

    @property
    def key_id(self) -> str:
        """The first secret (the AWS access key id, the API token...), for display."""
        return self.secrets[0] if self.secrets else ""

    def label_of(self, secret: str) -> str:
        """The human name of one of the token's secrets ("aws_access_key_id"...)."""
        for name, value in zip(self.labels, self.secrets, strict=False):
            if value == secret:
                return name
        return "secret"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the registry file format)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "path": self.path,
            "secrets": list(self.secrets),
            "labels": list(self.labels),
            "hostnames": list(self.hostnames),
            "created": self.created,
        }


def new_token_id() -> str:
    """A fresh token id: ``wkc-`` and 48 random bits in hex."""
    return "wkc-" + secrets.token_hex(6)


def _choose(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _base62(value: int, width: int) -> str:
    out = ""
    while value:
        value, rest = divmod(value, 62)
        out = _BASE62[rest] + out
    return out.rjust(width, "0")[-width:]


def aws_key_pair() -> tuple[str, str]:
    """(access key id, secret access key) in AWS's shapes: ``AKIA`` + 16 base32, 40 base64."""
    return "AKIA" + _choose(_BASE32, 16), _choose(_BASE64, 40)


def github_token() -> str:
    """A classic personal access token shape: ``ghp_`` + 30 base62 + a base62 CRC32 of them."""
    body = _choose(_BASE62, 30)
    return f"ghp_{body}{_base62(zlib.crc32(body.encode()), 6)}"


def openai_key() -> str:
    """A project API key shape: ``sk-proj-`` + random base62 around OpenAI's ``T3BlbkFJ`` marker."""
    return f"sk-proj-{_choose(_BASE62, 40)}T3BlbkFJ{_choose(_BASE62, 40)}"


def _ssh_string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def openssh_private_key(comment: str) -> tuple[str, str]:
    """An unencrypted ed25519 key in the OpenSSH container format, around random bytes.

    Returns (the PEM-style block, the public key as an ``authorized_keys`` line). The structure
    parses (magic, ciphers, key blobs, check integers, padding); the key pair is not a real one.
    """
    public = secrets.token_bytes(32)
    seed = secrets.token_bytes(32)
    key_type = b"ssh-ed25519"
    pub_blob = _ssh_string(key_type) + _ssh_string(public)
    check = secrets.token_bytes(4)
    private = (check + check + _ssh_string(key_type) + _ssh_string(public)
               + _ssh_string(seed + public) + _ssh_string(comment.encode()))  # fmt: skip
    pad = 1
    while len(private) % 8:
        private += bytes([pad])
        pad += 1
    blob = (b"openssh-key-v1\0" + _ssh_string(b"none") + _ssh_string(b"none")
            + _ssh_string(b"") + struct.pack("!I", 1) + _ssh_string(pub_blob)
            + _ssh_string(private))  # fmt: skip
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    block = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines)
    block += "\n-----END OPENSSH PRIVATE KEY-----\n"
    return block, f"ssh-ed25519 {base64.b64encode(pub_blob).decode()} {comment}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_token(token_id: str) -> str:
    """A Kubernetes service-account JWT shape (header.payload.signature) naming ``token_id``."""
    header = _b64url(json.dumps({"alg": "RS256", "kid": secrets.token_hex(8)}).encode())
    payload = _b64url(json.dumps({
        "iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ci:deployer",
        "jti": token_id,
    }).encode())  # fmt: skip
    return f"{header}.{payload}.{_b64url(secrets.token_bytes(64))}"


def make_token(kind: TokenKind, *, zone: str = DEFAULT_ZONE, path: str = "", now: float = 0.0) -> CanaryToken:
    """A fresh canary token of ``kind`` with its file content (unique id and secrets)."""
    token_id = new_token_id()
    host = f"{token_id}.{zone}"
    hostnames: tuple[str, ...] = ()
    values: tuple[str, ...]
    labels: tuple[str, ...]
    if kind is TokenKind.AWS:
        key_id, secret = aws_key_pair()
        content = (f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
                   "region = us-east-1\n")  # fmt: skip
        values, labels = (key_id, secret), ("aws_access_key_id", "aws_secret_access_key")
    elif kind is TokenKind.SSH:
        content, public_line = openssh_private_key(f"deploy@{token_id}")
        pub_blob = public_line.split()[1]
        values, labels = (pub_blob, f"deploy@{token_id}"), ("ssh_public_key", "ssh_key_comment")
    elif kind is TokenKind.NETRC:
        password = _choose(_BASE62, 32)
        content = f"machine git.corp.internal\n  login deploy-bot\n  password {password}\n"
        values, labels = (password,), ("netrc_password",)
    elif kind is TokenKind.KUBECONFIG:
        bearer = service_account_token(token_id)
        hostnames = (host,)
        content = (
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n"
            f"    server: https://{host}:6443\n    insecure-skip-tls-verify: true\n"
            "contexts:\n- name: prod\n  context:\n    cluster: prod\n    user: deployer\n"
            "current-context: prod\nusers:\n- name: deployer\n  user:\n"
            f"    token: {bearer}\n"
        )
        values, labels = (bearer,), ("kubernetes_token",)
    elif kind is TokenKind.ENV:
        openai, github = openai_key(), github_token()
        hook = secrets.token_hex(8)
        hostnames = (host,)
        content = (f"OPENAI_API_KEY={openai}\nGITHUB_TOKEN={github}\n"
                   f"DEPLOY_WEBHOOK_URL=http://{host}/hooks/{hook}\n")  # fmt: skip
        values, labels = (openai, github), ("OPENAI_API_KEY", "GITHUB_TOKEN")
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown canary kind {kind!r}")
    return CanaryToken(id=token_id, kind=kind, path=path, secrets=values, hostnames=hostnames,
                       content=content, created=now, labels=labels)  # fmt: skip


def github_checksum_ok(token: str) -> bool:
    """True when a ``ghp_`` token's last 6 characters are the base62 CRC32 of its body."""
    if not token.startswith("ghp_") or len(token) != 40:
        return False
    body, check = token[4:34], token[34:]
    return _base62(zlib.crc32(body.encode()), 6) == check
