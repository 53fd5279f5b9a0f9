"""No symbolic link is followed where nobody asked for it.

Uploads: a file swapped (for a link to a secret, or for another file)
between planning and uploading uploads nothing; a batch never follows a link;
every part of a file comes from the descriptor opened first. Downloads: a
folder swapped for a link while downloads run never receives a byte
outside the destination."""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import pytest

from cdn_manager import LocalIOError, PlannedFile, TransferConfig, UnsafePath

from conftest import SMALL_PARTS, MiB, Server, files_under
from helpers.cli import bucket_keys

SECRET = b"the content of a file outside the folder\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "id_rsa"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.mark.usefixtures("face")
def test_a_file_swapped_after_planning_uploads_nothing(
    s3s_server: Server, tmp_path: Path, secret: Path
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("to-link.txt", "to-other.txt", "kept.txt"):
        (folder / name).write_text(f"planned {name}\n")
    planned = {name: PlannedFile.of(folder / name) for name in os.listdir(folder)}
    # After planning: one file becomes a link to a secret, one another file.
    (folder / "to-link.txt").unlink()
    (folder / "to-link.txt").symlink_to(secret)
    (folder / "new.txt").write_text("not what was planned\n")
    os.replace(folder / "new.txt", folder / "to-other.txt")

    bucket = s3s_server.new_bucket()
    results = s3s_server.manager().upload_many(bucket, sorted(planned.items()))
    outcome = {r.key: r.error for r in results}
    assert outcome["kept.txt"] is None
    assert isinstance(outcome["to-link.txt"], UnsafePath)
    assert "symbolic link" in str(outcome["to-link.txt"])
    assert isinstance(outcome["to-other.txt"], UnsafePath)
    assert "no longer the file that was planned" in str(outcome["to-other.txt"])
    assert bucket_keys(s3s_server, bucket) == ["kept.txt"]


@pytest.mark.usefixtures("face")
def test_a_batch_never_follows_a_link_and_upload_file_follows_the_one_named(
    s3s_server: Server, tmp_path: Path, secret: Path
) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to(secret)
    bucket = s3s_server.new_bucket()
    manager = s3s_server.manager()
    (result,) = manager.upload_many(bucket, [("from-batch", link)])
    assert isinstance(result.error, UnsafePath) and "symbolic link" in str(result.error)
    with pytest.raises(UnsafePath, match="symbolic link"):
        PlannedFile.of(link)
    assert bucket_keys(s3s_server, bucket) == []

    # The caller named this link: it is followed, once, as cp would.
    manager.upload_file(bucket, "named", link)
    assert s3s_server.admin.get_object(Bucket=bucket, Key="named")["Body"].read() == SECRET


@pytest.mark.usefixtures("face")
def test_special_files_are_refused_without_blocking(s3s_server: Server, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    bucket = s3s_server.new_bucket()
    manager = s3s_server.manager()
    (result,) = manager.upload_many(bucket, [("fifo", fifo)])
    assert isinstance(result.error, UnsafePath) and "not a regular file" in str(result.error)
    with pytest.raises(UnsafePath, match="not a regular file"):
        manager.upload_file(bucket, "dir", tmp_path)


def test_every_part_comes_from_the_file_opened_first(s3s_server: Server, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    original = os.urandom(4 * 5 * MiB)
    path.write_bytes(original)
    replacement = tmp_path / "replacement.bin"
    replacement.write_bytes(os.urandom(len(original)))
    swapped = threading.Event()

    def swap_once(_: int) -> None:
        # After the first bytes leave, the path names another file: the
        # parts still to read must not come from it.
        if not swapped.is_set():
            swapped.set()
            os.replace(replacement, path)

    config = TransferConfig(
        multipart_threshold=SMALL_PARTS.multipart_threshold,
        part_size=SMALL_PARTS.part_size,
        concurrency=1,
    )
    bucket = s3s_server.new_bucket()
    s3s_server.manager(config).upload_file(bucket, "big.bin", path, progress=swap_once)
    assert swapped.is_set()
    assert s3s_server.admin.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == original


# Downloads while a folder flips between a folder and a link.

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    """Atomically swaps two names (renameat2 RENAME_EXCHANGE): the flipped
    folder is never missing, so no download can create it afresh."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, bytes(a), AT_FDCWD, bytes(b), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a))


@pytest.mark.usefixtures("face")
def test_downloads_never_write_outside_while_a_folder_flips_to_a_link(
    s3s_server: Server, tmp_path: Path
) -> None:
    if not hasattr(ctypes.CDLL(None), "renameat2"):
        pytest.skip("no renameat2 in this C library")
    bucket = s3s_server.new_bucket()
    objects = {f"sub/f{n:03}.bin": os.urandom(2000 + n) for n in range(150)}
    objects["sub/ranged.bin"] = os.urandom(7 * MiB)  # several parts in flight
    for key, data in objects.items():
        s3s_server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub-link").symlink_to(outside)
    manager = s3s_server.manager()

    def flip(_: int = 0) -> None:
        exchange(dest / "sub", dest / "sub-link")

    # The folder is a link for the whole batch: every item is refused.
    flip()
    refused = manager.download_many(bucket, objects, dest)
    assert all(isinstance(r.error, UnsafePath | LocalIOError) for r in refused), refused
    flip()
    # The folder flips each time bytes arrive (progress is reported from the
    # transfers' own threads, between receiving and committing), so every
    # download meets a flip while it is in flight, whatever the machine's load.
    racing = manager.download_many(bucket, objects, dest, progress=flip)
    for result in racing:
        # Refused (the link was there when looked at) or written inside.
        assert result.error is None or isinstance(result.error, UnsafePath | LocalIOError), result
    assert files_under(outside) == set()
    if (dest / "sub").is_symlink():
        flip()
    # A folder that stays put: every item lands.
    assert all(r.ok for r in manager.download_many(bucket, objects, dest))
    assert files_under(outside) == set()
    for path in (dest / "sub").iterdir():
        assert path.read_bytes() == objects[f"sub/{path.name}"]
