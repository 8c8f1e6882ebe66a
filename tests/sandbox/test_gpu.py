"""GPU grants -> bwrap arguments and environment, on a fake /dev tree."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.errors import SandboxError
from watchkeeper.sandbox import SandboxHost
from watchkeeper.sandbox.gpu import STRIPPED_ENV, GpuGrant, gpu_bwrap_args, sandbox_env

UNSET = ["--unsetenv", "CUDA_VISIBLE_DEVICES", "--unsetenv", "NVIDIA_VISIBLE_DEVICES"]


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    root = tmp_path / "dev"
    root.mkdir()
    for name in (
        "nvidia0",
        "nvidia1",
        "nvidia2",
        "nvidiactl",
        "nvidia-uvm",
        "nvidia-modeset",
        "null",
        "nvidia-caps",
    ):
        (root / name).touch()
    return root


def _binds(argv: list[str]) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--dev-bind"]


def test_no_grant_binds_nothing_and_strips_env(dev: Path) -> None:
    argv, env = gpu_bwrap_args(GpuGrant.none(), str(dev))
    assert argv == UNSET and env == {}
    base = {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1", "NVIDIA_VISIBLE_DEVICES": "all"}
    assert sandbox_env(base, env) == {"PATH": "/bin"}


def test_grant_binds_only_granted_nodes_and_present_controls(dev: Path) -> None:
    argv, env = gpu_bwrap_args(GpuGrant.of(1), str(dev))
    assert _binds(argv) == [
        (str(dev / "nvidia1"), "/dev/nvidia1"),
        (str(dev / "nvidiactl"), "/dev/nvidiactl"),
        (str(dev / "nvidia-uvm"), "/dev/nvidia-uvm"),
        (str(dev / "nvidia-modeset"), "/dev/nvidia-modeset"),  # uvm-tools is absent: skipped
    ]
    assert argv[:4] == UNSET
    assert env == {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    merged = sandbox_env({"CUDA_VISIBLE_DEVICES": "0,1,2", "HOME": "/h"}, env)
    assert merged == {"HOME": "/h", "CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert not any(p.endswith(("nvidia0", "nvidia2")) for p, _ in _binds(argv))


def test_two_devices_and_all(dev: Path) -> None:
    argv, env = gpu_bwrap_args(GpuGrant.of(2, "0", 2), str(dev))
    assert [d for _, d in _binds(argv)][:2] == ["/dev/nvidia2", "/dev/nvidia0"]
    assert env["CUDA_VISIBLE_DEVICES"] == "2,0"
    argv, env = gpu_bwrap_args(GpuGrant.all(), str(dev))
    assert [d for _, d in _binds(argv)][:3] == ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2"]
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1,2"


def test_uuid_grant_through_driver_information(dev: Path, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    for bus, uuid, minor in (
        ("0000:19:00.0", "GPU-aaaa-1111", 0),
        ("0000:3b:00.0", "GPU-bbbb-2222", 2),
    ):
        (gpus / bus).mkdir(parents=True)
        (gpus / bus / "information").write_text(
            f"Model: \t\t NVIDIA H200\nIRQ:   \t\t 42\nGPU UUID: \t {uuid}\nDevice Minor: \t {minor}\n"
        )
    argv, env = gpu_bwrap_args(GpuGrant.of("GPU-bbbb-2222"), str(dev), driver_root=str(gpus))
    assert _binds(argv)[0] == (str(dev / "nvidia2"), "/dev/nvidia2")
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-bbbb-2222"
    with pytest.raises(SandboxError, match="GPU-cccc"):
        gpu_bwrap_args(GpuGrant.of("GPU-cccc-3333"), str(dev), driver_root=str(gpus))


def test_explicit_minor_map(dev: Path) -> None:
    argv, _ = gpu_bwrap_args(GpuGrant.of(0), str(dev), minors={"0": 2})
    assert _binds(argv)[0][1] == "/dev/nvidia2"


def test_missing_granted_node_fails_closed(dev: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="nvidia7"):
        gpu_bwrap_args(GpuGrant.of(7), str(dev))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SandboxError, match="no nvidiaN"):
        gpu_bwrap_args(GpuGrant.all(), str(empty))


@pytest.mark.parametrize("bad", ["0; rm", "-1", "GPU", "../nvidia0", True, "GPU-" + "a" * 100])
def test_grant_rejects_junk(bad: object) -> None:
    with pytest.raises(SandboxError):
        GpuGrant.of(bad)  # type: ignore[arg-type]


def test_grant_allows() -> None:
    grant = GpuGrant.of(0, "GPU-x1")
    assert grant.allows(0) and grant.allows(3, "GPU-x1") and not grant.allows(1, "GPU-y")
    assert not GpuGrant.none().allows(0, "GPU-x1") and GpuGrant.all().allows(9)
    assert GpuGrant.of("007").devices == ("7",)
    assert set(STRIPPED_ENV) == {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"}


@pytest.mark.root
def test_bwrap_accepts_the_arguments(dev: Path) -> None:
    """bwrap runs with the grant's arguments on the fake /dev (regular files bound as nodes)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed")
    argv, env = gpu_bwrap_args(GpuGrant.of(1), str(dev))
    cmd = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", *argv]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["sh", "-c", "ls /dev | grep nvidia; echo CVD=${CUDA_VISIBLE_DEVICES-unset}"]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "0,1,2"},
    )
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip(f"bwrap cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert sorted(x for x in lines if x.startswith("nvidia")) == [
        "nvidia-modeset",
        "nvidia-uvm",
        "nvidia1",
        "nvidiactl",
    ]
    assert "CVD=1" in lines
    argv, _ = gpu_bwrap_args(GpuGrant.none(), str(dev))
    cmd = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        *argv,
        "sh",
        "-c",
        "ls /dev | grep -c nvidia; echo CVD=${CUDA_VISIBLE_DEVICES-unset}",
    ]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "0,1,2"},
    )
    assert done.stdout.split() == ["0", "CVD=unset"], done.stderr


