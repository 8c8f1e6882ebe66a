"""Collecting a command's output without hanging on daemons that hold the pipe."""

from __future__ import annotations

import os
import time

from watchkeeper.runtime.collect import Collector


def test_reads_until_eof_and_feeds_stdin() -> None:
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe()
    collector = Collector([out_r], feed=(in_w, b"ping"))
    assert os.read(in_r, 10) == b"ping"
    os.write(out_w, b"hello \xff")
    os.close(out_w)
    collector.finish(5.0)
    assert collector.text(out_r) == "hello \ufffd"
    os.close(in_r)


def test_a_held_pipe_stops_at_the_grace_deadline_and_big_output_is_bounded() -> None:
    out_r, out_w = os.pipe()
    collector = Collector([out_r], limit=10)
    os.write(out_w, b"x" * 25)
    started = time.monotonic()
    collector.finish(0.2)  # out_w stays open, as a daemon would keep it
    assert time.monotonic() - started < 2.0
    assert collector.text(out_r) == "x" * 10 and collector.truncated == 15
    os.close(out_w)
