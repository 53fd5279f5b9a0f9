"""Which data plane carries the bytes: the native one by default, and boto3's
for good once an endpoint turns native requests away that boto3 gets through
(never silently: a WARNING and ``manager.data_plane`` say so). What a user
can see: where the requests went (a proxy records them), the log, the
manager's ``data_plane``, and the bytes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cdn_manager import CredentialsRejected, NotFound, TransferConfig
from cdn_manager._planes.adaptive import FALLBACK_MARK

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
    assert manager.data_plane.name == "native"
    assert manager.data_plane.reason == "default"


@pytest.mark.fallback
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

    # The first refusal (parts in flight at the moment may be refused too)
    # switches the manager, both key pairs at once, then boto3 is asked directly.
    assert refusal.applied >= 1
    assert all(e.user_agent.startswith(BOTO3_AGENT) for e in sent(proxy)[-3:])
    switches = [r for r in cdn_log.records if r.levelname == "WARNING"]
    # Marked, so the suite-wide guard (conftest.no_unintended_fallback) sees it.
    assert [getattr(r, FALLBACK_MARK, False) for r in switches] == [True]
    warnings = [r.getMessage() for r in switches]
    # The warning names the request, the native error and the server's code.
    assert "the endpoint refused a native PUT cdn-test/plane/refused.bin" in warnings[0]
    assert "SignatureDoesNotMatch (HTTP 403)" in warnings[0]
    assert manager.data_plane.name == "boto3"
    assert "SignatureDoesNotMatch" in manager.data_plane.reason


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
    assert manager.data_plane.name == "native"


def test_the_environment_forces_a_plane_for_a_whole_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDN_MANAGER_DATA_PLANE", "boto3")
    assert TransferConfig().data_plane == "boto3"
    monkeypatch.setenv("CDN_MANAGER_DATA_PLANE", "fast")
    with pytest.raises(ValueError, match="CDN_MANAGER_DATA_PLANE"):
        TransferConfig()


def test_stat_heads_natively_and_reads_the_answer_as_botocore_does(
    any_server: Server, bucket: str, fault_proxy: StartProxy
) -> None:
    """A HEAD (stat, and every object a push must prove) is sent by the
    plane that carries the bytes; the same answer reads the same either way."""
    proxy = fault_proxy(any_server)
    managers = {
        plane: any_server.manager(
            dataclasses.replace(SMALL_PARTS, data_plane=plane), host=proxy.endpoint
        )
        for plane in ("native", "boto3")
    }
    managers["native"].put_bytes(
        bucket, "plane/stat.txt", b"x" * 1000, content_type="text/plain", cache_control="max-age=60"
    )
    infos = {plane: manager.stat(bucket, "plane/stat.txt") for plane, manager in managers.items()}
    heads = [e.user_agent for e in sent(proxy) if e.operation == "HeadObject"]
    assert [agent.split("/")[0] + "/" for agent in heads] == [NATIVE_AGENT, BOTO3_AGENT]

    assert infos["native"] == infos["boto3"]
    info = infos["native"]
    assert (info.size, info.content_type, info.cache_control) == (1000, "text/plain", "max-age=60")
    assert info.checksum is not None and info.checksum[0] == "crc32"
    assert info.last_modified is not None and info.last_modified.tzinfo is not None
    # What is missing is named alike (s3s-fs says NoSuchKey for a key in a
    # missing bucket too).
    reasons = set()
    for manager in managers.values():
        with pytest.raises(NotFound) as missing:
            manager.stat(bucket, "plane/missing.txt")
        assert missing.value.reason == "NoSuchKey"
        with pytest.raises(NotFound) as missing:
            manager.stat(bucket + "-none", "plane/stat.txt")
        reasons.add(missing.value.reason)
    assert len(reasons) == 1


@pytest.mark.fallback
def test_an_endpoint_refusing_a_native_head_is_served_through_boto3(
    moto_server: Server, fault_proxy: StartProxy, in_tmp: Path
) -> None:
    """A HEAD's refusal has no body to name it, only its 403: before any
    native request succeeded, boto3 is asked too, as for a GET or PUT."""
    moto_server.admin.put_object(Bucket=BUCKET, Key="plane/head-first.txt", Body=b"abc")
    proxy = fault_proxy(moto_server)
    proxy.add(Rule(Fault.REFUSE, user_agent=NATIVE_AGENT))
    manager = moto_server.manager(AUTO, host=proxy.endpoint)
    assert manager.stat(BUCKET, "plane/head-first.txt").size == 3
    assert manager.data_plane.name == "boto3"
