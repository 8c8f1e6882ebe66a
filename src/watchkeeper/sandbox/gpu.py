"""GPU grants: which GPUs a sandbox may see, turned into bubblewrap arguments and environment.

A sandbox without a grant sees no ``/dev/nvidia*`` node and gets no ``CUDA_VISIBLE_DEVICES`` or
``NVIDIA_VISIBLE_DEVICES``. A grant binds only the granted ``/dev/nvidiaN`` nodes plus the
control nodes the driver needs (``/dev/nvidiactl``, ``/dev/nvidia-uvm``,
``/dev/nvidia-uvm-tools``, ``/dev/nvidia-modeset``, when present) and sets
``CUDA_VISIBLE_DEVICES`` to the granted set.

This assumes the sandbox's /dev is a fresh minimal one (bwrap ``--dev /dev``): the arguments add
device nodes, they cannot hide nodes that a ``--dev-bind /dev /dev`` already exposed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from watchkeeper.errors import SandboxError

STRIPPED_ENV: tuple[str, ...] = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
"""Variables removed from every sandbox's environment (a grant sets CUDA_VISIBLE_DEVICES again)."""

CONTROL_NODES: tuple[str, ...] = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
"""Driver control nodes bound (when present) for a sandbox with at least one granted GPU."""

_UUID = re.compile(r"^(GPU|MIG)-[0-9A-Za-z-]{1,64}$")
_INDEX = re.compile(r"^[0-9]{1,3}$")
_MINOR = re.compile(r"^nvidia([0-9]{1,3})$")


@dataclass(frozen=True, slots=True)
class GpuGrant:
    """The GPUs one sandbox may use: NVML indices and/or UUIDs, all of them, or none.

    Build with :meth:`none`, :meth:`of` or :meth:`all`.

    Attributes:
        devices: Granted devices as text: "0", "1" (NVML index) or "GPU-..." (UUID).
        everything: True when every GPU of the host is granted.
    """

    devices: tuple[str, ...] = ()
    everything: bool = False

    @classmethod
    def none(cls) -> GpuGrant:
        """No GPU at all (the default for every sandbox)."""
        return cls()

    @classmethod
    def all(cls) -> GpuGrant:
        """Every GPU of the host."""
        return cls(everything=True)

    @classmethod
    def of(cls, *devices: int | str) -> GpuGrant:
        """The given devices (indices or UUIDs).

        Raises:
            SandboxError: on something that is neither an index nor a GPU/MIG UUID.
        """
        out: list[str] = []
        for device in devices:
            text = str(device).strip()
            if isinstance(device, bool) or not (_INDEX.match(text) or _UUID.match(text)):
                raise SandboxError(f"not a GPU index or UUID: {device!r}")
            text = str(int(text)) if _INDEX.match(text) else text
            if text not in out:
                out.append(text)
        return cls(tuple(out))

    @property
    def granted(self) -> bool:
        """True when at least one GPU is granted."""
        return self.everything or bool(self.devices)

    def allows(self, index: int | None = None, uuid: str = "") -> bool:
        """True when the device with this NVML index or UUID is granted."""
        if self.everything:
            return True
        if index is not None and str(index) in self.devices:
            return True
        return bool(uuid) and uuid in self.devices


def gpu_bwrap_args(
    grant: GpuGrant,
    dev_root: str = "/dev",
    *,
    minors: Mapping[str, int] | None = None,
    driver_root: str = "/proc/driver/nvidia/gpus",
) -> tuple[list[str], dict[str, str]]:
    """bwrap arguments and environment that give a sandbox exactly the granted GPUs.

    Args:
        grant: The sandbox's grant.
        dev_root: Where the host's device nodes are (tests use a fake tree).
        minors: Device (index or UUID, as in the grant) -> N of /dev/nvidiaN. Without it an
            index N maps to /dev/nvidiaN and a UUID is looked up in ``driver_root``.
        driver_root: The driver's per-GPU information files (``*/information``).

    Returns:
        ``(argv, env)``: ``--dev-bind`` pairs for the nodes (paths inside the sandbox are the
        standard /dev paths) and ``--unsetenv`` for the stripped variables; ``env`` holds the
        variables the sandbox must get (``CUDA_VISIBLE_DEVICES`` and ``CUDA_DEVICE_ORDER`` for
        a grant, nothing otherwise). Remove :data:`STRIPPED_ENV` from any environment you pass
        besides, or use :func:`sandbox_env`.

    Raises:
        SandboxError: when a granted device has no node under ``dev_root`` (fail closed).
    """
    argv: list[str] = []
    for name in STRIPPED_ENV:
        argv += ["--unsetenv", name]
    if not grant.granted:
        return argv, {}
    gpu_nodes = _granted_nodes(grant, dev_root, minors, driver_root)
    controls = [n for n in CONTROL_NODES if os.path.exists(os.path.join(dev_root, n))]
    for name in gpu_nodes + controls:
        argv += ["--dev-bind", os.path.join(dev_root, name), f"/dev/{name}"]
    if grant.everything:
        visible = ",".join(str(i) for i in range(len(gpu_nodes)))
    else:
        visible = ",".join(grant.devices)
    return argv, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": visible}


def sandbox_env(base: Mapping[str, str], gpu_env: Mapping[str, str]) -> dict[str, str]:
    """``base`` without :data:`STRIPPED_ENV`, plus ``gpu_env`` (from :func:`gpu_bwrap_args`)."""
    out = {k: v for k, v in base.items() if k not in STRIPPED_ENV}
    out.update(gpu_env)
    return out


def _granted_nodes(
    grant: GpuGrant, dev_root: str, minors: Mapping[str, int] | None, driver_root: str
) -> list[str]:
    if grant.everything:
        present = _host_minors(dev_root)
        if not present:
            raise SandboxError(f"all GPUs granted but there is no nvidiaN node in {dev_root}")
        return [f"nvidia{n}" for n in present]
    uuid_minors: dict[str, int] | None = None
    nodes: list[str] = []
    for device in grant.devices:
        minor: int | None = None
        if minors is not None and device in minors:
            minor = minors[device]
        elif _INDEX.match(device):
            minor = int(device)
        else:
            if uuid_minors is None:
                uuid_minors = _driver_uuid_minors(driver_root)
            minor = uuid_minors.get(device)
        if minor is None:
            raise SandboxError(f"granted GPU {device} not found (no minor number for it)")
        node = f"nvidia{minor}"
        if not os.path.exists(os.path.join(dev_root, node)):
            raise SandboxError(
                f"granted GPU {device}: {os.path.join(dev_root, node)} does not exist"
            )
        if node not in nodes:
            nodes.append(node)
    return nodes


def _host_minors(dev_root: str) -> list[int]:
    try:
        names: Iterable[str] = os.listdir(dev_root)
    except OSError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _MINOR.match(name)))


def _driver_uuid_minors(driver_root: str) -> dict[str, int]:
    """UUID -> minor from /proc/driver/nvidia/gpus/*/information ("GPU UUID", "Device Minor")."""
    out: dict[str, int] = {}
    try:
        entries = sorted(os.listdir(driver_root))[:64]
    except OSError:
        return out
    for entry in entries:
        try:
            with open(os.path.join(driver_root, entry, "information"), encoding="utf-8") as fh:
                text = fh.read(16384)
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        uuid, minor = fields.get("GPU UUID", ""), fields.get("Device Minor", "")
        if uuid and minor.isdigit():
            out[uuid] = int(minor)
    return out
