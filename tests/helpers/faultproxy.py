"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, in front of one test server.

Every request is forwarded unchanged unless a :class:`Rule` matches it; the
rule's :class:`Fault` is then applied to that exchange: the connection reset
or closed after N body bytes, the response stalled, one byte flipped, or an
S3 error answered instead of forwarding. A rule has a budget (``times``), so
a test can fault the first K matching requests and let retries cure them.

    with FaultProxy(server.endpoint) as proxy:
        rule = proxy.add(Rule(Fault.RESET, at=MiB, method="GET", times=2))
        manager = CDNManager(creds_with_host(proxy.endpoint))
        ...
        assert rule.applied == 2

It also counts connections and requests in flight (``peak_connections``,
``peak_requests``), for tests of bounded concurrency, and all it has seen
(``total_connections``, ``total_requests``); records who signed each
request (``exchanges``); meters the request bodies it relays
(``request_bodies``: the rate a client really sends at); can cap the bytes
per second through it (``rate``), so a transfer lasts long enough to be
watched or interrupted; can serve TLS (``tls``) in front of a
plain-HTTP server; and tells when the server is done with everything sent
through it (``settle``), for a check that nothing happens afterwards.

Threads and plain sockets. It parses only what it must to find body offsets:
the request or status line, headers, and Content-Length, chunked or
read-until-close bodies. Every socket has a timeout and ``close()`` shuts
them all, so a client that goes away never leaves a thread behind.

