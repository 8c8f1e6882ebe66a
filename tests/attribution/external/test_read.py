from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchkeeper.attribution.external import ReadOptions, read_alerts
from watchkeeper.errors import InputError, UnknownFormatError

Read = Callable[..., Any]  # the read fixture: (path, fmt, **options) -> (alerts, issues)


def test_folder_detects_each_format(data: Path) -> None:
    stream = read_alerts([data / "logs"], options=ReadOptions(year=2026, boot_time=0.0))
    kinds = {}
    for item in stream:
        if not hasattr(item, "location"):
            kinds.setdefault(item.source.rsplit("/", 1)[1].split(":")[0], set()).add(item.kind)
    assert kinds == {
        "alerts.csv": {"csv"}, "conn.json": {"zeek-conn"}, "conn.log": {"zeek-conn"},
        "dmesg.txt": {"iptables"}, "eve.json": {"suricata"}, "kern.log": {"iptables"},
        "nft.log": {"nft"}, "notice.json": {"zeek-notice"}, "notice.log": {"zeek-notice"},
    }
    assert stream.stats.files == 9 and stream.stats.issues == 6 and stream.stats.alerts == 23
    assert stream.stats.skipped > 0


def test_undetected_files(tmp_path: Path, read: Read) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(UnknownFormatError, match="--alerts-format"):
        read(path)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    alerts, issues = read(folder)  # in a folder: reported, not raised
    assert not alerts and "cannot tell" in issues[0].message
    with pytest.raises(InputError):
        read(tmp_path / "missing.log")
    with pytest.raises(UnknownFormatError):
        read(path, fmt="pcap")


def test_gzip_long_lines_and_binary(tmp_path: Path, read: Read) -> None:
    line = ('{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1",'
            '"dest_ip":"10.0.0.2","proto":"TCP","alert":{"signature":"x"}}\n')
    path = tmp_path / "eve.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(line + '{"x": "' + "a" * 5000 + '"}\n' + line)
    alerts, issues = read(path, max_line_bytes=1000)
    assert len(alerts) == 2 and issues[0].location.line == 2 and "longer than" in issues[0].message
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(line.encode() * 50)[:60])
    alerts, issues = read(broken, fmt="suricata")
    assert issues and "cannot read" in issues[-1].message
    binary = tmp_path / "bin.log"
    binary.write_bytes(b"\xff\xfe\x00garbage\x00\n" + line.encode())
    alerts, issues = read(binary, fmt="suricata")
    assert len(alerts) == 1 and issues[0].location.line == 1


_HEADS = [
    '{"timestamp":"2026-11-27T10:00:00Z","event_type":"alert","src_ip":"10.0.0.1",'
    '"dest_ip":"10.0.0.2","proto":"TCP","alert":{"signature":"x"}}',
    "#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h",
    "Nov 27 10:00:00 h kernel: P: IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2",
    "ts,src_ip,dst_ip",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.sampled_from(_HEADS),
       body=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
                     max_size=8))
def test_hostile_lines_never_crash(tmp_path: Path, head: str, body: list[str]) -> None:
    path = tmp_path / "fuzz.log"
    path.write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
    for item in read_alerts([path], options=ReadOptions(year=2026, boot_time=0.0)):
        assert hasattr(item, "location") or isinstance(item.ts, float)
