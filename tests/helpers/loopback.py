"""What every loopback test server here shares: a listener on a free
127.0.0.1 port, a thread per connection, and a ``close()`` that shuts every
socket and waits for every thread, so a client that goes away never leaves a
thread behind and a test can check that nothing inside broke (``errors``);
and :meth:`wait_until_idle` tells when every connection made so far has
been served to its end."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

#: Safety net: no socket operation waits longer than this.
SOCKET_TIMEOUT = 120.0


class LoopbackServer:
    """Accepts connections and hands each to :meth:`_serve` on a thread of
    its own; subclasses implement :meth:`_serve`."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: Unexpected exceptions inside the server (a test should see none).
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        #: The peer address of each connection accepted, in order, and how
        #: many connections have been served to their end.
        self.accepted: list[tuple[str, int]] = []
        self.ended = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        #: ``127.0.0.1:port``.
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _start(self) -> None:
        """Starts accepting (once the subclass is fully set up)."""
        self._spawn(self._accept_loop)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops accepting, drops every connection and waits for the threads."""
        self._closing.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(10)
            if thread.is_alive():
                self.errors.append(f"{thread.name} still running after close")
        self._listener.close()

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Returns once every connection made to this server before the call
        has been served to its end (its thread is done with both sockets).

        A connection the client made just before it went away may still
        wait in the listen queue: this call makes one of its own, which the
        kernel queues after all of those (accept takes them in order), so
        once it is accepted every earlier one was accepted and counted;
        then it waits until as many have ended as were accepted."""
        deadline = time.monotonic() + timeout

        def wait(condition: Callable[[], bool], what: str) -> None:
            while not condition():
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: timed out waiting for {what}")
                time.sleep(0.02)  # polling interval; the deadline is the safety net

        host, port = self.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=timeout) as barrier:
            me = barrier.getsockname()[:2]
            wait(lambda: me in self.accepted, "its own connection to be accepted")
        wait(lambda: self.ended == len(self.accepted), "every connection to end")

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=self.name)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(SOCKET_TIMEOUT)
        with self._lock:
            self._sockets.add(sock)
        if self._closing.is_set():  # close() may have missed it
            sock.shutdown(socket.SHUT_RDWR)
        return sock

    def _drop(self, sock: socket.socket | None, reset: bool = False) -> None:
        """Closes ``sock``; ``reset`` sends a TCP RST instead of a FIN."""
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted.append(peer[:2])
            self._spawn(self._serve_counted, self._track(client))

    def _serve_counted(self, client: socket.socket) -> None:
        try:
            self._serve(client)
        finally:
            with self._lock:
                self.ended += 1
