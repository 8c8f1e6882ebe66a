"""The synthetic fleet: attribution accuracy through real log files, readers and the join."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from watchkeeper.attribution.correlate import Correlator
from watchkeeper.attribution.external import LineIssue, ReadOptions, read_alerts
from watchkeeper.testing.fleet import ALERT_FORMATS, make_fleet


def test_fleet_accuracy_with_skew(tmp_path: Path) -> None:
    started = time.monotonic()
    fleet = make_fleet(episodes=250, addresses=30, skew=2.0, seed=11)
    paths = fleet.write_alerts(tmp_path)
    correlator = Correlator(skew=2.0, leases_from_metadata=False)
    for trajectory in fleet.trajectories():
        correlator.add_trajectory(trajectory)
    for lease in fleet.leases():
        correlator.add_lease(lease)
    items = list(
        read_alerts(paths, options=ReadOptions(year=fleet.year, boot_time=fleet.boot_time))
    )
    assert not [i for i in items if isinstance(i, LineIssue)]
    alerts = [i for i in items if not isinstance(i, LineIssue)]
    assert len(alerts) == len(fleet.alerts)  # every generated alert parsed, flow records skipped
    assert {a.kind for a in alerts} >= {
        "suricata",
        "zeek-conn",
        "zeek-notice",
        "nft",
        "iptables",
        "csv",
    }
    attributions = list(correlator.correlate(alerts))
    accuracy, right, total = fleet.accuracy(attributions)
    assert total == len(fleet.alerts)
    assert accuracy >= 0.99, f"{right}/{total}"
    # addresses really are re-used, noise really is present and stays unattributed
    assert len({e.ip for e in fleet.episodes}) < len(fleet.episodes)
    noise = [a for a in attributions if fleet.truth(a.alert).trajectory_id is None]  # type: ignore[union-attr]
    assert noise and all(a.trajectory_id is None for a in noise)
    assert time.monotonic() - started < 10


def test_fleet_is_deterministic_and_spread_over_formats() -> None:
    one, two = make_fleet(episodes=40, seed=5), make_fleet(episodes=40, seed=5)
    assert [a.key for a in one.alerts] == [a.key for a in two.alerts]
    assert len({a.key for a in one.alerts}) == len(one.alerts)  # keys identify alerts
    assert set(Counter(a.fmt for a in make_fleet(episodes=200, seed=1).alerts)) == set(
        ALERT_FORMATS
    )
    assert make_fleet(episodes=40, seed=6).alerts != one.alerts
