"""A loopback TCP proxy that caps the bytes per second through it, so a
transfer lasts long enough to be watched or interrupted halfway."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

CHUNK = 64 * 1024


class ThrottledProxy:
    """Forwards ``127.0.0.1:<port>`` to the HTTP ``endpoint``, at most
    ``rate`` bytes per second in total (both directions, all connections)."""

    def __init__(self, endpoint: str, rate: int) -> None:
        target = urlsplit(endpoint)
        self._target = (target.hostname or "127.0.0.1", target.port or 80)
        self._rate = rate
        self._next = time.monotonic()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pace(self, n: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self._rate
        time.sleep(start - now)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(CHUNK):
                self._pace(len(data))
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for sock in (src, dst):
                sock.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