# --- the grant wired into SandboxHost ------------------------------------------------------

_SHOW = "ls /dev | grep nvidia; echo CVD=${CUDA_VISIBLE_DEVICES-unset} NVD=${NVIDIA_VISIBLE_DEVICES-unset}"


def test_spec_takes_only_a_grant(tmp_path: Path) -> None:
    from watchkeeper.sandbox import SandboxSpec

    with pytest.raises(SandboxError, match="GpuGrant"):
        SandboxSpec(id="wkg", workdir=str(tmp_path), gpu="0")  # type: ignore[arg-type]


def test_environment_strips_gpu_variables_without_a_grant(tmp_path: Path) -> None:
    """Whatever spec.env or the call's env say, no visible-devices variable gets in."""
    from watchkeeper.sandbox import SandboxHost, SandboxSpec

    spec = SandboxSpec(id="wkg", workdir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "0", "A": "1"})
    env = SandboxHost(spec).environment({"NVIDIA_VISIBLE_DEVICES": "all", "B": "2"})
    assert env["A"] == "1" and env["B"] == "2"
    assert not set(STRIPPED_ENV) & set(env)


@pytest.mark.root
def test_sandbox_without_grant_sees_no_gpu(
    make_box: Callable[..., SandboxHost], dev: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "all")
    box = make_box("gn", gpu_dev_root=str(dev), env={"CUDA_VISIBLE_DEVICES": "2"}, nflog_group=None)
    done = box.run(["sh", "-c", _SHOW], env={"NVIDIA_VISIBLE_DEVICES": "1"}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == ["CVD=unset", "NVD=unset"]


@pytest.mark.root
def test_granted_sandbox_sees_only_its_gpu(make_box: Callable[..., SandboxHost], dev: Path) -> None:
    box = make_box("gg", gpu=GpuGrant.of(1), gpu_dev_root=str(dev), nflog_group=None)
    done = box.run(["sh", "-c", _SHOW], env={"CUDA_VISIBLE_DEVICES": "0,1,2"}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.decode().split()) == sorted(
        ["nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "CVD=1", "NVD=unset"]
    )


@pytest.mark.root
def test_granted_gpu_without_node_fails_setup(
    make_box: Callable[..., SandboxHost], dev: Path
) -> None:
    with pytest.raises(SandboxError, match="nvidia7"):
        make_box("gm", gpu=GpuGrant.of(7), gpu_dev_root=str(dev), nflog_group=None)
