"""Canaries in a live sandbox: planted before the first step, detected and attributed, removed."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from watchkeeper.canary import CanaryConfig, CanaryKit, TokenKind
from watchkeeper.respond import Policy

pytestmark = pytest.mark.root

_MISSING = [t for t in ("bwrap", "nft", "ip", "setpriv") if shutil.which(t) is None]
ALERT_ONLY = Policy.loads(
    "version: 1\ndefaults: {critical: alert, high: alert, medium: alert, low: alert}\n", "<test>"
)


def test_kit_without_a_sandbox(tmp_path: Path) -> None:
    kit = CanaryKit(CanaryConfig(http_port=8089, intercept=("api.example.test",)))
    assert kit.allow_entries() == ("host:8089/tcp", "*.canary.wk.test:8089/tcp", "api.example.test:8089/tcp")
    assert kit.dns_map() == {"*.canary.wk.test": ("host",), "api.example.test": ("host",)}
    kit.plant(tmp_path)
    assert len(kit.paths()) == len(TokenKind) and kit.detector() is kit.detector()
    assert kit.close() == [] and list(tmp_path.iterdir()) == []
    assert CanaryKit(CanaryConfig(http_port=None)).allow_entries() == ()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def test_sandbox_with_canaries(tmp_path: Path) -> None:
    if os.geteuid() != 0 or _MISSING:
        pytest.skip("needs root, bwrap, nft, ip and setpriv")
    from watchkeeper.runtime import Sandbox

    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    port = _free_port()
    config = CanaryConfig(kinds=(TokenKind.NETRC, TokenKind.ENV), http_port=port)
    sandbox_id = f"wktc-{os.urandom(3).hex()}"
    with Sandbox(policy=ALERT_ONLY, workdir=work, out_dir=out, canaries=config,
                 sandbox_id=sandbox_id) as sb:  # fmt: skip
        assert sb.canaries is not None
        netrc, env = sb.canaries.tokens()
        assert Path(netrc.path) == work / ".netrc" and (work / ".env").is_file()
        quiet = sb.exec("echo hello > notes.txt && cat notes.txt", step_id=0, tool_call_id="c0")
        assert quiet.ok and quiet.alerts == ()
        read = sb.exec("grep password ~/.netrc", step_id=1, tool_call_id="c1")
        assert read.ok
        reads = [a for a in read.alerts if a.rule_id == "canary:file-read"]
        assert reads and reads[0].step == 1 and netrc.id in reads[0].description
        url = env.hostnames[0]
        fetch = sb.exec(
            ["python3", "-c", "import sys, urllib.request as u\ntry: u.urlopen(sys.argv[1], timeout=5)\n"
             "except Exception as e: print(e)", f"http://{url}:{port}/hooks/deploy"],
            step_id=2, tool_call_id="c2",
        )  # fmt: skip
        assert "403" in fetch.stdout, fetch.stdout + fetch.stderr
        by_rule = {a.rule_id: a for a in fetch.alerts}
        assert {"canary:dns", "canary:http", "canary:token-used"} <= set(by_rule)
        for alert in by_rule.values():
            assert (alert.step, alert.tool_call_id, alert.sandbox_id) == (2, "c2", sandbox_id)
        http = by_rule["canary:http"]
        assert "Python-urllib" in http.description and sb.host_addr in http.description
        assert http.evidence[0].event.pid is not None  # the requesting process was found
        assert "python3" in http.evidence[0].event.command_line
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"]  # canaries removed
    saved = json.loads((out / "canaries.json").read_text())
    assert {t["id"] for t in saved["tokens"]} == {netrc.id, env.id}
    assert not Path(f"/run/watchkeeper/{sandbox_id}.json").exists()
