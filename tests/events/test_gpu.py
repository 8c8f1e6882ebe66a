"""GpuEvent in the shared event package: old import paths, JSON round trip, the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from watchkeeper.events import (
    ALL_EVENT_TYPES,
    EVENT_TYPES,
    BaseEvent,
    GpuEvent,
    event_from_dict,
    event_to_dict,
)
from watchkeeper.store import DuckReader, DuckStore


def _event(**kw: object) -> GpuEvent:
    base: dict[str, object] = dict(
        ts=1_700_000_000.5, run_id="r", episode_id="e", step=3, tool_call_id="call_1",
        sandbox_id="s1", source="gpu", pid=4242, device_index=1, device_uuid="GPU-1",
        device_name="NVIDIA H200", sm_util=97.5, mem_util=68.0, samples=4, used_memory=2 << 30,
        image="/usr/bin/xmrig", command_line="xmrig -o pool", ppid=12, ancestors=(12, 7, 1),
        accounting=(("gpu_util", 97), ("time_ms", 3000)), interval_s=1.0,
    )  # fmt: skip
    base.update(kw)
    return GpuEvent(**base)  # type: ignore[arg-type]


def test_old_import_paths_name_the_same_class() -> None:
    from watchkeeper.sensors._gpu_event import GpuEvent as OldPrivate
    from watchkeeper.sensors.gpu import GpuEvent as OldPublic

    assert OldPrivate is GpuEvent and OldPublic is GpuEvent
    assert issubclass(GpuEvent, BaseEvent) and GpuEvent.category == "gpu_usage"


def test_frozen_slotted_keyword_only() -> None:
    event = _event()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.pid = 1  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    with pytest.raises(TypeError):
        GpuEvent(1.0)  # type: ignore[misc]


def test_not_a_sigma_category_but_serialisable() -> None:
    assert "gpu_usage" not in EVENT_TYPES and ALL_EVENT_TYPES["gpu_usage"] is GpuEvent
    event = _event()
    data = event_to_dict(event)
    assert data["category"] == "gpu_usage" and data["accounting"] == [["gpu_util", 97], ["time_ms", 3000]]
    assert event_from_dict(data) == event
    device = _event(activity="device", pid=None, pcie_tx_kbps=10, pcie_rx_kbps=20, power_mw=700_000)
    assert event_from_dict(event_to_dict(device)) == device


def test_the_store_keeps_gpu_events(tmp_path: Path) -> None:
    event = _event()
    with DuckStore(tmp_path, run_id="r") as store:
        store.add_event(event)
    with DuckReader(tmp_path) as db:
        _, rows = db.sql("SELECT category, pid, image, sandbox_id, step FROM events")
        assert rows == [("gpu_usage", 4242, "/usr/bin/xmrig", "s1", 3)]
        assert list(db.event_objects()) == [event]
