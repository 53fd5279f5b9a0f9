"""The fault proxy itself: each fault does exactly what the fault tests rely on,
seen from a plain HTTP client (urllib3) in front of moto."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import BUCKET, MiB, Server, StartProxy, admin_client
from helpers.faultproxy import Fault, FaultProxy, Rule

DATA = os.urandom(3 * MiB + 11)
KEY = "proxy/object.bin"
PATH = f"/{BUCKET}/{KEY}"


@pytest.fixture(scope="module")
def stored(moto_server: Server) -> Server:
    # Public, so a plain unsigned client can read it through the proxy.
    moto_server.admin.put_object(Bucket=BUCKET, Key=KEY, Body=DATA, ACL="public-read")
    return moto_server


@pytest.fixture
def proxy(stored: Server, fault_proxy: StartProxy) -> FaultProxy:
    return fault_proxy(stored)


def fetch(
    proxy: FaultProxy,
    path: str = PATH,
    method: str = "GET",
    read_timeout: float = 10.0,
    **kwargs: Any,
) -> tuple[int, bytes, Exception | None]:
    """Status, the body bytes received, and the error that ended the body."""
    timeout = urllib3.Timeout(connect=2, read=read_timeout)
    with urllib3.PoolManager(retries=False, timeout=timeout) as http:
        response = http.request(method, proxy.endpoint + path, preload_content=False, **kwargs)
        received = bytearray()
        try:
            for chunk in response.stream(64 * 1024):
                received += chunk
        except (urllib3.exceptions.HTTPError, OSError) as err:
            return response.status, bytes(received), err
        return response.status, bytes(received), None


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_unmatched_requests_pass_through_unchanged(proxy: FaultProxy) -> None:
    assert fetch(proxy) == (200, DATA, None)
    assert fetch(proxy, headers={"Range": "bytes=100-199"}) == (206, DATA[100:200], None)
    client = admin_client(proxy.endpoint)
    client.put_object(Bucket=BUCKET, Key="proxy/put.bin", Body=DATA)
    assert client.get_object(Bucket=BUCKET, Key="proxy/put.bin")["Body"].read() == DATA
    assert [e.fault for e in proxy.exchanges] == [None] * 4


def test_flip_inverts_exactly_one_byte_at_the_offset(proxy: FaultProxy) -> None:
    rule = proxy.add(Rule(Fault.FLIP, at=2 * MiB + 3))
    status, body, error = fetch(proxy)
    assert (status, error, len(body)) == (200, None, len(DATA))
    assert [i for i in range(len(DATA)) if body[i] != DATA[i]] == [2 * MiB + 3]
    assert body[2 * MiB + 3] == DATA[2 * MiB + 3] ^ 0xFF
    assert rule.applied == 1


def raw_get(proxy: FaultProxy, timeout: float = 5.0) -> tuple[bytes, bytes, str]:
    """A GET on a bare socket: the response head, every body byte that
    arrived, and how the connection ended ("eof", "reset" or "timeout")."""
    host, port = proxy.endpoint.removeprefix("http://").split(":")
    received = bytearray()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        try:
            while data := sock.recv(64 * 1024):
                received += data
            ending = "eof"
        except ConnectionResetError:
            ending = "reset"
        except TimeoutError:
            ending = "timeout"
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    return head, body, ending


def test_cut_closes_after_exactly_n_body_bytes(proxy: FaultProxy) -> None:
    rule = proxy.add(Rule(Fault.CUT, at=MiB + 1))
    head, body, ending = raw_get(proxy)
    assert head.startswith(b"HTTP/1.1 200")
    assert (body, ending) == (DATA[: MiB + 1], "eof")
    assert rule.applied == 1
    # An HTTP client sees a body shorter than its Content-Length.
    _, _, error = fetch(proxy)
    assert isinstance(error, urllib3.exceptions.ProtocolError)
    assert "IncompleteRead" in repr(error)


def test_reset_breaks_the_connection_mid_body(proxy: FaultProxy) -> None:
    rule = proxy.add(Rule(Fault.RESET, at=MiB))
    head, body, ending = raw_get(proxy)
    assert head.startswith(b"HTTP/1.1 200")
    assert ending == "reset"
    assert body == DATA[: len(body)]
    assert len(body) <= MiB
    assert rule.applied == 1


def test_reset_before_the_head_leaves_the_client_without_an_answer(proxy: FaultProxy) -> None:
    proxy.add(Rule(Fault.RESET, at=None))
    assert raw_get(proxy) == (b"", b"", "reset")


def test_stall_holds_the_body_until_the_client_gives_up(proxy: FaultProxy) -> None:
    rule = proxy.add(Rule(Fault.STALL, at=1000, stall_seconds=60))
    started = time.monotonic()
    head, body, ending = raw_get(proxy, timeout=0.5)
    assert head.startswith(b"HTTP/1.1 200")
    assert (body, ending) == (DATA[:1000], "timeout")
    assert rule.applied == 1
    # The proxy lets go as soon as the client hangs up, not after 60 s.
    assert wait_until(lambda: proxy.active_connections == 0)
    assert time.monotonic() - started < 10


def test_stall_before_the_head_is_a_read_timeout(proxy: FaultProxy) -> None:
    proxy.add(Rule(Fault.STALL, at=None))
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        fetch(proxy, read_timeout=0.5)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [(Fault.INTERNAL_ERROR, 500, "InternalError"), (Fault.SLOW_DOWN, 503, "SlowDown")],
)
def test_error_answers_are_s3_errors_that_never_reach_the_server(
    proxy: FaultProxy, stored: Server, fault: Fault, status: int, code: str
) -> None:
    rule = proxy.add(Rule(fault, method="PUT"))
    client = admin_client(proxy.endpoint, attempts=1)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=BUCKET, Key="proxy/refused.bin", Body=b"x" * 100_000)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert rule.applied == 1
    listed = stored.admin.list_objects_v2(Bucket=BUCKET, Prefix="proxy/refused")
    assert listed["KeyCount"] == 0


def test_budget_and_skip_choose_which_matching_requests_fault(proxy: FaultProxy) -> None:
    rule = proxy.add(Rule(Fault.FLIP, at=0, skip=1, times=2))
    bodies = [fetch(proxy)[1] for _ in range(4)]
    assert [body == DATA for body in bodies] == [True, False, False, True]
    assert (rule.matched, rule.applied) == (4, 2)


def test_rules_match_method_range_and_query(proxy: FaultProxy) -> None:
    proxy.add(Rule(Fault.INTERNAL_ERROR, method="GET", ranged=True))
    proxy.add(Rule(Fault.SLOW_DOWN, method="GET", query="partNumber="))
    proxy.add(Rule(Fault.INTERNAL_ERROR, method="HEAD", path="/other"))
    assert fetch(proxy)[0] == 200
    assert fetch(proxy, method="HEAD")[0] == 200
    assert fetch(proxy, headers={"Range": "bytes=0-9"})[0] == 500
    assert fetch(proxy, PATH + "?partNumber=1")[0] == 503
    assert fetch(proxy, f"/{BUCKET}/other", method="HEAD")[0] == 500


def test_object_offset_faults_whichever_response_covers_it(proxy: FaultProxy) -> None:
    offset = 2 * MiB + 5
    rule = proxy.add(Rule(Fault.FLIP, object_offset=offset))
    low = fetch(proxy, headers={"Range": f"bytes=0-{MiB - 1}"})[1]
    high = fetch(proxy, headers={"Range": f"bytes={2 * MiB}-{3 * MiB - 1}"})[1]
    whole = fetch(proxy)[1]
    assert low == DATA[:MiB]
    assert [i for i, (a, b) in enumerate(zip(high, DATA[2 * MiB :], strict=False)) if a != b] == [5]
    assert [i for i in range(len(DATA)) if whole[i] != DATA[i]] == [offset]
    assert rule.applied == 2


def test_request_faults_apply_to_the_uploaded_body(proxy: FaultProxy, stored: Server) -> None:
    client = admin_client(proxy.endpoint, attempts=1)
    # moto verifies no checksum: the flipped byte is stored as sent.
    flip = proxy.add(Rule(Fault.FLIP, in_request=True, at=MiB + 7, path="/flipped"))
    body = bytes(2 * MiB)
    client.put_object(Bucket=BUCKET, Key="proxy/flipped", Body=body, ACL="public-read")
    stored_body = fetch(proxy, f"/{BUCKET}/proxy/flipped")[1]
    assert [i for i in range(len(body)) if stored_body[i] != body[i]] == [MiB + 7]
    assert flip.applied == 1
    # A body cut off midway never becomes an object.
    proxy.add(Rule(Fault.RESET, in_request=True, at=MiB, path="/reset"))
    with pytest.raises(Exception, match=r"(?i)connection|reset|closed|broken"):
        client.put_object(Bucket=BUCKET, Key="proxy/reset", Body=body)
    listed = stored.admin.list_objects_v2(Bucket=BUCKET, Prefix="proxy/reset")
    assert listed["KeyCount"] == 0


class _ChunkedEcho(BaseHTTPRequestHandler):
    """Answers a chunked PUT with its body, chunked in 1000-byte pieces."""

    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        body = bytearray()
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 1000):
            piece = body[i : i + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_proxy() -> Iterator[FaultProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedEcho)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with FaultProxy(f"http://127.0.0.1:{server.server_address[1]}") as proxy:
        yield proxy
    server.shutdown()
    server.server_close()
    assert proxy.errors == []


def test_chunked_bodies_are_relayed_and_faulted_at_payload_offsets(echo_proxy: FaultProxy) -> None:
    payload = os.urandom(10_000)
    pieces = [payload[i : i + 3000] for i in range(0, len(payload), 3000)]
    assert fetch(echo_proxy, "/echo", method="PUT", body=iter(pieces), chunked=True) == (
        200,
        payload,
        None,
    )
    for rule in (Rule(Fault.FLIP, at=1500, times=1), Rule(Fault.FLIP, at=4500, in_request=True)):
        echo_proxy.clear()
        echo_proxy.add(rule)
        _, body, _ = fetch(echo_proxy, "/echo", method="PUT", body=iter(pieces), chunked=True)
        assert [i for i in range(len(payload)) if body[i] != payload[i]] == [rule.at]


def test_counts_connections_and_requests_in_flight(proxy: FaultProxy) -> None:
    proxy.add(Rule(Fault.STALL, at=0, stall_seconds=1.0))
    threads = [threading.Thread(target=fetch, args=(proxy,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (proxy.peak_connections, proxy.peak_requests) == (4, 4)
    assert wait_until(lambda: proxy.active_connections == proxy.active_requests == 0)


def test_clients_vanishing_mid_exchange_leave_nothing_running(proxy: FaultProxy) -> None:
    host, port = proxy.endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as half_request:
        half_request.sendall(b"PUT /x/y HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
    with socket.create_connection((host, int(port))) as no_reader:
        no_reader.sendall(f"GET {PATH} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        no_reader.recv(10)
    with socket.create_connection((host, int(port))):
        pass
    assert wait_until(lambda: proxy.active_connections == 0)
    started = time.monotonic()
    proxy.close()
    assert time.monotonic() - started < 2
    assert proxy.errors == []


def test_settle_returns_once_the_server_answered_what_a_gone_client_sent(
    stored: Server,
) -> None:
    """A client that sends a whole PUT and goes away without its answer:
    the proxy (paced: the body takes ~0.5 s) still relays it from the
    socket's buffer, and ``settle`` returns only once the server has
    answered, so a check after it sees the object; one cut short is never
    relayed in full and the server is not waited for."""
    body = os.urandom(4 * MiB)
    with FaultProxy(stored.endpoint, rate=8 * MiB) as proxy:
        host, port = proxy.address.split(":")
        for key, sent in (("proxy/whole.bin", body), ("proxy/cut.bin", body[:MiB])):
            with socket.create_connection((host, int(port))) as gone:
                head = f"PUT /{BUCKET}/{key} HTTP/1.1\r\nHost: h\r\nContent-Length: {len(body)}"
                gone.sendall(f"{head}\r\n\r\n".encode() + sent)
        proxy.settle()
        assert stored.admin.get_object(Bucket=BUCKET, Key="proxy/whole.bin")["Body"].read() == body
        with pytest.raises(ClientError, match="404"):
            stored.admin.head_object(Bucket=BUCKET, Key="proxy/cut.bin")
        assert sorted((e.target, e.relayed, e.status) for e in proxy.exchanges) == [
            (f"/{BUCKET}/proxy/cut.bin", False, None),
            (f"/{BUCKET}/proxy/whole.bin", True, 200),
        ]
    assert proxy.errors == []
