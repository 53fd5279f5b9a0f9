"""The raising API beyond the seed's two calls, over real HTTP on both servers."""

from __future__ import annotations

import os
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager, InvalidRequest, LocalIOError, NotFound

from conftest import BUCKET, MiB, Server, files_under
from helpers.ports import reserve_port

#: Every test here runs against the sync and the async face.
pytestmark = pytest.mark.usefixtures("face")

SIZES = {"small": 10_000, "multipart": 13 * MiB + 5}


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_upload_file_then_download_file_and_bytes(
    any_server: Server, tmp_path: Path, size: int
) -> None:
    manager = any_server.manager()
    source = tmp_path / "source.bin"
    data = os.urandom(size)
    source.write_bytes(data)
    key = f"api/{any_server.name}/file-{size}.bin"

    manager.upload_file(BUCKET, key, source)

    target = manager.download_file(BUCKET, key, tmp_path / "out" / "copy.bin")
    assert target == tmp_path / "out" / "copy.bin"
    assert target.read_bytes() == data
    assert manager.download_bytes(BUCKET, key) == data
    assert files_under(tmp_path / "out") == {"copy.bin"}


def test_progress_reports_every_byte_once(any_server: Server, tmp_path: Path) -> None:
    manager = any_server.manager()
    data = os.urandom(SIZES["multipart"])
    lock = threading.Lock()
    seen = {"up": 0, "down": 0}

    def counter(name: str) -> object:
        def add(n: int) -> None:
            with lock:
                seen[name] += n

        return add

    manager.put_bytes(BUCKET, "api/progress.bin", data, progress=counter("up"))
    manager.get_file(BUCKET, "api/progress.bin", tmp_path, progress=counter("down"))
    assert seen == {"up": len(data), "down": len(data)}


def test_content_type_is_guessed_from_the_key_and_can_be_set(any_server: Server) -> None:
    manager = any_server.manager()
    manager.put_bytes(BUCKET, "api/page.html", b"<p>hi</p>")
    manager.put_bytes(
        BUCKET, "api/blob", b"x", content_type="application/x-custom", cache_control="max-age=60"
    )
    page = any_server.admin.head_object(Bucket=BUCKET, Key="api/page.html")
    blob = any_server.admin.head_object(Bucket=BUCKET, Key="api/blob")
    assert page["ContentType"] == "text/html"
    assert blob["ContentType"] == "application/x-custom"
    assert blob["CacheControl"] == "max-age=60"
    assert manager.stat(BUCKET, "api/blob").cache_control == "max-age=60"


def test_exists_stat_list_and_delete(any_server: Server) -> None:
    manager = any_server.manager()
    prefix = f"api/listing-{any_server.name}/"
    keys = [f"{prefix}{name}" for name in ("a.txt", "b/c.txt", "d.bin")]
    for key in keys:
        manager.put_bytes(BUCKET, key, key.encode())

    assert [info.key for info in manager.list(BUCKET, prefix)] == sorted(keys)
    assert [info.size for info in manager.list(BUCKET, prefix)] == [len(k) for k in sorted(keys)]
    assert manager.exists(BUCKET, keys[0])
    assert not manager.exists(BUCKET, prefix + "missing")
    info = manager.stat(BUCKET, keys[0])
    assert info.size == len(keys[0])
    assert info.checksum is not None and info.checksum[0] == "crc32"

    manager.delete(BUCKET, keys[0])
    assert not manager.exists(BUCKET, keys[0])
    with pytest.raises(NotFound):
        manager.stat(BUCKET, keys[0])
    assert [info.key for info in manager.list(BUCKET, prefix)] == sorted(keys[1:])


def test_presigned_url_fetches_the_object(any_server: Server) -> None:
    manager = any_server.manager()
    manager.put_bytes(BUCKET, "api/shared link.txt", b"for everyone")
    url = manager.presign_download_url(BUCKET, "api/shared link.txt", expires=120)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"for everyone"


def test_presigned_url_carries_the_read_key_only(moto_server: Server) -> None:
    url = moto_server.manager().presign_download_url(BUCKET, "any/key", expires=60)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    (credential,) = query["X-Amz-Credential"]
    assert credential.split("/")[0] == moto_server.credentials.downloader_access_key
    assert moto_server.credentials.uploader_access_key not in url
    assert query["X-Amz-Expires"] == ["60"]


def test_batches_report_each_item_and_continue_past_failures(
    any_server: Server, tmp_path: Path
) -> None:
    manager = any_server.manager()
    payloads = {f"api/batch/{i:03}.bin": os.urandom(1000 + i) for i in range(40)}
    source = tmp_path / "from-disk.bin"
    source.write_bytes(b"from disk")
    items: list[tuple[str, bytes | os.PathLike[str]]] = list(payloads.items())
    items.append(("api/batch/file.bin", source))
    items.append(("api/batch/missing.bin", tmp_path / "no-such-file"))

    uploaded = manager.upload_many(BUCKET, items)

    assert [r.key for r in uploaded] == [key for key, _ in items]
    assert [r.ok for r in uploaded] == [True] * (len(items) - 1) + [False]
    assert isinstance(uploaded[-1].error, LocalIOError)

    keys = [*payloads, "api/batch/file.bin", "api/batch/never-uploaded.bin"]
    downloaded = manager.download_many(BUCKET, keys, tmp_path / "pulled")

    assert [r.ok for r in downloaded] == [True] * (len(keys) - 1) + [False]
    assert isinstance(downloaded[-1].error, NotFound)
    for result in downloaded[:-2]:
        assert result.path is not None and result.path.read_bytes() == payloads[result.key]
    assert (tmp_path / "pulled" / "api/batch/file.bin").read_bytes() == b"from disk"


@pytest.mark.parametrize(
    "bucket", ["", "ab", "UPPER", "has space", "../x", "a..b", "-edge", "192.168.1.1", "x" * 64]
)
def test_invalid_bucket_names_are_refused_before_any_request(bucket: str) -> None:
    # A closed port: only a check made before sending can answer InvalidRequest.
    manager = CDNManager(CDNCredentials(f"http://127.0.0.1:{reserve_port()}", "r", "rs", "w", "ws"))
    for call in (
        lambda: manager.put_bytes(bucket, "k", b"x"),
        lambda: manager.download_bytes(bucket, "k"),
        lambda: list(manager.list(bucket)),
    ):
        with pytest.raises(InvalidRequest) as caught:
            call()
        assert caught.value.reason == "InvalidBucketName"


@pytest.mark.parametrize("key", ["", "x" * 1025, "é" * 513])
def test_keys_s3_cannot_store_are_refused(key: str) -> None:
    manager = CDNManager(CDNCredentials(f"http://127.0.0.1:{reserve_port()}", "r", "rs", "w", "ws"))
    with pytest.raises(InvalidRequest):
        manager.put_bytes("bucket", key, b"x")
