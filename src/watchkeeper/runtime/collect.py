"""Reading a command's stdout and stderr without hanging on daemons that keep them open."""

from __future__ import annotations

import os
import selectors
import threading
import time

_CHUNK = 65536


class Collector:
    """Reads pipes on one thread into bounded buffers.

    A daemon started by the command may hold the write end of a pipe after the command exited,
    so :meth:`finish` stops reading at a deadline instead of waiting for EOF.

    Args:
        fds: Read ends to collect (the collector closes them).
        limit: Bytes kept per pipe; the rest is counted in :attr:`truncated`.
        feed: (write end, bytes) to write to the command's stdin, closed afterwards.
    """

    def __init__(
        self, fds: list[int], *, limit: int = 16 << 20, feed: tuple[int, bytes] | None = None
    ) -> None:
        self.buffers = {fd: bytearray() for fd in fds}
        self.truncated = 0
        self._limit = limit
        self._feed = feed
        self._stop_at: float | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wk-exec-io", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for fd in self.buffers:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        feed_fd, data = self._feed if self._feed is not None else (-1, b"")
        view = memoryview(data)
        if feed_fd >= 0:
            os.set_blocking(feed_fd, False)
            if view:
                sel.register(feed_fd, selectors.EVENT_WRITE)
            else:
                os.close(feed_fd)
                feed_fd = -1
        open_fds = set(self.buffers)
        try:
            while open_fds or feed_fd >= 0:
                with self._lock:
                    stop_at = self._stop_at
                if stop_at is not None and time.monotonic() >= stop_at:
                    break
                for key, _mask in sel.select(0.02):
                    fd = int(key.fd)
                    if fd == feed_fd:
                        try:
                            n = os.write(fd, view[:_CHUNK])
                        except BlockingIOError:
                            continue
                        except OSError:
                            n = len(view)
                        view = view[n:]
                        if not view:
                            sel.unregister(fd)
                            os.close(fd)
                            feed_fd = -1
                        continue
                    try:
                        chunk = os.read(fd, _CHUNK)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    buf = self.buffers[fd]
                    room = self._limit - len(buf)
                    if room > 0:
                        buf += chunk[:room]
                    self.truncated += max(0, len(chunk) - max(room, 0))
        finally:
            sel.close()
            for fd in self.buffers:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if feed_fd >= 0:
                try:
                    os.close(feed_fd)
                except OSError:
                    pass

    def finish(self, grace_s: float = 0.2) -> None:
        """Read until EOF on every pipe or ``grace_s`` from now, then close them."""
        with self._lock:
            self._stop_at = time.monotonic() + grace_s
        self._thread.join()

    def text(self, fd: int) -> str:
        """What was read from ``fd``, decoded (UTF-8, invalid bytes replaced)."""
        return self.buffers[fd].decode("utf-8", "replace")
