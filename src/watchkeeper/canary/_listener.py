"""What the canary HTTP and DNS listeners share: one socket served by a daemon thread."""

from __future__ import annotations

import socket
import threading
from typing import ClassVar, Self


def bind(sock: socket.socket, host: str, port: int, *, backlog: int | None = None) -> socket.socket:
    """``sock`` bound to (host, port) and listening when ``backlog`` is given; closed on failure."""
    try:
        sock.bind((host, port))
        if backlog is not None:
            sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """A bound socket served by :meth:`_loop` in a daemon thread; a context manager.

    The socket times out every 0.1 s so that the loop sees :attr:`_stop`. ``stop`` is
    idempotent: it ends the loop, runs :meth:`_drain` (work still in hand), closes the socket.
    """

    thread_name: ClassVar[str] = "wk-listener"

    def __init__(self, sock: socket.socket, host: str) -> None:
        sock.settimeout(0.1)
        self._sock = sock
        self.host = host
        self.port = int(sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def serving(self) -> bool:
        """True while the loop runs (started, and neither stopped nor past its own bound)."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the loop to end by itself (a listener with a time bound)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop serving, finish what is in hand and close the socket; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._drain()
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        """Wait for work the loop handed off (nothing by default)."""
