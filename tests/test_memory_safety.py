"""The Rust core stays sound when Python code misbehaves around it: a buffer
changed by another thread during an upload, a second Ctrl-C while a download
is being cleaned up, a response closed by another thread while it is read."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdn_manager import CDNError, IntegrityError, _core

from conftest import BUCKET, SMALL_PARTS, MiB, Server
from helpers.faultproxy import FaultProxy

NATIVE = dataclasses.replace(SMALL_PARTS, data_plane="native")
INTERRUPTED = Path(__file__).parent / "helpers" / "interrupted.py"


class Scribbler:
    """A thread that keeps overwriting slices of a bytearray (never resizing
    it) until stopped."""

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.writes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = os.urandom
        size = len(self.data)
        while not self._stop.is_set():
            start = int.from_bytes(rng(4), "big") % (size - 65536)
            self.data[start : start + 65536] = rng(65536)
            self.writes += 1

    def __enter__(self) -> Scribbler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stored_object(server: Server, bucket: str, key: str) -> tuple[bytes, dict[str, str]] | None:
    try:
        got = server.admin.get_object(Bucket=bucket, Key=key)
    except server.admin.exceptions.NoSuchKey:
        return None
    return got["Body"].read(), got["Metadata"]


def upload_while_scribbling(server: Server, bucket: str, key: str, size: int) -> str:
    """Uploads a bytearray that another thread keeps changing; "stored" or
    "refused"."""
    data = bytearray(os.urandom(size))
    with Scribbler(data) as scribbler:
        try:
            server.manager(NATIVE).put_bytes(bucket, key, data)
            outcome = "stored"
        except CDNError:
            outcome = "refused"
    assert scribbler.writes > 0
    return outcome


def stored_crc(metadata: dict[str, str]) -> int:
    return int.from_bytes(base64.b64decode(metadata["cdn-crc32"]), "big")


def test_a_bytearray_changed_during_a_put_is_refused_or_stored_whole(s3s_server: Server) -> None:
    # One PUT (below the multipart threshold): the Rust core sends a copy
    # taken at one instant, and s3s-fs checks it against the CRC header, so
    # a stored object is always one the upload's recorded CRC describes.
    bucket = s3s_server.new_bucket()
    for attempt in range(4):
        key = f"scribbled-{attempt}.bin"
        outcome = upload_while_scribbling(s3s_server, bucket, key, 5 * MiB)
        stored = stored_object(s3s_server, bucket, key)
        if outcome == "refused":
            # s3s-fs keeps the body of a PUT it refused as BadDigest, but
            # without the metadata of a finished upload.
            assert stored is None or "cdn-crc32" not in stored[1]
            continue
        assert stored is not None
        body, metadata = stored
        assert zlib.crc32(body) == stored_crc(metadata)


@pytest.mark.parametrize("size", [5 * MiB, 16 * MiB], ids=["single", "multipart"])
def test_a_bytearray_changed_during_an_upload_is_refused_or_stored_as_its_crc_says(
    any_server: Server, size: int
) -> None:
    # Neither server checks an UploadPart's CRC against its bytes (and moto
    # no PUT's), so this is the library's own guarantee: each part of a
    # mutable buffer is copied once and checked against the CRC taken ahead,
    # and a buffer changed meanwhile fails the upload before that part is
    # sent. Never a stored mixture reported as a success.
    server = any_server
    bucket = server.new_bucket()
    for attempt in range(2):
        key = f"scribbled-{attempt}.bin"
        outcome = upload_while_scribbling(server, bucket, key, size)
        stored = stored_object(server, bucket, key)
        assert server.unfinished_uploads(bucket) == []
        if outcome == "refused":
            assert stored is None or "cdn-crc32" not in stored[1]
            continue
        assert stored is not None
        body, metadata = stored
        assert len(body) == size
        assert zlib.crc32(body) == stored_crc(metadata)


def test_a_bytearray_changed_during_an_upload_fails_as_buffer_changed(
    moto_server: Server,
) -> None:
    data = bytearray(os.urandom(16 * MiB))
    manager = moto_server.manager(NATIVE)
    bucket = moto_server.new_bucket()
    with Scribbler(data), pytest.raises(IntegrityError) as caught:
        manager.put_bytes(bucket, "changing.bin", data)
    assert caught.value.reason == "BufferChanged"
    assert stored_object(moto_server, bucket, "changing.bin") is None
    # The same buffer, left alone, uploads exactly.
    manager.put_bytes(bucket, "changing.bin", data)
    assert moto_server.admin.get_object(Bucket=bucket, Key="changing.bin")["Body"].read() == data


def test_checksums_of_a_bytearray_changed_meanwhile_stay_sound() -> None:
    # Hashing reads copies taken under the GIL, never a view Python can
    # change; once the writer stops, the results are exact again.
    data = bytearray(os.urandom(8 * MiB))
    with Scribbler(data):
        for _ in range(5):
            assert 0 <= _core.checksum(data) < 2**32
            assert len(_core.digest(memoryview(data))) == 16
            assert len(_core.part_checksums(data, 5 * MiB)) == 2
    frozen = bytes(data)
    assert _core.checksum(data) == zlib.crc32(frozen)
    assert _core.part_checksums(data, 5 * MiB) == [
        zlib.crc32(frozen[: 5 * MiB]),
        zlib.crc32(frozen[5 * MiB :]),
    ]
    view = memoryview(frozen)[3:-3]
    assert _core.checksum(view) == zlib.crc32(frozen[3:-3])


@pytest.fixture
def slow_front(moto_server: Server) -> Iterator[FaultProxy]:
    """moto behind a proxy passing 6 MiB/s: a 24 MiB download takes 4 s."""
    with FaultProxy(moto_server.endpoint, rate=6 * MiB) as proxy:
        yield proxy
    assert proxy.errors == []


def run_interrupted(moto_server: Server, proxy: FaultProxy, job: dict[str, object]) -> dict:
    credentials = {**moto_server.credentials.__dict__, "host": proxy.endpoint}
    moto_server.admin.put_object(Bucket=BUCKET, Key="interrupt/check", Body=b"still here")
    job = {
        **job,
        "credentials": credentials,
        "bucket": BUCKET,
        "check_key": "interrupt/check",
        "check_size": len(b"still here"),
        "interrupt_after": 2 * MiB,
        "gap": 0.25,
    }
    process = subprocess.run(
        [sys.executable, str(INTERRUPTED)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    report: dict = json.loads(process.stdout.strip().splitlines()[-1])
    return report


def test_a_second_ctrl_c_during_download_bytes_is_harmless(
    moto_server: Server, slow_front: FaultProxy, tmp_path: Path
) -> None:
    moto_server.admin.put_object(Bucket=BUCKET, Key="interrupt/big", Body=os.urandom(24 * MiB))
    report = run_interrupted(
        moto_server,
        slow_front,
        {"mode": "download_bytes", "keys": ["interrupt/big"], "folder": str(tmp_path)},
    )
    assert report["outcome"] == "interrupted"
    assert report["sent_before_the_call_ended"] == 2
    assert not report["a_part_outlived_the_call"]
    assert report["healthy"]


def test_a_second_ctrl_c_during_download_many_leaves_no_temporary_file(
    moto_server: Server, slow_front: FaultProxy, tmp_path: Path
) -> None:
    keys = [f"interrupt/many-{n}" for n in range(4)]
    for key in keys:
        moto_server.admin.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(8 * MiB))
    folder = tmp_path / "many"
    report = run_interrupted(
        moto_server, slow_front, {"mode": "download_many", "keys": keys, "folder": str(folder)}
    )
    assert report["outcome"] == "interrupted"
    assert report["sent_before_the_call_ended"] == 2
    assert not report["a_part_outlived_the_call"]
    assert report["leftover"] == []
    assert report["healthy"]
    for path in folder.rglob("*"):
        assert ".cdnpart-" not in path.name


def test_closing_a_response_while_another_thread_reads_it_returns_at_once(
    moto_server: Server, slow_front: FaultProxy
) -> None:
    size = 6 * MiB  # about a second through the slow proxy
    moto_server.admin.put_object(Bucket=BUCKET, Key="interrupt/closed", Body=os.urandom(size))
    creds = moto_server.credentials
    keys = (creds.downloader_access_key, creds.downloader_access_secret, None)
    engine = _core.Engine(slow_front.endpoint, "us-east-1", 5.0, 30.0, 4)
    response = engine.get(keys, BUCKET, "interrupt/closed")
    writer = _core.MemoryWriter(size)
    # A progress callback makes the reader take the GIL while it reads.
    control = _core.Control(lambda n: None)
    sink = writer.part(0, control=control)
    read_errors: list[BaseException] = []

    def read() -> None:
        try:
            response.read_into(sink, size)
        except BaseException as err:  # a closed body may end the read early
            read_errors.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    while control.transferred == 0 and reader.is_alive():
        threading.Event().wait(0.01)
    closer = threading.Thread(target=response.close)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() waited for the reader"
    reader.join(60)
    assert not reader.is_alive(), "the read never ended"
    with pytest.raises(ValueError, match="closed"):
        response.read_into(writer.part(0), 1)
    writer.abort()


def test_only_a_mutable_buffer_is_hashed_again_when_its_part_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``bytes`` cannot change, so each part is sent with the CRC taken
    ahead (hashing it again cost W2 a second pass over every byte); any
    other buffer is copied and hashed again, and a CRC that no longer
    matches fails as BufferChanged."""
    from cdn_manager._transfers.sources import BufferSource

    data = os.urandom(MiB)
    ahead = zlib.crc32(data[:4096])
    mutable = BufferSource(memoryview(bytearray(data)), "crc32")
    with pytest.raises(IntegrityError) as caught:
        mutable.read(0, 4096, ahead ^ 1)
    assert caught.value.reason == "BufferChanged"
    assert mutable.read(0, 4096, ahead)[1] == ahead

    def no_second_pass(*args: object) -> int:
        raise AssertionError("a bytes part was hashed again")

    monkeypatch.setattr(_core, "checksum", no_second_pass)
    body, crc = BufferSource(memoryview(data), "crc32").read(0, 4096, ahead)
    assert (bytes(body), crc) == (data[:4096], ahead)
