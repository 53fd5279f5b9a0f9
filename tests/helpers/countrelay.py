"""A TCP relay on 127.0.0.1 that counts the bytes it hands on toward the
client, and when: what a limited download really takes off the wire.

It parses nothing (as ``benchmarks/countrelay.py``). Its sockets toward the
client keep a small send buffer (``SEND_BUFFER``), so a byte counted is one
the client's side has taken, not one parked in the relay's own buffer,
which Linux would otherwise grow to megabytes per connection.

    with CountingRelay(server.endpoint) as relay:
        ... host=relay.endpoint ...
        relay.down.rate  # bytes per second, first to last byte
"""

from __future__ import annotations

import contextlib
import socket
import time
from urllib.parse import urlsplit

from helpers.faultproxy import Flow
from helpers.loopback import LoopbackServer

CHUNK = 64 * 1024
#: The relay's send buffer toward the client (Linux doubles it).
SEND_BUFFER = 32 * 1024


class CountingRelay(LoopbackServer):
    """Relays every connection to ``upstream`` (``http://host:port``);
    ``down`` is the flow toward the clients, all connections together."""

    def __init__(self, upstream: str) -> None:
        super().__init__("countrelay")
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port, upstream
        self.upstream = (parts.hostname, parts.port)
        self.down = Flow()
        self.endpoint = f"http://{self.address}"
        self._start()

    def _serve(self, client: socket.socket) -> None:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        server = self._track(socket.create_connection(self.upstream, timeout=10))
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._spawn(self._pump, client, server, False)
        self._pump(server, client, True)
        # The server is done with this connection: so is the client.
        self._drop(server)
        self._drop(client)

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            while n := source.recv_into(buffer):
                sink.sendall(view[:n])
                if counted:
                    with self._lock:
                        self.down.last = time.monotonic()
                        if self.down.bytes == 0:
                            self.down.first = self.down.last
                        self.down.bytes += n
        except OSError:
            pass
        finally:
            # The end of the stream goes on: the other way may still be busy.
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
