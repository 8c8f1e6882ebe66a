from __future__ import annotations

import math
from pathlib import Path

import pytest

from watchkeeper.attribution.external import (
    Lease,
    LineIssue,
    leases_from_metadata,
    load_sandbox_map,
)
from watchkeeper.errors import InputError
from watchkeeper.trajectories import Step, Trajectory

T0 = 1795773600.0  # 2026-11-27T10:00:00Z, base time of the sample logs


@pytest.mark.parametrize("name", ["sandbox_map.csv", "sandbox_map.jsonl"])
def test_csv_and_jsonl_maps(data: Path, name: str) -> None:
    leases = list(load_sandbox_map(data / name))
    assert all(isinstance(lease, Lease) for lease in leases)
    assert [(x.episode, x.ip, x.start, x.end) for x in leases] == [  # type: ignore[union-attr]
        ("ep-a", "10.88.0.2", T0, T0 + 600),
        ("ep-b", "10.88.0.2", T0 + 630, T0 + 1200),
        ("ep-c", "10.88.0.3", T0, math.inf),
    ]


def test_bad_map_lines(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("episode,ip,start,end\n"
                    "a,10.0.0.1,100,50\n"
                    ",10.0.0.1,1,2\n"
                    "b,nope,1,2\n"
                    "c,10.0.0.1,,2\n"
                    '{"episode": "d", "ip": "10.0.0.2", "start": 5}\n')
    items = list(load_sandbox_map(path))
    assert [i.location.line for i in items if isinstance(i, LineIssue)] == [2, 3, 4, 5]
    assert [i.episode for i in items if isinstance(i, Lease)] == ["d"]
    header = tmp_path / "h.csv"
    header.write_text("who,when\nx,1\n")
    (issue,) = list(load_sandbox_map(header))
    assert isinstance(issue, LineIssue) and "header" in issue.message
    with pytest.raises(InputError):
        list(load_sandbox_map(tmp_path / "missing.csv"))


def test_leases_from_metadata() -> None:
    steps = (Step(index=0, ts=T0 + 10, end_ts=T0 + 20), Step(index=1, ts=T0 + 30))
    traj = Trajectory(id="e", source="s", format="f", steps=steps,
                      metadata={"sandbox_ip": ["10.0.0.9", "bad"]})
    (lease,) = leases_from_metadata(traj)
    assert (lease.ip, lease.start, lease.end) == ("10.0.0.9", T0 + 10, T0 + 30)
    explicit = Trajectory(id="e", source="s", format="f", steps=(),
                          metadata={"sandbox_ip": "10.0.0.9", "sandbox_start": "2026-11-27T10:00:00Z",
                                    "sandbox_end": T0 + 5})
    assert [(x.start, x.end) for x in leases_from_metadata(explicit)] == [(T0, T0 + 5)]
    assert leases_from_metadata(Trajectory(id="e", source="s", format="f", steps=(),
                                           metadata={"sandbox_ip": "10.0.0.9"})) == []
