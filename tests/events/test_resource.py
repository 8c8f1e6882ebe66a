"""ResourceSample in the shared event package (re-exported by the resource sensor)."""

from __future__ import annotations

import dataclasses

import pytest

from watchkeeper.events import BaseEvent, ResourceSample


def test_old_import_path_and_defaults() -> None:
    from watchkeeper.sensors.resources import ResourceSample as Old

    assert Old is ResourceSample and issubclass(ResourceSample, BaseEvent)
    total = ResourceSample(ts=2.0, sandbox_id="s", pid=None, cpu_share=1.5, interval=0.5)
    assert total.pid is None and total.step is None and total.rss_bytes == 0
    assert ResourceSample.category == "resource_usage" and ResourceSample.ocsf_class_uid == 0


def test_frozen_and_slotted() -> None:
    sample = ResourceSample(ts=1.0, sandbox_id="s", pid=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.cpu_share = 2.0  # type: ignore[misc]
    assert not hasattr(sample, "__dict__")
