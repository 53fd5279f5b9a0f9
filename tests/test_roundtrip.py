"""The seed's API over real HTTP: bytes in, the same bytes out."""

from __future__ import annotations

import base64
import os
import zlib
from pathlib import Path

import pytest

from cdn_manager import IntegrityError, NotFound, UnsafePath

from conftest import BUCKET, MiB, Server, admin_client, files_under

#: Every test here runs against the sync and the async face.
pytestmark = pytest.mark.usefixtures("face")

PAYLOADS = {
    "empty": b"",
    "small": b"hello, cdn",
    "one-chunk": os.urandom(100_000),
    "multipart": os.urandom(13 * MiB + 17),
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_upload_then_download_returns_the_same_bytes(
    any_server: Server, in_tmp: Path, name: str
) -> None:
    manager = any_server.manager()
    data = PAYLOADS[name]
    key = f"roundtrip/{any_server.name}-{name}.bin"
    assert manager.upload(BUCKET, key, data) is True
    assert manager.download(BUCKET, key) is True
    assert (in_tmp / BUCKET / key).read_bytes() == data
    assert files_under(in_tmp / BUCKET) == {key}


def test_bytearray_and_memoryview_payloads_upload(moto_server: Server, in_tmp: Path) -> None:
    manager = moto_server.manager()
    data = os.urandom(7 * MiB)
    assert manager.upload(BUCKET, "ba.bin", bytearray(data))
    assert manager.upload(BUCKET, "mv.bin", memoryview(data)[MiB:])
    for key, expected in (("ba.bin", data), ("mv.bin", data[MiB:])):
        body = moto_server.admin.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == expected


def test_nested_key_creates_its_folders(moto_server: Server, in_tmp: Path) -> None:
    manager = moto_server.manager()
    assert manager.upload(BUCKET, "a/b/c.bin", b"nested")
    assert manager.download(BUCKET, "a/b/c.bin")
    assert (in_tmp / BUCKET / "a" / "b" / "c.bin").read_bytes() == b"nested"


def test_missing_object_gives_false_and_leaves_no_file(
    any_server: Server, in_tmp: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    manager = any_server.manager()
    assert manager.download(BUCKET, "does/not/exist") is False
    assert "NoSuchKey" in cdn_log.text
    assert files_under(in_tmp) == set()


def test_raising_api_raises_not_found(moto_server: Server, in_tmp: Path) -> None:
    manager = moto_server.manager()
    with pytest.raises(NotFound) as caught:
        manager.get_file(BUCKET, "nope")
    assert caught.value.reason == "NoSuchKey"


#: Keys that would land outside ``./<bucket>`` if joined onto it as given.
HOSTILE_KEYS = ["../escape.txt", "a/../../escape.txt", "a/b/../../../escape.txt", "/escape.txt"]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_key_cannot_escape_folder(
    moto_server: Server, in_tmp: Path, key: str, cdn_log: pytest.LogCaptureFixture
) -> None:
    moto_server.admin.put_object(Bucket=BUCKET, Key=key, Body=b"outside the folder")
    manager = moto_server.manager()
    assert manager.download(BUCKET, key) is False
    assert "UnsafePath" in cdn_log.text
    with pytest.raises(UnsafePath):
        manager.get_file(BUCKET, key)
    assert files_under(in_tmp) == set()
    assert not Path("/escape.txt").exists()


def test_corrupted_object_is_refused_and_the_old_file_kept(
    moto_server: Server, in_tmp: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    original = os.urandom(100_000)
    corrupted = bytearray(original)
    corrupted[54_321] ^= 0x01
    key = "integrity/one-flipped-bit.bin"
    # Damaged bytes stored beside the original's CRC, as this library records
    # it in the object's metadata, and no CRC of the damaged bytes.
    crc = base64.b64encode(zlib.crc32(original).to_bytes(4, "big")).decode()
    raw = admin_client(moto_server.endpoint, checksums="when_required")
    raw.put_object(Bucket=BUCKET, Key=key, Body=bytes(corrupted), Metadata={"cdn-crc32": crc})
    destination = in_tmp / BUCKET / key
    destination.parent.mkdir(parents=True)
    destination.write_bytes(b"the previous version")
    manager = moto_server.manager()

    assert manager.download(BUCKET, key) is False
    assert "reason=ChecksumMismatch" in cdn_log.text
    with pytest.raises(IntegrityError):
        manager.get_file(BUCKET, key)
    assert files_under(in_tmp / BUCKET) == {key}
    assert destination.read_bytes() == b"the previous version"
