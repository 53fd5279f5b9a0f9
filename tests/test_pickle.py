"""Managers cross process boundaries (Dask, Ray, multiprocessing) by pickle:
the credentials and config travel, everything else is built again."""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys

import pytest

from cdn_manager import AsyncCDNManager, CDNManager, TransferConfig

from conftest import BUCKET, SMALL_PARTS, Server

ODD_CONFIG = TransferConfig(concurrency=3, max_attempts=2, part_size=6 * 1024 * 1024)


def test_unpickled_manager_writes_with_the_write_key_and_reads_with_the_read_key(
    iam_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    original = CDNManager(iam_server.credentials, ODD_CONFIG)
    blob = pickle.dumps(original)
    original.close()
    manager = pickle.loads(blob)
    try:
        assert manager.creds == iam_server.credentials
        assert manager.config == ODD_CONFIG
        data = b"pickled " * 1000
        manager.put_bytes(BUCKET, "pickle/one.bin", data)
        assert manager.download_bytes(BUCKET, "pickle/one.bin") == data
        # Least privilege survives the trip: each key still does only its job.
        assert manager.check(BUCKET).ok
        manager.delete(BUCKET, "pickle/one.bin")
    finally:
        manager.close()
    # The no_secret_leaks guard checks the log; the repr is checked here.
    secrets = iam_server.credentials.secrets()
    assert not any(secret in repr(manager) for secret in secrets)


def test_clients_and_workers_are_new_after_unpickling(moto_server: Server) -> None:
    with CDNManager(moto_server.credentials, SMALL_PARTS) as original:
        copy = pickle.loads(pickle.dumps(original))
    # The original is closed; the copy has its own pools and threads.
    with copy:
        assert copy.upload_client is not original.upload_client
        copy.put_bytes(BUCKET, "pickle/after-close.bin", b"still works")
        assert copy.download_bytes(BUCKET, "pickle/after-close.bin") == b"still works"


def test_pickled_bytes_hold_both_secrets_as_documented(moto_server: Server) -> None:
    with CDNManager(moto_server.credentials) as manager:
        blob = pickle.dumps(manager)
    assert all(secret.encode() in blob for secret in moto_server.credentials.secrets())
    assert "both secret keys" in (CDNManager.__doc__ or "")


@pytest.mark.fallback
def test_unpickled_manager_chooses_its_data_plane_afresh(moto_server: Server) -> None:
    """A fallback to boto3 is a fact about one process's way to the
    endpoint: the other side of a pickle starts from the configured plane."""
    config = TransferConfig()
    with CDNManager(moto_server.credentials, config) as manager:
        expected = manager.data_plane
        manager._ops.kit.planes.switch.to_boto3("this test says so")
        assert manager.data_plane.name == "boto3"
        with pickle.loads(pickle.dumps(manager)) as copy:
            assert copy.data_plane == expected


def test_unpickled_async_manager_round_trips(moto_server: Server) -> None:
    async def main() -> None:
        async with AsyncCDNManager(moto_server.credentials, SMALL_PARTS) as original:
            copy = pickle.loads(pickle.dumps(original))
        async with copy:
            assert isinstance(copy, AsyncCDNManager) and copy.config == SMALL_PARTS
            await copy.put_bytes(BUCKET, "pickle/async.bin", b"a" * 7000)
            assert await copy.download_bytes(BUCKET, "pickle/async.bin") == b"a" * 7000

    asyncio.run(main())


def test_a_manager_pickled_here_works_in_another_process(moto_server: Server) -> None:
    with CDNManager(moto_server.credentials, SMALL_PARTS) as manager:
        blob = pickle.dumps(manager)
    program = (
        "import pickle, sys\n"
        "manager = pickle.loads(sys.stdin.buffer.read())\n"
        "manager.put_bytes('cdn-test', 'pickle/elsewhere.bin', b'from afar')\n"
        "print(manager.data_plane.name)\n"
        "manager.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], input=blob, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == manager.data_plane.name
    with CDNManager(moto_server.credentials) as reader:
        assert reader.download_bytes(BUCKET, "pickle/elsewhere.bin") == b"from afar"
