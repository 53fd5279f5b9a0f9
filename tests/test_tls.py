"""HTTPS endpoints: both data planes verify the server's certificate, against
Mozilla's roots by default or against the CA bundle the user configures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager, TransferConfig, TransferError

from conftest import BUCKET, SMALL_PARTS, MiB, Server
from helpers.faultproxy import FaultProxy
from helpers.tls import server_context


@pytest.fixture(scope="module")
def https_endpoint(
    moto_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    context, ca = server_context(tmp_path_factory.mktemp("tls"))
    with FaultProxy(moto_server.endpoint, tls=context) as front:
        yield front.endpoint, ca


def https_manager(moto_server: Server, endpoint: str, config: TransferConfig) -> CDNManager:
    fields = {**moto_server.credentials.__dict__, "host": endpoint}
    return CDNManager(CDNCredentials(**fields), config)


@pytest.mark.parametrize("plane", ["native", "boto3"])
@pytest.mark.parametrize("size", [1000, 7 * MiB], ids=["small", "multipart"])
def test_round_trip_over_https_with_a_custom_ca(
    moto_server: Server,
    https_endpoint: tuple[str, Path],
    tmp_path: Path,
    plane: str,
    size: int,
) -> None:
    endpoint, ca = https_endpoint
    config = TransferConfig(
        multipart_threshold=SMALL_PARTS.multipart_threshold,
        download_threshold=SMALL_PARTS.download_threshold,
        part_size=SMALL_PARTS.part_size,
        data_plane=plane,  # type: ignore[arg-type]
        ca_bundle=str(ca),
    )
    manager = https_manager(moto_server, endpoint, config)
    data = os.urandom(size)
    key = f"tls/{plane}-{size}.bin"
    manager.put_bytes(BUCKET, key, data)
    assert manager.get_file(BUCKET, key, tmp_path).read_bytes() == data


@pytest.mark.parametrize("plane", ["native", "boto3"])
def test_an_untrusted_certificate_is_refused(
    moto_server: Server, https_endpoint: tuple[str, Path], tmp_path: Path, plane: str
) -> None:
    endpoint, _ = https_endpoint
    config = TransferConfig(data_plane=plane, ca_bundle=None, max_attempts=1)  # type: ignore[arg-type]
    manager = https_manager(moto_server, endpoint, config)
    with pytest.raises(TransferError) as caught:
        manager.put_bytes(BUCKET, "tls/never.bin", b"x")
    assert "certificate" in str(caught.value).lower()
    assert not moto_server.admin.list_objects_v2(Bucket=BUCKET, Prefix="tls/never").get("Contents")
