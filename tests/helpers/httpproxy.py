"""A forward HTTP proxy on 127.0.0.1, counting what it carried.

It serves both ways clients use a proxy:

- ``CONNECT host:port``: a TCP tunnel, whatever runs inside (ureq uses it for
  every target; botocore for https targets);
- absolute-form requests (``GET http://host:port/path HTTP/1.1``): forwarded
  to ``host:port`` in origin form (botocore, for http targets).

With ``credentials`` it requires ``Proxy-Authorization: Basic ...`` and
answers 407 otherwise. ``tunnels`` lists the ``host:port`` of each tunnel
opened, ``forwarded`` the ``METHOD url`` of each forwarded request.

    with HttpProxy() as proxy:
        config = TransferConfig(proxies={"http": proxy.url})
        ...
        assert proxy.tunnels

Threads and plain sockets, in the style of ``faultproxy.py`` (whose message
parsing it reuses); every socket has a timeout and ``close()`` shuts them.
"""

from __future__ import annotations

import base64
import select
import socket
from urllib.parse import urlsplit

from helpers.faultproxy import (
    Head,
    Request,
    _Closed,
    _has_body,
    _noop,
    _relay,
    _Stream,
    _Tap,
)
from helpers.loopback import LoopbackServer

#: Hop-by-hop headers a proxy does not pass on (and ``expect``, answered here).
_HOP_BY_HOP = ("proxy-authorization", "proxy-connection", "connection", "keep-alive", "expect")


class HttpProxy(LoopbackServer):
    """A proxy on a free loopback port; ``url`` is what clients configure
    (with the user and password in it when ``credentials`` are required)."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__("httpproxy")
        self.tunnels: list[str] = []
        self.forwarded: list[str] = []
        #: Requests answered 407 (missing or wrong credentials).
        self.refused = 0
        self._credentials = credentials
        userinfo = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        self.url = f"http://{userinfo}{self.address}"
        self._start()

    def _authorized(self, request: Head) -> bool:
        if self._credentials is None:
            return True
        token = base64.b64encode(":".join(self._credentials).encode()).decode()
        return request.header("proxy-authorization") == f"Basic {token}"

    def _serve(self, client: socket.socket) -> None:
        session = _Session(self, client)
        try:
            while session.exchange():
                pass
        except (OSError, _Closed):
            pass
        except Exception as err:  # a bug in the proxy: make the test see it
            self.errors.append(f"{type(err).__name__}: {err}")
        finally:
            self._drop(session.upstream)
            self._drop(client)


class _Session:
    """One client connection: a tunnel, or a series of forwarded requests."""

    def __init__(self, proxy: HttpProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.from_client = _Stream(client)
        self.upstream: socket.socket | None = None
        self.upstream_address: tuple[str, int] | None = None
        self.from_upstream: _Stream | None = None

    def exchange(self) -> bool:
        """Serves one request; False when the connection is done."""
        request = self.from_client.read_head(Request)
        if request is None:
            return False
        assert isinstance(request, Request)
        method, target = request.method, request.line.split(" ")[1]
        if not self.proxy._authorized(request):
            with self.proxy._lock:
                self.proxy.refused += 1
            _relay(self.from_client, _discard, request.framing() or 0, _Tap(None, None, _noop))
            self.client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            return True
        if method == "CONNECT":
            self._tunnel(target)
            return False
        return self._forward(request, target)

    def _tunnel(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        upstream = self.proxy._track(socket.create_connection((host, int(port)), timeout=10))
        self.upstream = upstream
        with self.proxy._lock:
            self.proxy.tunnels.append(target)
        self.client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        # Bytes the client sent right after its CONNECT head.
        if self.from_client.buf:
            upstream.sendall(bytes(self.from_client.buf))
            self.from_client.buf.clear()
        ends = {self.client: upstream, upstream: self.client}
        while not self.proxy._closing.is_set():
            readable, _, _ = select.select(list(ends), [], [], 0.2)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                ends[sock].sendall(data)

    def _forward(self, request: Request, target: str) -> bool:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise _Closed(f"not an absolute http URL: {target}")
        address = (parts.hostname, parts.port or 80)
        if self.upstream is None or self.upstream_address != address:
            self.proxy._drop(self.upstream)
            self.upstream = self.proxy._track(socket.create_connection(address, timeout=10))
            self.upstream_address = address
            self.from_upstream = _Stream(self.upstream)
        upstream, from_upstream = self.upstream, self.from_upstream
        assert from_upstream is not None
        with self.proxy._lock:
            self.proxy.forwarded.append(f"{request.method} {target}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        version = request.line.split(" ")[2]
        origin_form = Head(f"{request.method} {path} {version}", request.headers)
        if (request.header("expect") or "").lower() == "100-continue":
            self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        upstream.sendall(origin_form.encode(drop=_HOP_BY_HOP))
        _relay(self.from_client, upstream.sendall, request.framing() or 0, _Tap(None, None, _noop))

        response = from_upstream.read_head(Head)
        while response is not None and response.line.split()[1].startswith("1"):
            self.client.sendall(response.encode())
            response = from_upstream.read_head(Head)
        if response is None:
            raise _Closed("server closed without answering")
        status = int(response.line.split()[1])
        self.client.sendall(response.encode())
        length = response.framing() if _has_body(request, status) else 0
        _relay(from_upstream, self.client.sendall, length, _Tap(None, None, _noop))
        return not (request.wants_close() or response.wants_close() or length is None)


def _discard(data: bytes) -> None:
    pass
