"""Run host tools (ip, nft, sysctl) with argv lists and turn failures into ``SandboxError``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from watchkeeper.errors import PrerequisiteError, SandboxError

#: How long one host tool call may take before it counts as hung.
TOOL_TIMEOUT_S = 20.0


def run(argv: Sequence[str], *, input_text: str | None = None, check: bool = True) -> str:
    """Run ``argv`` and return its stdout; raise ``SandboxError`` with stderr when it fails.

    With ``check=False`` a non-zero exit returns stdout anyway (teardown of missing parts).
    """
    try:
        proc = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"{argv[0]} is not installed", fix=_install_hint(argv[0])) from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{' '.join(argv[:4])} timed out after {TOOL_TIMEOUT_S:.0f}s") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        raise SandboxError(
            f"{' '.join(argv[:6])} failed (rc {proc.returncode}): {detail[-1] if detail else 'no message'}"
        )
    return proc.stdout


def ok(argv: Sequence[str]) -> bool:
    """Run ``argv`` quietly; True when it exits 0 (used for idempotent teardown steps)."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def data_fd(data: bytes, name: str = "wk-data") -> int:
    """Write ``data`` to a memfd positioned at 0 and return it (the caller closes it).

    bwrap reads such fds to the end (``--seccomp``, ``--ro-bind-data``), so every command needs a
    fresh one.
    """
    fd = os.memfd_create(name, 0)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd


def require_root() -> None:
    """Raise ``PrerequisiteError`` unless running as root."""
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "the live sandbox needs root (namespaces, nftables, cgroups)", fix="run as root"
        )


def require_tool(name: str) -> str:
    """Return the path of host tool ``name`` or raise ``PrerequisiteError`` with the install hint."""
    path = shutil.which(name) or _sbin_which(name)
    if path is None:
        raise PrerequisiteError(f"{name} is not installed", fix=_install_hint(name))
    return path


def _sbin_which(name: str) -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


_PACKAGES = {
    "bwrap": "bubblewrap",
    "nft": "nftables",
    "ip": "iproute2",
    "setpriv": "util-linux",
    "nsenter": "util-linux",
}


def _install_hint(tool: str) -> str:
    package = _PACKAGES.get(os.path.basename(tool), os.path.basename(tool))
    return f"apt-get install {package}"
