"""The GPU usage event: one per process per poll, and one per device per poll (NVML, read only).

OCSF has no class for accelerator utilisation, so ``ocsf_class_uid`` is 0 (none); exporters that
need a class map it themselves. There is no Sigma logsource for it either, so it is not in
``EVENT_TYPES`` (the Sigma categories): the rule engine ignores it and the GPU detectors take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from watchkeeper.events._base import BaseEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuEvent(BaseEvent):
    """GPU use seen through NVML (read only).

    ``activity`` is "process" (one process on one device during one poll) or "device" (the
    whole device during one poll). Fields a source could not read are None.

    Attributes:
        activity: "process" or "device".
        device_index: NVML device index (PCI bus order).
        device_uuid: NVML device UUID ("GPU-...").
        device_name: Product name ("NVIDIA H200").
        sm_util: Streaming-multiprocessor utilisation in percent (process: the mean of the NVML
            samples since the last poll; device: nvmlDeviceGetUtilizationRates().gpu).
        mem_util: Memory-controller utilisation in percent (same sources).
        samples: How many NVML utilisation samples the process fields summarise (0: the process
            holds a context but ran no kernel since the last poll, or util was not readable).
        used_memory: Bytes of GPU memory (process: its allocation; device: used in total).
        total_memory: Device memory in bytes (device events).
        power_mw: Board power in milliwatts (device events).
        sm_clock_mhz / mem_clock_mhz: Current clocks (device events).
        pcie_tx_kbps / pcie_rx_kbps: PCIe throughput in KB/s (device events; device-wide, NVML
            has no per-process PCIe counter).
        image / command_line: The process (from /proc), "" when it could not be read.
        ppid: Parent pid from /proc.
        ancestors: Ancestor pids, nearest first (from /proc and, when known, fork-time lineage).
        accounting: NVML accounting statistics of the process as (name, value) pairs, only when
            accounting mode was already enabled on the device: gpu_util, mem_util,
            max_memory, time_ms.
        interval_s: Seconds since the previous poll of this device.
    """

    category: ClassVar[str] = "gpu_usage"
    ocsf_class_uid: ClassVar[int] = 0
    ocsf_class_name: ClassVar[str] = "GPU Usage"

    activity: str = "process"
    device_index: int = -1
    device_uuid: str = ""
    device_name: str = ""
    sm_util: float | None = None
    mem_util: float | None = None
    samples: int = 0
    used_memory: int | None = None
    total_memory: int | None = None
    power_mw: int | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    pcie_tx_kbps: int | None = None
    pcie_rx_kbps: int | None = None
    image: str = ""
    command_line: str = ""
    ppid: int | None = None
    ancestors: tuple[int, ...] = ()
    accounting: tuple[tuple[str, int], ...] = ()
    interval_s: float = 0.0