Longer than most modules (about 650 lines) on purpose: the HTTP framing it
parses and the faults it injects share every body-offset calculation, and
each half would be unreadable without the other.
"""

from __future__ import annotations

import enum
import re
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from helpers.loopback import LoopbackServer

CHUNK = 256 * 1024
#: Bytes sent between two pauses when a rate is set.
PACE_CHUNK = 16 * 1024
#: Longest request or status line plus headers we accept.
MAX_HEAD = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/")


class Fault(enum.Enum):
    """What happens to a matched exchange."""

    #: TCP reset (RST) after ``at`` body bytes.
    RESET = "reset"
    #: Clean close (FIN) after ``at`` body bytes: the body is cut short.
    CUT = "cut"
    #: Nothing more is forwarded after ``at`` body bytes until the client gives
    #: up (or ``stall_seconds`` pass); then the connection is closed.
    STALL = "stall"
    #: The byte at body offset ``at`` is inverted; everything else passes.
    FLIP = "flip"
    #: The proxy answers 500 InternalError itself; the server never sees it.
    INTERNAL_ERROR = "500 InternalError"
    #: The proxy answers 503 SlowDown itself; the server never sees it.
    SLOW_DOWN = "503 SlowDown"
    #: The proxy refuses the request as badly signed (403), as an endpoint
    #: that does not accept some client's requests would.
    REFUSE = "403 SignatureDoesNotMatch"
    #: The proxy refuses the request as not allowed (403), as a key without
    #: the permission would be.
    DENY = "403 AccessDenied"
    #: The proxy answers 404 NoSuchUpload itself, as a server that lists an
    #: upload it cannot find again would.
    NO_SUCH_UPLOAD = "404 NoSuchUpload"
    #: The proxy answers 404 NoSuchKey itself, as a server still writing the
    #: object would.
    NO_SUCH_KEY = "404 NoSuchKey"


_ANSWERS = {
    Fault.INTERNAL_ERROR: (500, "Internal Server Error", "InternalError", "Please try again."),
    Fault.SLOW_DOWN: (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    Fault.REFUSE: (
        403,
        "Forbidden",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    ),
    Fault.DENY: (403, "Forbidden", "AccessDenied", "Access Denied"),
    Fault.NO_SUCH_UPLOAD: (
        404,
        "Not Found",
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
    ),
    Fault.NO_SUCH_KEY: (404, "Not Found", "NoSuchKey", "The specified key does not exist."),
}


@dataclass
class Rule:
    """Which requests to fault, how, and how often.

    A request matches when every given criterion holds. ``times`` is the
    budget (None: every matching request); the first ``skip`` matching
    requests pass untouched. ``matched`` counts the exchanges the rule could
    fault; ``applied`` those it did fault (counted as the fault goes out).
    """

    fault: Fault
    #: Body offset of the fault. For response faults, None means before the
    #: status line (RESET, CUT and STALL only); FLIP needs an offset.
    at: int | None = 0
    #: Apply ``at`` to the request body (an upload) instead of the response.
    in_request: bool = False
    #: Fault the response byte holding this offset of the *object*, found from
    #: Content-Range; responses not covering it do not match. Replaces ``at``.
    object_offset: int | None = None
    method: str | None = None
    #: True: only requests with a Range header; False: only without.
    ranged: bool | None = None
    #: Substring of the path, e.g. the object key.
    path: str | None = None
    #: Substring of the query string, e.g. "partNumber=" or "uploadId=".
    query: str | None = None
    #: Prefix of the User-Agent header, e.g. "cdn-manager/" or "Boto3/".
    user_agent: str | None = None
    #: A header the request must carry, e.g. "x-amz-copy-source" (a copy).
    header: str | None = None
    times: int | None = None
    skip: int = 0
    stall_seconds: float = 30.0
    matched: int = 0
    applied: int = 0

    def __post_init__(self) -> None:
        answers = self.fault in _ANSWERS
        if self.in_request and (answers or self.at is None or self.object_offset is not None):
            raise ValueError("request faults need a body offset `at` and a body fault")
        if self.at is None and self.fault is Fault.FLIP and self.object_offset is None:
            raise ValueError("FLIP needs an offset")

    def matches(self, request: Request) -> bool:
        return (
            (self.method is None or request.method == self.method)
            and (self.ranged is None or (request.header("range") is not None) == self.ranged)
            and (self.path is None or self.path in request.path)
            and (self.query is None or self.query in request.query)
            and (
                self.user_agent is None
                or (request.header("user-agent") or "").startswith(self.user_agent)
            )
            and (self.header is None or request.header(self.header) is not None)
        )


@dataclass
class Head:
    """The first line and headers of a request or response."""

    line: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def encode(self, drop: tuple[str, ...] = ()) -> bytes:
        lines = [self.line] + [f"{k}: {v}" for k, v in self.headers if k.lower() not in drop]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def framing(self) -> int | None:
        """The body length, or -1 for chunked, or None if not announced."""
        if "chunked" in (self.header("transfer-encoding") or "").lower():
            return -1
        length = self.header("content-length")
        return int(length) if length is not None else None

    def wants_close(self) -> bool:
        return (self.header("connection") or "").lower() == "close"


@dataclass
class Request(Head):
    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return urlsplit(self.line.split(" ")[1]).path

    @property
    def query(self) -> str:
        return urlsplit(self.line.split(" ")[1]).query


@dataclass
class Exchange:
    """One request seen by the proxy, for assertions and debugging."""

    method: str
    target: str
    range: str | None
    #: The Authorization and User-Agent headers as sent (who signed the
    #: request, and which HTTP stack sent it).
    authorization: str | None = None
    user_agent: str | None = None
    fault: Fault | None = None
    status: int | None = None
    #: Whether the request, body included, reached the server in full.
    relayed: bool = False


@dataclass
class Flow:
    """Body bytes relayed, and when the first and the last passed."""

    bytes: int = 0
    first: float = 0.0
    last: float = 0.0

    @property
    def rate(self) -> float:
        """Bytes per second between the first body byte and the last."""
        return self.bytes / (self.last - self.first)


class _Closed(Exception):
    """The peer closed the connection mid-message."""


class _Ended(Exception):
    """A fault ended the exchange; the connection is gone."""


class _Stream:
    """Buffered reads from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(CHUNK)
        self.buf += data
        return bool(data)

    def read_head(self, kind: type[Head]) -> Head | None:
        """The next message head; None if the peer closed between messages."""
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise _Closed("head too long")
            if not self._fill():
                if self.buf:
                    raise _Closed("closed inside a head")
                return None
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:])]
        return kind(lines[0], headers)

    def read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes; b"" once the peer has closed."""
        if not self.buf and not self._fill():
            return b""
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data

    def read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_HEAD or not self._fill():
                raise _Closed("closed inside a chunk header")
        line = bytes(self.buf[: end + 2])
        del self.buf[: end + 2]
        return line


class _Tap:
    """Relays a body, applying one fault at one payload offset."""

    def __init__(self, fault: Fault | None, at: int | None, applied: Callable[[], None]) -> None:
        self.fault, self.at, self.applied = fault, at, applied
        self.offset = 0

    def forward(self, data: bytes, send: Callable[[bytes], None]) -> None:
        start, self.offset = self.offset, self.offset + len(data)
        at = self.at
        if self.fault is None or at is None or not start <= at < self.offset:
            send(data)
            return
        if self.fault is Fault.FLIP:
            flipped = bytearray(data)
            flipped[at - start] ^= 0xFF
            self.applied()
            send(bytes(flipped))
            return
        send(data[: at - start])
        raise _Ended(self.fault)


def _relay(source: _Stream, send: Callable[[bytes], None], length: int | None, tap: _Tap) -> None:
    """Copies one body (``length`` as :meth:`Head.framing`; None reads to EOF)."""

    def payload(remaining: int | None) -> None:
        while remaining is None or remaining > 0:
            data = source.read_some(CHUNK if remaining is None else min(CHUNK, remaining))
            if not data:
                if remaining is None:
                    return
                raise _Closed(f"closed with {remaining} body bytes to go")
            tap.forward(data, send)
            if remaining is not None:
                remaining -= len(data)

    if length != -1:
        payload(length)
        return
    while True:
        line = source.read_line()
        send(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while (trailer := source.read_line()) != b"\r\n":
                send(trailer)
            send(trailer)
            return
        payload(size)
        send(source.read_line())


def _error_answer(fault: Fault, request: Request) -> bytes:
    status, phrase, code, message = _ANSWERS[fault]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{request.path}</Resource><RequestId>faultproxy</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head if request.method == "HEAD" else head + body


def _has_body(request: Request, status: int) -> bool:
    return request.method != "HEAD" and status >= 200 and status not in (204, 304)


def _offset(rule: Rule, request: Request, response: Head | None) -> tuple[bool, int | None]:
    """Whether ``rule`` can fault this exchange at this stage, and where."""
    if rule.fault in _ANSWERS or rule.in_request:
        if response is not None:
            return False, None
        if rule.fault in _ANSWERS:
            return True, None
        length = request.framing()
        return length == -1 or (length or 0) > (rule.at or 0), rule.at
    if response is None:
        return False, None
    if rule.at is None and rule.object_offset is None:
        return True, None  # before the head
    status = int(response.line.split()[1])
    length = response.framing() if _has_body(request, status) else 0
    if length is None or length == -1:  # no length known: trust the offset
        return rule.object_offset is None, rule.at
    at = rule.at
    if rule.object_offset is not None:
        found = _CONTENT_RANGE.match(response.header("content-range") or "")
        first = int(found.group(1)) if status == 206 and found else 0
        if status not in (200, 206) or (status == 206 and not found):
            return False, None
        at = rule.object_offset - first
    return at is not None and 0 <= at < length, at


class FaultProxy(LoopbackServer):
    """A proxy on 127.0.0.1 (a free port) in front of ``upstream``
    (``http://host:port``). ``rate`` caps the body bytes per second through
    it (all connections, both directions); ``tls`` makes it serve HTTPS with
    that server-side context. Use as a context manager or call :meth:`close`."""

    def __init__(
        self, upstream: str, rate: int | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__("faultproxy")
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port, upstream
        self.upstream = (parts.hostname, parts.port)
        self.rules: list[Rule] = []
        self.exchanges: list[Exchange] = []
        self.active_connections = self.peak_connections = self.total_connections = 0
        self.active_requests = self.peak_requests = self.total_requests = 0
        #: Body bytes relayed: request bodies (uploads), and response bodies
        #: (downloads) as they go out to the client. A response's rate is not
        #: what the client reads: bytes may wait in socket buffers, and a
        #: response the client closes early was never read.
        self.request_bodies = Flow()
        self.response_bodies = Flow()
        self._rate = rate
        self._next_send = time.monotonic()
        self._tls = tls
        self.endpoint = f"{'https' if tls else 'http'}://{self.address}"
        self._start()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Removes every rule: from now on everything passes through."""
        with self._lock:
            self.rules.clear()

    def faulted(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.fault is not None]

    def settle(self, timeout: float = 60.0) -> None:
        """Returns once the server is done with everything sent through the
        proxy so far, for a check that nothing happens afterwards (an
        object that must never appear) to look once, not for a while. Call
        it once the clients are gone (their process has exited).

        Every connection made before the call has ended (even one its client
        made just before it exited, whose request the proxy then reads from
        the socket's buffer), and every request the server got in full was
        answered: S3 commits before it answers. A request cut short never
        reached the server in full, and the proxy closed that connection,
        so the server cannot commit it. Fails if the server left a request
        unanswered (closed, or outwaited the proxy's socket timeout): then
        it might still act on it."""
        self.wait_until_idle(timeout)
        with self._lock:
            unanswered = [e for e in self.exchanges if e.relayed and e.status is None]
        assert not unanswered, f"the server never answered {unanswered}"

    # Plumbing.

    def _paced(self, send: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``send``, slowed so that all paced sends together keep to ``rate``."""
        rate = self._rate
        if rate is None:
            return send

        def paced(data: bytes) -> None:
            for start in range(0, len(data), PACE_CHUNK):
                piece = data[start : start + PACE_CHUNK]
                with self._lock:
                    now = time.monotonic()
                    at = self._next_send = max(self._next_send, now) + len(piece) / rate
                time.sleep(max(0.0, at - now - len(piece) / rate))
                send(piece)

        return paced

    def _metered(self, flow: Flow, send: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``send``, adding what it sends to ``flow``."""

        def metered(data: bytes) -> None:
            send(data)
            with self._lock:
                flow.last = time.monotonic()
                if flow.bytes == 0:
                    flow.first = flow.last
                flow.bytes += len(data)

        return metered

    def _count(self, what: str, delta: int) -> None:
        with self._lock:
            active = getattr(self, f"active_{what}") + delta
            setattr(self, f"active_{what}", active)
            if delta > 0:
                setattr(self, f"total_{what}", getattr(self, f"total_{what}") + delta)
            if active > getattr(self, f"peak_{what}"):
                setattr(self, f"peak_{what}", active)

    def _take(
        self, request: Request, response: Head | None = None
    ) -> tuple[Rule, int | None] | None:
        """The rule that faults this exchange, and its body offset; consumes
        budget. Answers and request faults are chosen from the request alone
        (``response`` None), response faults once the response head is known.
        A rule only counts exchanges it can fault: its offset inside the body."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(request):
                    continue
                fits, at = _offset(rule, request, response)
                if not fits:
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.times is not None and rule.matched > rule.skip + rule.times:
                    continue
                return rule, at
        return None

    def _applied(self, rule: Rule) -> Callable[[], None]:
        def mark() -> None:
            with self._lock:
                rule.applied += 1

        return mark

    def _serve(self, client: socket.socket) -> None:
        self._count("connections", 1)
        if self._tls is not None:
            raw = client
            try:
                client = self._track(self._tls.wrap_socket(raw, server_side=True))
            except OSError:  # ssl.SSLError included: a client refusing our certificate
                self._drop(raw)
                self._count("connections", -1)
                return
            with self._lock:
                self._sockets.discard(raw)
        session = _Session(self, client)
        try:
            while session.exchange():
                pass
        except (OSError, _Closed, _Ended):
            pass
        except Exception as err:  # a bug in the proxy: make the test see it
            self.errors.append(f"{type(err).__name__}: {err}")
        finally:
            self._drop(session.upstream)
            self._drop(client)
            self._count("connections", -1)

    def _stall(self, client: socket.socket, seconds: float) -> None:
        """Holds the exchange until the client gives up, ``seconds`` pass or
        the proxy closes; bytes the client still sends are discarded."""
        deadline = time.monotonic() + seconds
        while not self._closing.is_set() and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([client], [], [], min(left, 0.1))
            if readable and not client.recv(CHUNK):
                return


class _Session:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.from_client = _Stream(client)
        self.upstream: socket.socket | None = None
        self.from_upstream: _Stream | None = None

    def _end(self, rule: Rule, fault: Fault) -> None:
        """Ends the connection the way ``fault`` says; raises :class:`_Ended`."""
        self.proxy._applied(rule)()
        if fault is Fault.STALL:
            self.proxy._stall(self.client, rule.stall_seconds)
        self.proxy._drop(self.upstream)
        self.upstream = None
        self.proxy._drop(self.client, reset=fault is Fault.RESET)
        raise _Ended(fault)

    def exchange(self) -> bool:
        """Relays one request and its response; False when the connection ends."""
        request = self.from_client.read_head(Request)
        if request is None:
            return False
        assert isinstance(request, Request)
        proxy = self.proxy
        record = Exchange(
            request.method,
            request.line.split(" ")[1],
            request.header("range"),
            request.header("authorization"),
            request.header("user-agent"),
        )
        with proxy._lock:
            proxy.exchanges.append(record)
        proxy._count("requests", 1)
        try:
            return self._exchange(request, record)
        finally:
            proxy._count("requests", -1)

    def _exchange(self, request: Request, record: Exchange) -> bool:
        proxy = self.proxy
        picked = proxy._take(request)
        rule, at = picked if picked else (None, None)
        if rule is not None:
            record.fault = rule.fault
        expects = (request.header("expect") or "").lower() == "100-continue"
        request_length = request.framing() or 0

        if rule is not None and rule.fault in _ANSWERS:
            if not expects:  # read the body first, so the client sees the answer, not a reset
                _relay(self.from_client, lambda _: None, request_length, _Tap(None, None, _noop))
            proxy._applied(rule)()
            self.client.sendall(_error_answer(rule.fault, request))
            record.status = _ANSWERS[rule.fault][0]
            return False

        if expects:  # answered here; the server gets the body without asking
            self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.upstream is None:
            sock = socket.create_connection(proxy.upstream, timeout=10)
            self.upstream = proxy._track(sock)
            self.from_upstream = _Stream(sock)
        upstream, from_upstream = self.upstream, self.from_upstream
        assert from_upstream is not None
        upstream.sendall(request.encode(drop=("expect",)))
        tap = _Tap(None, None, _noop)
        if rule is not None and rule.in_request:
            tap = _Tap(rule.fault, at, proxy._applied(rule))
        try:
            send = proxy._metered(proxy.request_bodies, upstream.sendall)
            _relay(self.from_client, proxy._paced(send), request_length, tap)
        except _Ended:
            assert rule is not None
            self._end(rule, rule.fault)
        record.relayed = True

        response = from_upstream.read_head(Head)
        while response is not None and response.line.split()[1].startswith("1"):
            response = from_upstream.read_head(Head)
        if response is None:
            raise _Closed("server closed without answering")
        status = int(response.line.split()[1])
        record.status = status
        if rule is None and (picked := proxy._take(request, response)):
            rule, at = picked
            record.fault = rule.fault
        if rule is not None and not rule.in_request and at is None:
            self._end(rule, rule.fault)
        self.client.sendall(response.encode())
        tap = _Tap(None, None, _noop)
        if rule is not None and not rule.in_request:
            tap = _Tap(rule.fault, at, proxy._applied(rule))
        length = response.framing() if _has_body(request, status) else 0
        try:
            send = proxy._metered(proxy.response_bodies, self.client.sendall)
            _relay(from_upstream, proxy._paced(send), length, tap)
        except _Ended:
            assert rule is not None
            self._end(rule, rule.fault)
        return not (request.wants_close() or response.wants_close() or length is None)


def _noop() -> None:
    pass
