"""Which data plane carries the bytes: the native one by default (through a
proxy too: ``test_proxy.py``), and boto3's for good once an endpoint turns
native requests away. What a user can see: where the
requests went (a proxy records them), the log, and the bytes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cdn_manager import CredentialsRejected, TransferConfig

from conftest import BUCKET, SMALL_PARTS, MiB, Server, StartProxy
from helpers.faultproxy import Fault, Rule
from helpers.wire import sent

AUTO = dataclasses.replace(SMALL_PARTS, data_plane="auto")
NATIVE_AGENT = "cdn-manager/"
BOTO3_AGENT = "Boto3/"


@pytest.mark.parametrize("size", [1000, 7 * MiB], ids=["single", "multipart"])
def test_auto_sends_the_bytes_natively(
    moto_server: Server, fault_proxy: StartProxy, in_tmp: Path, size: int
) -> None:
    proxy = fault_proxy(moto_server)
    manager = moto_server.manager(AUTO, host=proxy.endpoint)
    data = os.urandom(size)
    manager.put_bytes(BUCKET, f"plane/auto-{size}", data)
    assert manager.get_file(BUCKET, f"plane/auto-{size}").read_bytes() == data
    carried = {e.operation: e.user_agent for e in sent(proxy)}
    for operation in ("GetObject", "PutObject" if size < MiB else "UploadPart"):
        assert carried[operation].startswith(NATIVE_AGENT), operation
    # The control plane stays with boto3.
    if size > MiB:
        assert carried["CreateMultipartUpload"].startswith(BOTO3_AGENT)


def test_an_endpoint_refusing_native_requests_is_served_through_boto3(
    moto_server: Server,
    fault_proxy: StartProxy,
    in_tmp: Path,
    cdn_log: pytest.LogCaptureFixture,
) -> None:
    proxy = fault_proxy(moto_server)
    refusal = proxy.add(Rule(Fault.REFUSE, user_agent=NATIVE_AGENT))
    manager = moto_server.manager(AUTO, host=proxy.endpoint)
    data = os.urandom(7 * MiB)

    manager.put_bytes(BUCKET, "plane/refused.bin", data)
    assert manager.get_file(BUCKET, "plane/refused.bin").read_bytes() == data
    assert manager.download_bytes(BUCKET, "plane/refused.bin") == data

    # Each key pair's plane is refused (parts in flight at the moment may be
    # refused too), switches once, then asks boto3 directly.
    assert refusal.applied >= 2
    assert all(e.user_agent.startswith(BOTO3_AGENT) for e in sent(proxy)[-3:])
    warnings = [r.getMessage() for r in cdn_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert all("refused a native request (SignatureDoesNotMatch)" in w for w in warnings)


def test_forced_native_reports_the_refusal(
    moto_server: Server, fault_proxy: StartProxy, in_tmp: Path
) -> None:
    proxy = fault_proxy(moto_server)
    proxy.add(Rule(Fault.REFUSE, user_agent=NATIVE_AGENT))
    config = dataclasses.replace(SMALL_PARTS, data_plane="native")
    manager = moto_server.manager(config, host=proxy.endpoint)
    with pytest.raises(CredentialsRejected) as caught:
        manager.put_bytes(BUCKET, "plane/never.bin", b"x")
    assert caught.value.reason == "SignatureDoesNotMatch"


def test_a_genuine_refusal_is_not_mistaken_for_an_incompatible_endpoint(
    iam_server: Server, in_tmp: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    # The read key may not write: native and boto3 both say AccessDenied, and
    # the manager keeps sending natively.
    reader = iam_server.credentials
    manager = iam_server.manager(
        AUTO,
        uploader_access_key=reader.downloader_access_key,
        uploader_access_secret=reader.downloader_access_secret,
    )
    assert manager.upload(BUCKET, "plane/denied.bin", b"x") is False
    assert "reason=AccessDenied" in cdn_log.text
    assert "using boto3" not in cdn_log.text


def test_the_environment_forces_a_plane_for_a_whole_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDN_MANAGER_DATA_PLANE", "boto3")
    assert TransferConfig().data_plane == "boto3"
    monkeypatch.setenv("CDN_MANAGER_DATA_PLANE", "fast")
    with pytest.raises(ValueError, match="CDN_MANAGER_DATA_PLANE"):
        TransferConfig()
