from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.export import NetIntel, RunDir, collect
from watchkeeper.export._indicators import split_destination


@pytest.mark.parametrize(
    ("text", "expected"),
    [("pool.example:3333", ("pool.example", 3333)), ("[2001:db8::1]:443", ("2001:db8::1", 443)),
     ("2001:db8::1", ("2001:db8::1", None)), ("host", ("host", None)), ("h:99999", ("h", None))],
)  # fmt: skip
def test_split_destination(text: str, expected: tuple[str, int | None]) -> None:
    assert split_destination(text) == expected


def test_observables_of_the_mining_run(mining_dir: Path) -> None:
    with RunDir(mining_dir) as run, NetIntel() as intel:
        found = collect(run.alerts(), run.flows(), intel)
    by_key = {(o.kind, o.value, o.port): o for o in found}
    pool = by_key[("domain-name", "de.minexmr.com", 4444)]
    assert pool.roles == ("mining-pool",) and pool.resolved == ("5.9.10.11",)
    assert pool.intel is not None and "miner-pool" in pool.intel.categories()
    assert by_key[("ipv4-addr", "3.124.67.191", 443)].roles == ("tunnel",)
    assert by_key[("domain-name", "downloads.example.net", 80)].roles == ("ingress",)
    assert ("url", "http://downloads.example.net/xmrig-6.21.tar.gz", None) in by_key
    assert [o.kind for o in found].count("process") == 4
    assert [o.kind for o in found].count("file") == 1
    assert [o.first_seen for o in found] == sorted(o.first_seen for o in found)
