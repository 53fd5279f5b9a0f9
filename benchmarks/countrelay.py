"""A TCP relay on 127.0.0.1 that counts the bytes each way: the tree
workloads (W5-W8) send every client through it to report what each tool
sent and received.

It forwards bytes and parses nothing, so it costs one copy per byte (in the
bench's own process, not in the measured client's). The tests' fault proxy
(tests/helpers/faultproxy.py) is not reused: it parses HTTP framing to inject
faults, which a counter does not need, and it imports the tests' helpers.
"""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 256 * 1024


class CountingRelay:
    """Listens from construction until ``close()``; clients connect to
    ``relay.endpoint``; ``relay.take()`` returns (bytes up, bytes down) since
    the last call and starts counting again."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._up = 0
        self._down = 0
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._open:
                sock.close()

    def take(self) -> tuple[int, int]:
        with self._lock:
            counted = (self._up, self._down)
            self._up = self._down = 0
        return counted

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pumps = [2]  # the last of the two to finish closes both sockets
            with self._lock:
                self._open.update((client, server))
            for args in ((client, server, True, pumps), (server, client, False, pumps)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool, pumps: list[int]) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            while n := source.recv_into(buffer):
                sink.sendall(view[:n])
                with self._lock:
                    if up:
                        self._up += n
                    else:
                        self._down += n
        except OSError:
            pass
        finally:
            # Pass the end of the stream on: the other direction may still
            # be sending.
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            with self._lock:
                pumps[0] -= 1
                last = pumps[0] == 0
                if last:
                    self._open.difference_update((source, sink))
            if last:
                source.close()
                sink.close()
