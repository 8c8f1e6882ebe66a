"""A read-only gate in front of an NVML module (``pynvml`` or a fake with the same names).

The GPU sensor never changes a GPU setting: persistence mode, clocks, compute mode, accounting
and every other setter, clearer or resetter are out of reach because the sensor
only talks to NVML through :class:`ReadOnlyNvml`, which refuses any function that is not in
:data:`READ_FUNCTIONS`. A test scans the sensor's source for write calls as a second guard.
"""

from __future__ import annotations

import importlib
from typing import Any

from watchkeeper.errors import PrerequisiteError

READ_FUNCTIONS: frozenset[str] = frozenset(
    {
        "nvmlInit",
        "nvmlShutdown",
        "nvmlSystemGetDriverVersion",
        "nvmlDeviceGetCount",
        "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetName",
        "nvmlDeviceGetUUID",
        "nvmlDeviceGetMinorNumber",
        "nvmlDeviceGetProcessUtilization",
        "nvmlDeviceGetProcessesUtilizationInfo",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetPcieThroughput",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetAccountingMode",
        "nvmlDeviceGetAccountingStats",
    }
)
"""The only NVML functions the sensor may call: initialisation, shutdown and getters."""

# NVML return codes (nvml.h; stable ABI, so they are not read from the module).
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_DRIVER_NOT_LOADED = 9

NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_FEATURE_ENABLED = 1

UNSUPPORTED_CODES = frozenset({NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND})
"""Codes that mean "this device or driver cannot answer this question": stop asking."""


class NvmlCallError(Exception):
    """An NVML call failed; ``code`` is the NVML return code (None when it was not NVML's)."""

    def __init__(self, name: str, code: int | None, text: str) -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.code = code


def error_code(exc: BaseException) -> int | None:
    """The NVML return code carried by an exception (``pynvml.NVMLError.value``), if any."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ReadOnlyNvml:
    """Calls whitelisted NVML read functions on a module-like object, and nothing else."""

    def __init__(self, module: object) -> None:
        self._module = module

    @property
    def module(self) -> object:
        """The wrapped module (``pynvml`` or a fake)."""
        return self._module

    def has(self, name: str) -> bool:
        """True when ``name`` is whitelisted and the module provides it."""
        return name in READ_FUNCTIONS and callable(getattr(self._module, name, None))

    def call(self, name: str, *args: object) -> Any:
        """Call NVML function ``name``; raises NvmlCallError on any failure.

        Raises:
            PermissionError: when ``name`` is not a whitelisted read function (a bug).
            NvmlCallError: when the module lacks the function or the call fails.
        """
        if name not in READ_FUNCTIONS:
            raise PermissionError(f"{name} is not a read-only NVML function")
        fn = getattr(self._module, name, None)
        if not callable(fn):
            raise NvmlCallError(name, NVML_ERROR_FUNCTION_NOT_FOUND, "not provided by the module")
        try:
            return fn(*args)
        except Exception as exc:  # pynvml raises NVMLError subclasses, ctypes errors, OSError
            raise NvmlCallError(name, error_code(exc), str(exc) or type(exc).__name__) from exc


def load_pynvml() -> object:
    """Import the real ``pynvml`` module (package nvidia-ml-py).

    Raises:
        PrerequisiteError: when nvidia-ml-py is not installed.
    """
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise PrerequisiteError(
            f"the GPU sensor needs the pynvml module ({exc})", fix="pip install nvidia-ml-py"
        ) from exc


def open_nvml(nvml: ReadOnlyNvml) -> None:
    """Call ``nvmlInit``, turning every failure into a PrerequisiteError."""
    try:
        nvml.call("nvmlInit")
    except NvmlCallError as exc:
        if exc.code in (NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED):
            fix = "install the NVIDIA driver (libnvidia-ml.so.1) on a host with an NVIDIA GPU"
        elif exc.code == NVML_ERROR_NO_PERMISSION:
            fix = "run as a user that may open /dev/nvidiactl"
        else:
            fix = "check the NVIDIA driver with nvidia-smi"
        raise PrerequisiteError(f"NVML is unavailable: {exc}", fix=fix) from exc
