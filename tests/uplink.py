"""A TCP relay standing in for a store's WAN link, which a test can cut and restore.

Both ends keep running while it is cut (the central broker, the hub, the store
broker): only the bytes between them stop, as when a store's line goes down.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Uplink:
    """``reset=False``: while cut nothing listens, so connects are refused (a line that is down).
    ``reset=True``: connects are accepted and closed at once, mid-handshake (a middlebox resetting them)."""

    def __init__(self, target_host: str, target_port: int, *, reset: bool = False) -> None:
        self.target = (target_host, target_port)
        self.reset = reset
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.connections = 0  # relayed connections so far
        self.refused = 0  # connection attempts dropped while cut
        self.cuts = 0
        self.upstream_bytes = 0  # store -> central, since the last restore()
        self._cut_at: int | None = None
        self._start_accepting()

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), name="uplink-accept", daemon=True).start()

    def cut(self) -> None:
        """Drop every relayed connection and every new one until restore()."""
        self.cuts += 1
        self._cut.set()
        if not self.reset:
            self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            _shut(s)

    def restore(self, *, cut_again_after_bytes: int | None = None) -> None:
        """Relay again; with ``cut_again_after_bytes``, cut by itself once that much went upstream (mid-stream)."""
        self.upstream_bytes = 0
        self._cut_at = cut_again_after_bytes
        if self._cut.is_set() and not self.reset:
            self._listener = socket.create_server(("127.0.0.1", self.port))
            self._start_accepting()
        self._cut.clear()

    def live(self) -> int:
        with self._lock:
            return len(self._conns) // 2

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                self.refused += 1
                _shut(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._conns |= {client, server}
                self.connections += 1
            for src, dst, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), name="uplink-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while not self._cut.is_set() and (data := src.recv(65536)):
                dst.sendall(data)
                if upstream:
                    self.upstream_bytes += len(data)
                    if self._cut_at is not None and self.upstream_bytes >= self._cut_at:
                        self._cut_at = None
                        self.cut()
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns -= {src, dst}
            _shut(src)
            _shut(dst)


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
