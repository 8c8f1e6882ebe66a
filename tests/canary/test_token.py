"""Canary tokens: unique, and shaped like the credentials they imitate."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from watchkeeper.canary import TokenKind, github_checksum_ok, make_token


@pytest.mark.parametrize("kind", list(TokenKind))
def test_ids_and_secrets_are_unique(kind: TokenKind) -> None:
    tokens = [make_token(kind) for _ in range(300)]
    assert len({t.id for t in tokens}) == 300
    needles = [n for t in tokens for n in t.secrets + t.hostnames]
    assert len(needles) == len(set(needles))
    for token in tokens[:5]:
        assert token.secrets and all(len(s) >= 20 for s in token.secrets)
        if kind is not TokenKind.SSH:  # the SSH key's secrets sit inside its base64 body
            for secret in token.secrets:
                assert secret in token.content


def test_aws_shape() -> None:
    token = make_token(TokenKind.AWS)
    key_id, secret = token.secrets
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)
    assert token.content.startswith("[default]\naws_access_key_id = " + key_id)
    assert token.label_of(secret) == "aws_secret_access_key"


def test_env_tokens_follow_vendor_shapes() -> None:
    token = make_token(TokenKind.ENV, zone="c.example.test")
    openai, github = token.secrets
    assert openai.startswith("sk-proj-") and "T3BlbkFJ" in openai
    assert github_checksum_ok(github)
    broken = github[:-1] + ("A" if github[-1] != "A" else "B")
    assert not github_checksum_ok(broken)
    assert token.hostnames == (f"{token.id}.c.example.test",)
    assert f"http://{token.id}.c.example.test/hooks/" in token.content


def test_kubeconfig_server_is_a_canary_name() -> None:
    token = make_token(TokenKind.KUBECONFIG)
    assert f"server: https://{token.hostnames[0]}:6443" in token.content
    header, payload, _sig = token.secrets[0].split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert token.id.encode() in decoded


def _strings(blob: bytes, offset: int, count: int) -> tuple[list[bytes], int]:
    out = []
    for _ in range(count):
        (n,) = struct.unpack_from("!I", blob, offset)
        out.append(blob[offset + 4 : offset + 4 + n])
        offset += 4 + n
    return out, offset


def test_ssh_key_is_a_well_formed_openssh_container(tmp_path: Path) -> None:
    token = make_token(TokenKind.SSH)
    lines = token.content.strip().splitlines()
    assert lines[0] == "-----BEGIN OPENSSH PRIVATE KEY-----"
    assert lines[-1] == "-----END OPENSSH PRIVATE KEY-----"
    blob = base64.b64decode("".join(lines[1:-1]))
    assert blob.startswith(b"openssh-key-v1\0")
    (cipher, kdf, _opts), offset = _strings(blob, 15, 3)
    assert (cipher, kdf) == (b"none", b"none")
    assert struct.unpack_from("!I", blob, offset)[0] == 1
    (pub, private), end = _strings(blob, offset + 4, 2)
    assert end == len(blob) and len(private) % 8 == 0
    assert private[:4] == private[4:8]  # check integers
    assert base64.b64encode(pub).decode() == token.secrets[0]
    assert private.rstrip(bytes(range(1, 8))).endswith(f"deploy@{token.id}".encode())
    if shutil.which("ssh-keygen"):
        key = tmp_path / "id"
        key.write_text(token.content)
        key.chmod(0o600)
        out = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[1] == token.secrets[0]
