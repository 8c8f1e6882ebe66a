"""The exec server inside a real sandbox: daemons outlive their call, failures are reported."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watchkeeper.runtime.executor import ExecFailed, Executor, devnull
from watchkeeper.sandbox import SandboxHost, SandboxSpec

pytestmark = pytest.mark.root


def test_commands_share_one_pid_namespace_and_daemons_survive(
    live: None, workdir: Path, new_id: Callable[..., str]
) -> None:
    spawned: list[int] = []
    registered: list[int] = []
    with SandboxHost(SandboxSpec(id=new_id("x"), workdir=str(workdir), nflog_group=None)) as box:
        executor = Executor(box, on_spawn=spawned.append)
        server = executor.start()
        assert spawned and server in box.pids()
        null = devnull()
        out_r, out_w = os.pipe()
        try:
            run = executor.spawn(
                ["/bin/sh", "-c", "(setsid sleep 30 &); echo $$; exit 4"], stdin=null,
                stdout=out_w, stderr=out_w, env=box.environment(), register=registered.append,
            )  # fmt: skip
        finally:
            os.close(null)
            os.close(out_w)
        assert run.wait(10) and run.code == 4
        assert registered == [run.pid]
        time.sleep(0.2)
        sleepers = [p for p in box.pids() if Path(f"/proc/{p}/cmdline").read_bytes() == b"sleep\x0030\x00"]
        assert sleepers  # the daemon outlived its call
        os.close(out_r)
        null = devnull()
        try:
            with pytest.raises(ExecFailed) as info:
                executor.spawn(["no-such-program"], stdin=null, stdout=null, stderr=null,
                               env=box.environment())  # fmt: skip
        finally:
            os.close(null)
        assert info.value.code == 127
        box.kill()  # the whole sandbox dies: the server too
        deadline = time.monotonic() + 5
        while executor.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not executor.alive
        executor.close()
