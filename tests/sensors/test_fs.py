from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from watchkeeper.attribution.lineage import Lineage
from watchkeeper.events import FileEvent
from watchkeeper.sensors.fs import DEFAULT_SENSITIVE, FsSensor, sensitive_paths


class Sink:
    def __init__(self) -> None:
        self.events: list[FileEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: object) -> None:
        assert isinstance(event, FileEvent)
        with self.lock:
            self.events.append(event)

    def wait(self, pred: Callable[[FileEvent], bool], timeout: float = 3.0) -> FileEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.events:
                    if pred(e):
                        return e
            time.sleep(0.01)
        raise AssertionError(f"not seen; got {[(e.activity, e.path) for e in self.events]}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tmp_path / ".netrc").write_text("machine example login u password p\n")
    (tmp_path / "notes.txt").write_text("not sensitive\n")
    return tmp_path


@pytest.fixture
def running(home: Path) -> Iterator[tuple[FsSensor, Sink, Lineage]]:
    lineage = Lineage()
    sensor = FsSensor(lineage, dedup_s=0.5, run_id="r", backend="inotify")
    sink = Sink()
    sensor.watch("sbx", sensitive_paths([home], extra=[home / "canary.txt"]))
    sensor.start(sink)
    try:
        yield sensor, sink, lineage
    finally:
        sensor.stop()


def test_reads_writes_creates_and_deletes_of_sensitive_paths(
    running: tuple[FsSensor, Sink, Lineage], home: Path
) -> None:
    sensor, sink, lineage = running
    lineage.register_root(os.getpid(), "sbx", 6, "call-6")
    key = home / ".ssh" / "id_ed25519"
    assert key.read_text().startswith("-----BEGIN")
    read = sink.wait(lambda e: e.activity == "read" and e.path == str(key))
    assert (read.sandbox_id, read.step, read.tool_call_id, read.run_id) == ("sbx", 6, "call-6", "r")
    (home / ".netrc").write_text("changed\n")
    sink.wait(lambda e: e.activity == "write" and e.path == str(home / ".netrc"))
    # a file created later in a watched directory, and a target that did not exist yet
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA\n")
    sink.wait(lambda e: e.activity == "create" and e.path.endswith("authorized_keys"))
    (home / ".aws").mkdir()
    sink.wait(lambda e: e.activity == "create" and e.path == str(home / ".aws"))
    time.sleep(0.1)  # the new directory gets its own watch
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id=AKIA\n")
    sink.wait(lambda e: e.activity == "create" and e.path == str(home / ".aws" / "credentials"))
    (home / "canary.txt").write_text("canary\n")
    sink.wait(lambda e: e.activity == "create" and e.path == str(home / "canary.txt"))
    key.unlink()
    sink.wait(lambda e: e.activity == "delete" and e.path == str(key))
    # reading a non-sensitive file next to the targets reports nothing
    (home / "notes.txt").read_text()
    time.sleep(0.2)
    assert not [e for e in sink.events if "notes.txt" in e.path]
    assert sensor.stats().received > 0 and sensor.stats().dropped == 0


def test_repeated_reads_fold_and_step_is_unknown_with_two_active_steps(
    running: tuple[FsSensor, Sink, Lineage], home: Path
) -> None:
    _, sink, lineage = running
    lineage.register_root(os.getpid(), "sbx", 1, "a")
    lineage.register_root(os.getppid(), "sbx", 2, "b")
    for _ in range(20):
        (home / ".netrc").read_text()
    event = sink.wait(lambda e: e.activity == "read")
    time.sleep(0.2)
    reads = [e for e in sink.events if e.activity == "read" and e.path.endswith(".netrc")]
    assert len(reads) == 1
    assert event.step is None and event.sandbox_id == "sbx"


def test_unwatch_and_stop_are_clean(home: Path) -> None:
    sensor = FsSensor(heartbeat=lambda: None, backend="inotify")
    sink = Sink()
    sensor.start(sink)
    sensor.watch("a", [home / ".ssh"])
    assert str(home / ".ssh") in sensor.watched_paths
    sensor.unwatch("a")
    (home / ".ssh" / "id_ed25519").read_text()
    time.sleep(0.2)
    sensor.stop()
    sensor.stop()
    assert not sink.events and not sensor.alive


def test_default_names_cover_common_credential_stores() -> None:
    for name in (".ssh", ".aws", ".kube", ".docker", ".netrc", ".env"):
        assert name in DEFAULT_SENSITIVE
    paths = sensitive_paths(["/w", "/h"], names=[".ssh"], extra=["/w/canary"])
    assert paths == [Path("/w/.ssh"), Path("/h/.ssh"), Path("/w/canary")]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="fanotify needs CAP_SYS_ADMIN")
def test_fanotify_gives_the_readers_pid_and_exact_step(home: Path) -> None:
    lineage = Lineage()
    sensor = FsSensor(lineage, backend="fanotify")
    sink = Sink()
    sensor.watch("sbx", sensitive_paths([home]))
    sensor.start(sink)
    key = home / ".ssh" / "id_ed25519"
    try:
        assert sensor.backend_in_effect == "fanotify"
        key.read_text()  # the monitor's own read is skipped
        # cat reads the key, then waits on stdin: it is still alive when the event is handled
        reader = subprocess.Popen(["sh", "-c", f"read x; exec cat {key} -"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL)  # fmt: skip
        lineage.register_root(reader.pid, "sbx", 8, "c8")
        lineage.register_root(os.getpid(), "sbx", 9, "c9")  # a second active step
        assert reader.stdin is not None
        reader.stdin.write(b"\n")
        reader.stdin.flush()
        event = sink.wait(lambda e: e.activity == "read" and e.path == str(key))
        reader.stdin.close()
        reader.wait(5)
        assert (event.pid, event.step, event.tool_call_id) == (reader.pid, 8, "c8")
        assert event.image.endswith("cat")
        writer = subprocess.run(["sh", "-c", f"echo x >> {home / '.netrc'}"], check=True)
        assert writer.returncode == 0
        wrote = sink.wait(lambda e: e.activity == "write" and e.path.endswith(".netrc"))
        assert wrote.pid not in (None, os.getpid()) and wrote.step is None  # not in the lineage
        (home / ".ssh" / "new_key").write_text("k")  # creates still come from inotify
        sink.wait(lambda e: e.activity == "create" and e.path.endswith("new_key"))
        time.sleep(0.1)
        assert all(e.pid != os.getpid() for e in sink.events)
    finally:
        sensor.stop()
