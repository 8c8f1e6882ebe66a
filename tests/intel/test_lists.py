from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.errors import InputError
from watchkeeper.intel import BUNDLED, IocLists

DATA = Path(__file__).resolve().parents[2] / "src" / "watchkeeper" / "intel" / "data"


def test_bundled_lists_keep_source_licence_and_date() -> None:
    lists = IocLists.bundled()
    assert {ioc.name for ioc in lists.lists} == set(BUNDLED)
    for ioc in lists.lists:
        assert ioc.source and ioc.licence and ioc.date == "2026-11-27", ioc.name
        assert ioc.values
    notice = (DATA / "NOTICE").read_text()
    for filename, _, _ in BUNDLED.values():
        first = (DATA / filename).read_text().splitlines()[0]
        assert first.startswith("# source: ") and "licence: " in first
        assert filename in notice


def test_domain_suffix_match() -> None:
    lists = IocLists.bundled()
    hits = lists.match_domain("XMR-EU1.nanopool.org.")
    assert {(h.list_name, h.value) for h in hits} >= {
        ("falco_miner_domains", "xmr-eu1.nanopool.org"),
        ("sigma_miner_pool_hostnames", "nanopool.org"),
    }
    assert all(h.category == "miner-pool" for h in hits)
    # a parent-domain entry matches subdomains, on label boundaries only
    assert lists.match_domain("eu.anything.nanopool.org")
    assert not lists.match_domain("notnanopool.org")
    assert not lists.match_domain("example.com")
    # leading-dot entries match below the domain, not the domain itself
    assert [h.value for h in lists.match_domain("abc.localto.net")] == [".localto.net"]
    assert lists.match_domain("localto.net") == []
    tunnel = lists.match_domain("random-words.trycloudflare.com")
    assert tunnel and tunnel[0].category == "tunnel-service"
    assert "DRL" in tunnel[0].licence
    assert lists.match_domain("") == [] and lists.match_domain("a..b") == []


def test_port_match() -> None:
    lists = IocLists.bundled()
    assert {h.list_name for h in lists.match_port(4444)} == {
        "falco_miner_ports", "sigma_malware_callback_ports"}
    assert [h.list_name for h in lists.match_port(3333)] == ["falco_miner_ports"]
    assert lists.match_port(443) == []


def test_user_lists(tmp_path: Path) -> None:
    path = tmp_path / "my_pools.txt"
    path.write_text("# source: our incident notes; licence: internal\n# copied: 2026-01-02\n"
                    "evil-pool.example\n")
    mine = IocLists.from_files([path])
    hit = mine.match_domain("a.evil-pool.example")[0]
    assert (hit.list_name, hit.source, hit.licence, hit.date) == (
        "my_pools", "our incident notes", "internal", "2026-01-02")
    both = IocLists.bundled() + mine
    assert both.match_domain("a.evil-pool.example") and both.match_port(3333)
    ports = tmp_path / "ports.txt"
    ports.write_text("# kind: port\n7000\n")
    assert IocLists.from_files([ports]).match_port(7000)


@pytest.mark.parametrize("content", ["# kind: port\n99999\n", "x" * 300 + "\n"])
def test_bad_user_lists(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(InputError):
        IocLists.from_files([path])
    with pytest.raises(InputError):
        IocLists.from_files([tmp_path / "missing.txt"])
