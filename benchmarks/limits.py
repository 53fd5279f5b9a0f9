"""The limit: what the machine does at most with the same bytes and server.

Each probe is timed like a client (its own process, same rounds):

- GET: the W1 object fetched from the same server through a presigned URL
  by a minimal socket loop that receives into one reused buffer and keeps
  nothing (as into /dev/null): one stream, and 8 MiB ranges on eight
  kept-alive connections at once; the faster is the reading limit. (curl -o
  /dev/null was slower than the one-stream loop here, so it is not used.)
- write: the same bytes written from memory to a file on the file system the
  W1 destination uses (buffered, and with fsync as a second figure).
- PUT: the W2 bytes sent from memory to a presigned PutObject URL (one
  stream), and as a multipart upload whose 8 MiB parts go to presigned
  UploadPart URLs on eight connections at once; the faster is the W2 limit.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

from clients import Client, Job, MiB, boto3_client

T = TypeVar("T")

BUFFER = 1 * MiB
WRITE_CHUNK = 8 * MiB
#: Parallel probes: this many keep-alive connections, each taking the next
#: range or part of this size (as the parallel clients do).
STREAMS = 8
PART_SIZE = 8 * MiB


class HttpError(Exception):
    pass


class Connection:
    """HTTP/1.1 on one kept-alive loopback socket. Response bodies are
    received into one reused buffer and dropped."""

    def __init__(self, job: Job) -> None:
        self.sock = socket.create_connection(job.host_port)
        self.buffer = bytearray(BUFFER)
        self.view = memoryview(self.buffer)

    def close(self) -> None:
        self.sock.close()

    def request(
        self, method: str, url: str, headers: dict[str, str], body: memoryview | None = None
    ) -> tuple[dict[str, str], int]:
        """Sends one request; returns the response headers and the number of
        body bytes received. Raises HttpError unless the answer is a 2xx with
        its whole body."""
        parts = urlsplit(url)
        head = [f"{method} {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body) if body is not None else 0}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if body is not None:
            self.sock.sendall(body)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            n = self.sock.recv_into(self.view)
            if n == 0:
                raise HttpError("connection closed before the response headers")
            received += self.view[:n]
        header_blob, _, rest = bytes(received).partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])
        }
        length = int(fields.get("content-length", "0"))
        got = len(rest)
        while got < length:
            n = self.sock.recv_into(self.view, min(BUFFER, length - got))
            if n == 0:
                break
            got += n
        if status // 100 != 2 or got != length:
            raise HttpError(f"{method} answered {status} with {got}/{length} body bytes")
        return fields, got


def in_parallel(job: Job, count: int, action: Callable[[Connection, int], T]) -> list[T]:
    """``action(connection, i)`` for i in range(count) on STREAMS threads, each
    with its own connection, each taking the next i as it finishes one."""
    results: list[T | None] = [None] * count
    indexes = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        connection = Connection(job)
        try:
            while True:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                results[i] = action(connection, i)
        finally:
            connection.close()

    with ThreadPoolExecutor(STREAMS) as pool:
        for future in [pool.submit(worker) for _ in range(STREAMS)]:
            future.result()
    return [r for r in results if r is not None]


class _Presigning(Client):
    def __init__(self, job: Job) -> None:
        super().__init__(job)
        # SigV4 query strings: botocore presigns S3 URLs with SigV2 by
        # default, which Garage takes for an anonymous request (403).
        self.s3 = boto3_client(job, signature_version="s3v4")

    def presign(self, method: str, **params: object) -> str:
        url: str = self.s3.generate_presigned_url(
            method, Params={"Bucket": self.job.bucket, **params}, ExpiresIn=3600
        )
        return url


class GetSocket(_Presigning):
    """One GET of the whole object on one connection."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.url = self.presign("get_object", Key=job.big_key)

    def w1(self, payload: bytes) -> None:
        connection = Connection(self.job)
        try:
            received = connection.request("GET", self.url, {})[1]
        finally:
            connection.close()
        if received != self.job.big_size:
            raise HttpError(f"received {received} of {self.job.big_size} bytes")


class GetSocketParallel(GetSocket):
    """Ranged GETs of PART_SIZE on STREAMS connections at once."""

    def w1(self, payload: bytes) -> None:
        size = self.job.big_size

        def fetch(connection: Connection, i: int) -> int:
            start = i * PART_SIZE
            end = min(start + PART_SIZE, size)
            return connection.request("GET", self.url, {"Range": f"bytes={start}-{end - 1}"})[1]

        received = sum(in_parallel(self.job, -(-size // PART_SIZE), fetch))
        if received != size:
            raise HttpError(f"received {received} of {size} bytes")


class Write(Client):
    """The W1 bytes written from memory to the W1 destination's file system."""

    fsync = False
    needs_payload = True

    def w1(self, payload: bytes) -> None:
        target = self.job.dest("raw-write.bin")
        target.parent.mkdir(parents=True, exist_ok=True)
        view = memoryview(payload)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for start in range(0, len(view), WRITE_CHUNK):
                chunk = view[start : start + WRITE_CHUNK]
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


class WriteFsync(Write):
    fsync = True


class PutSocket(_Presigning):
    """One PutObject of the whole payload on one connection."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.url = self.presign("put_object", Key=job.upload_key)

    def w2(self, payload: bytes) -> None:
        connection = Connection(self.job)
        try:
            connection.request("PUT", self.url, {}, memoryview(payload))
        finally:
            connection.close()


class PutMultipart(_Presigning):
    """A multipart upload whose PART_SIZE parts go to presigned UploadPart
    URLs on STREAMS connections at once. Creating the upload and presigning
    happen before the clock starts; completing it is timed."""

    def prepare_w2(self, payload: bytes) -> None:
        bucket, key = self.job.bucket, self.job.upload_key
        self.upload_id = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        self.urls = [
            self.presign("upload_part", Key=key, UploadId=self.upload_id, PartNumber=n + 1)
            for n in range(-(-len(payload) // PART_SIZE))
        ]

    def w2(self, payload: bytes) -> None:
        view = memoryview(payload)

        def send(connection: Connection, i: int) -> dict[str, object]:
            part = view[i * PART_SIZE : (i + 1) * PART_SIZE]
            fields = connection.request("PUT", self.urls[i], {}, part)[0]
            return {"PartNumber": i + 1, "ETag": fields["etag"]}

        parts = in_parallel(self.job, len(self.urls), send)
        self.s3.complete_multipart_upload(
            Bucket=self.job.bucket,
            Key=self.job.upload_key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )


PROBES: dict[str, type[Client]] = {
    "raw-get-socket": GetSocket,
    f"raw-get-socket-x{STREAMS}": GetSocketParallel,
    "raw-write": Write,
    "raw-write-fsync": WriteFsync,
    "raw-put-socket": PutSocket,
    f"raw-put-multipart-x{STREAMS}": PutMultipart,
}
