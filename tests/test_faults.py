"""Transfers through a fault-injecting proxy (issue 4, item 5).

A transient fault (fewer faulted requests than ``max_attempts``) is retried
and the transfer ends with exactly the right bytes. A permanent one (every
matching request faulted) gives False, one error log line saying what
failed, no temporary file, no unfinished multipart upload, and leaves the
previous version (the file on disk, or the object in the bucket) untouched.

Downloads fault the response bodies of GETs; uploads fault the request
bodies of PUTs (the single PUT or every UploadPart). Sizes below and above
the thresholds of ``SMALL_PARTS`` cover the single-request and multipart paths.

The whole matrix runs on moto. On s3s-fs only the faults whose outcome
depends on the server (what it does with a broken or corrupted body) run:
the proxy answers 500 and 503 itself, and a stalled download never reaches
the server. Multipart sizes on moto are the fast set; the rest is ``slow``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdn_manager._resume import unaborted

from conftest import SMALL_PARTS, MiB, Server, StartProxy, error_lines, files_under
from helpers.faultproxy import Fault, Rule

#: Short read timeout so a stall costs a second, not thirty.
TRANSIENT_CONFIG = dataclasses.replace(
    SMALL_PARTS, max_attempts=3, read_timeout=1.0, connect_timeout=1.0
)
#: Where every attempt fails anyway: fewer attempts, and a stall that costs
#: half a second (a spurious timeout cannot change the outcome).
PERMANENT_CONFIG = dataclasses.replace(TRANSIENT_CONFIG, max_attempts=2, read_timeout=0.5)
#: Faulted requests in a transient fault: fewer than ``max_attempts``.
BUDGET = TRANSIENT_CONFIG.max_attempts - 1
#: Object sizes: one request, and four parts (5 MiB, the last one 1 MiB + a bit).
SIZES = {"single": 3 * MiB, "multipart": 16 * MiB + 1234}
#: Body offset of the faults: inside every response and part of both sizes.
MID = MiB
PREVIOUS = b"the previous version, which a failed transfer must leave alone"


@dataclass(frozen=True)
class Scenario:
    #: The :class:`Rule` fields of the fault.
    rule: dict[str, Any]
    #: What the error log line must say when the fault persists.
    says: str
    #: The server may have stored the new bytes before the fault struck.
    may_commit: bool = False
    #: The server plays no part in the outcome: tried on moto only.
    proxy_only: bool = False
    #: Transfer settings the scenario needs beyond the defaults.
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Faulted requests in the transient case.
    transient: int = BUDGET


DOWNLOAD_FAULTS = {
    "reset": Scenario({"fault": Fault.RESET, "at": MID}, r"(?i)reset|broken|connection"),
    "cut": Scenario({"fault": Fault.CUT, "at": MID}, r"(?i)incomplete|short|truncat|ended|closed"),
    "stall": Scenario({"fault": Fault.STALL, "at": MID}, r"(?i)time", proxy_only=True),
    # A flipped byte shows only when the whole object is verified, and a
    # second corrupted copy in a row is reported as corruption at rest.
    "flip": Scenario(
        {"fault": Fault.FLIP, "at": MID},
        r"(?i)(crc32c?|crc64nvme|md5|sha\d+)\b[^:]* mismatch",
        transient=1,
    ),
    "500": Scenario({"fault": Fault.INTERNAL_ERROR}, "InternalError", proxy_only=True),
    "503": Scenario({"fault": Fault.SLOW_DOWN}, "SlowDown", proxy_only=True),
}
UPLOAD_FAULTS = {
    "reset": Scenario({"fault": Fault.RESET, "at": MID, "in_request": True}, r"(?i)reset|broken"),
    "cut": Scenario({"fault": Fault.CUT, "at": MID, "in_request": True}, r"(?i)reset|broken|clos"),
    # The server never gets the whole body.
    "stall": Scenario({"fault": Fault.STALL, "at": MID, "in_request": True}, r"(?i)time"),
    # The server stores the body; its answer never comes back.
    "lost-answer": Scenario({"fault": Fault.STALL, "at": None}, r"(?i)time", may_commit=True),
    # Neither server checks the CRC of an UploadPart (moto checks none at all),
    # so only comparing the returned ETag with the MD5 of what was sent
    # (verify_etag) finds the flipped byte; s3s-fs also answers a body that
    # fails the x-amz-content-sha256 botocore sends with 500 InternalError.
    "flip": Scenario(
        {"fault": Fault.FLIP, "at": MID, "in_request": True},
        r"(?i)digest|mismatch|InternalError",
        settings={"verify_etag": True},
    ),
    "500": Scenario({"fault": Fault.INTERNAL_ERROR}, "InternalError", proxy_only=True),
    "503": Scenario({"fault": Fault.SLOW_DOWN}, "SlowDown", proxy_only=True),
}


def cases(faults: dict[str, Scenario]) -> list[Any]:
    """(server, fault, size) parameters; see the module docstring."""
    params = []
    for server in ("moto", "s3s-fs"):
        for fault, scenario in faults.items():
            if server == "s3s-fs" and scenario.proxy_only:
                continue
            for size in SIZES:
                fast = server == "moto" and size == "multipart"
                params.append(
                    pytest.param(
                        server,
                        fault,
                        size,
                        id=f"{server}-{fault}-{size}",
                        marks=() if fast else pytest.mark.slow,
                    )
                )
    return params


def stored_bytes(server: Server, bucket: str, key: str) -> bytes:
    body: bytes = server.admin.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def stored_object(server: Server, bucket: str, size: int, name: str) -> tuple[str, bytes]:
    """An object written by cdn-manager (directly, not through the proxy)."""
    data = os.urandom(size)
    key = f"faults/{name}.bin"
    server.manager().put_bytes(bucket, key, data)
    return key, data


# Downloads.


@pytest.mark.parametrize(
    ("any_server", "fault", "size"), cases(DOWNLOAD_FAULTS), indirect=["any_server"]
)
def test_transient_download_fault_is_retried_to_the_right_bytes(
    any_server: Server,
    bucket: str,
    fault_proxy: StartProxy,
    in_tmp: Path,
    fault: str,
    size: str,
) -> None:
    key, data = stored_object(any_server, bucket, SIZES[size], f"{fault}-{size}")
    proxy = fault_proxy(any_server)
    scenario = DOWNLOAD_FAULTS[fault]
    rule = proxy.add(Rule(**scenario.rule, method="GET", times=scenario.transient))
    manager = any_server.manager(TRANSIENT_CONFIG, host=proxy.endpoint)

    assert manager.download(bucket, key) is True

    assert (in_tmp / bucket / key).read_bytes() == data
    assert files_under(in_tmp) == {f"{bucket}/{key}"}
    assert rule.applied == scenario.transient


@pytest.mark.parametrize(
    ("any_server", "fault", "size"), cases(DOWNLOAD_FAULTS), indirect=["any_server"]
)
def test_permanent_download_fault_fails_and_leaves_the_disk_as_it_was(
    any_server: Server,
    bucket: str,
    fault_proxy: StartProxy,
    in_tmp: Path,
    cdn_log: pytest.LogCaptureFixture,
    fault: str,
    size: str,
) -> None:
    key, _ = stored_object(any_server, bucket, SIZES[size], f"{fault}-{size}")
    destination = in_tmp / bucket / key
    destination.parent.mkdir(parents=True)
    destination.write_bytes(PREVIOUS)
    proxy = fault_proxy(any_server)
    scenario = DOWNLOAD_FAULTS[fault]
    rule = proxy.add(Rule(**scenario.rule, method="GET"))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.download(bucket, key) is False

    assert destination.read_bytes() == PREVIOUS
    assert files_under(in_tmp) == {f"{bucket}/{key}"}  # no temporary file left
    assert rule.applied >= PERMANENT_CONFIG.max_attempts
    (line,) = error_lines(cdn_log)
    assert key in line
    assert re.search(scenario.says, line), line


def test_only_the_third_ranged_get_faulted_is_retried(
    any_server: Server, bucket: str, fault_proxy: StartProxy, in_tmp: Path
) -> None:
    key, data = stored_object(any_server, bucket, SIZES["multipart"], "third-range")
    proxy = fault_proxy(any_server)
    rule = proxy.add(Rule(Fault.RESET, at=MID, method="GET", ranged=True, skip=2, times=1))
    manager = any_server.manager(TRANSIENT_CONFIG, host=proxy.endpoint)

    assert manager.download(bucket, key) is True

    assert (in_tmp / bucket / key).read_bytes() == data
    assert rule.applied == 1


# Uploads.


@pytest.mark.parametrize(
    ("any_server", "fault", "size"), cases(UPLOAD_FAULTS), indirect=["any_server"]
)
def test_transient_upload_fault_is_retried_to_the_right_bytes(
    any_server: Server,
    bucket: str,
    fault_proxy: StartProxy,
    fault: str,
    size: str,
) -> None:
    data = os.urandom(SIZES[size])
    key = f"faults/{fault}-{size}.bin"
    proxy = fault_proxy(any_server)
    scenario = UPLOAD_FAULTS[fault]
    rule = proxy.add(Rule(**scenario.rule, method="PUT", times=BUDGET))
    config = dataclasses.replace(TRANSIENT_CONFIG, **scenario.settings)
    manager = any_server.manager(config, host=proxy.endpoint)

    assert manager.upload(bucket, key, data) is True

    assert stored_bytes(any_server, bucket, key) == data
    assert any_server.unfinished_uploads(bucket) == []
    assert rule.applied == BUDGET


@pytest.mark.parametrize(
    ("any_server", "fault", "size"), cases(UPLOAD_FAULTS), indirect=["any_server"]
)
def test_permanent_upload_fault_fails_and_leaves_the_bucket_as_it_was(
    any_server: Server,
    bucket: str,
    fault_proxy: StartProxy,
    cdn_log: pytest.LogCaptureFixture,
    fault: str,
    size: str,
) -> None:
    key = f"faults/{fault}-{size}.bin"
    any_server.admin.put_object(Bucket=bucket, Key=key, Body=PREVIOUS)
    proxy = fault_proxy(any_server)
    scenario = UPLOAD_FAULTS[fault]
    rule = proxy.add(Rule(**scenario.rule, method="PUT"))
    config = dataclasses.replace(PERMANENT_CONFIG, **scenario.settings)
    manager = any_server.manager(config, host=proxy.endpoint)
    data = os.urandom(SIZES[size])

    assert manager.upload(bucket, key, data) is False

    # Once the server has stored the bytes, losing its answer cannot undo it;
    # the object is then the new bytes, whole.
    expected = (PREVIOUS, data) if scenario.may_commit else (PREVIOUS,)
    assert stored_bytes(any_server, bucket, key) in expected
    assert any_server.unfinished_uploads(bucket) == []
    assert rule.applied >= PERMANENT_CONFIG.max_attempts
    (line,) = error_lines(cdn_log)
    assert key in line
    assert re.search(scenario.says, line), line


#: Faults on CompleteMultipartUpload (a POST with ``uploadId=``).
COMPLETE: dict[str, Any] = {"method": "POST", "query": "uploadId="}


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"fault": Fault.INTERNAL_ERROR}, id="500"),
        # The server completes the upload; its answer is lost, so the client
        # asks again for an upload that no longer exists.
        pytest.param({"fault": Fault.STALL, "at": None}, id="lost-answer"),
    ],
)
def test_transient_fault_on_completing_a_multipart_upload_is_cured(
    any_server: Server, bucket: str, fault_proxy: StartProxy, fault: dict[str, Any]
) -> None:
    data = os.urandom(SIZES["multipart"])
    proxy = fault_proxy(any_server)
    rule = proxy.add(Rule(**fault, **COMPLETE, times=1))
    manager = any_server.manager(TRANSIENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, "faults/complete.bin", data) is True

    assert stored_bytes(any_server, bucket, "faults/complete.bin") == data
    assert any_server.unfinished_uploads(bucket) == []
    assert rule.applied == 1


def test_a_lost_completion_the_server_is_still_writing_is_waited_for(
    any_server: Server, bucket: str, fault_proxy: StartProxy
) -> None:
    # The answer to CompleteMultipartUpload is lost, botocore asks again,
    # the retry is refused as an unknown upload, and the object is not there
    # yet when first looked for. s3s-fs did this under load: it forgets an
    # upload before it writes the object, and an upload that succeeded was
    # reported failed. (moto answers such a retry with success.)
    data = os.urandom(SIZES["multipart"])
    proxy = fault_proxy(any_server)
    lost = proxy.add(Rule(Fault.STALL, at=None, **COMPLETE, times=1))
    refused = proxy.add(Rule(Fault.NO_SUCH_UPLOAD, **COMPLETE, skip=1, times=1))
    absent = proxy.add(Rule(Fault.NO_SUCH_KEY, method="HEAD", path="faults/late.bin", times=2))
    manager = any_server.manager(TRANSIENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, "faults/late.bin", data) is True

    assert stored_bytes(any_server, bucket, "faults/late.bin") == data
    assert any_server.unfinished_uploads(bucket) == []
    assert (lost.applied, refused.applied, absent.applied) == (1, 1, 2)


def test_permanent_fault_on_completing_a_multipart_upload_aborts_it(
    any_server: Server, bucket: str, fault_proxy: StartProxy, cdn_log: pytest.LogCaptureFixture
) -> None:
    any_server.admin.put_object(Bucket=bucket, Key="faults/complete.bin", Body=PREVIOUS)
    proxy = fault_proxy(any_server)
    proxy.add(Rule(Fault.INTERNAL_ERROR, **COMPLETE))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, "faults/complete.bin", os.urandom(SIZES["multipart"])) is False

    assert stored_bytes(any_server, bucket, "faults/complete.bin") == PREVIOUS
    assert any_server.unfinished_uploads(bucket) == []
    (line,) = error_lines(cdn_log)
    assert "InternalError" in line


@pytest.mark.parametrize("made_by", ["close", "next upload"])
def test_an_abort_that_failed_while_the_server_was_unavailable_is_made_later(
    any_server: Server,
    bucket: str,
    fault_proxy: StartProxy,
    cdn_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    made_by: str,
) -> None:
    proxy = fault_proxy(any_server)
    proxy.add(Rule(Fault.INTERNAL_ERROR, **COMPLETE))
    # Every attempt to abort the failed upload, while "the server is down".
    attempts = PERMANENT_CONFIG.max_attempts
    aborts = proxy.add(Rule(Fault.SLOW_DOWN, method="DELETE", query="uploadId=", times=attempts))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, "faults/abort.bin", os.urandom(SIZES["multipart"])) is False
    (left,) = any_server.unfinished_uploads(bucket)
    assert aborts.applied == attempts
    if made_by == "close":
        manager.close()
    else:
        # Without the wait between rounds of retries (10 s) a test need not make.
        monkeypatch.setattr(unaborted, "RETRY_INTERVAL", 0.0)
        proxy.clear()
        assert manager.upload(bucket, "faults/next.bin", os.urandom(SIZES["multipart"])) is True

    assert any_server.unfinished_uploads(bucket) == []
    warnings = [r.getMessage() for r in cdn_log.records if r.levelno == logging.WARNING]
    assert any(f"could not abort multipart upload {left}" in w for w in warnings)


#: CreateMultipartUpload (a GET with the same query lists uploads).
CREATE: dict[str, Any] = {"method": "POST", "query": "uploads"}


@pytest.mark.parametrize("any_server", ["garage"], indirect=True)
@pytest.mark.parametrize("lost", ["the first answer", "every answer"])
def test_an_upload_whose_creation_answer_was_lost_is_found_and_aborted(
    any_server: Server, bucket: str, fault_proxy: StartProxy, lost: str
) -> None:
    """The server carried out CreateMultipartUpload, and the connection
    was reset before its answer (the node died, say): the upload it made
    has an id no one knows. A retry that answers leaves one such orphan
    (here the upload then fails on its completion, for Garage drops the
    older unfinished uploads of a key once a newer one completes); a
    creation failing past its retries leaves one per attempt. ``close()``
    finds them by key, time and having no parts, and aborts them; others'
    uploads (another key, or one with a part) are left alone.

    On Garage only: moto lists every upload as begun on 2010-11-10, s3s-fs
    lists none. On Garage only the read key may list uploads and parts."""
    key = "faults/create.bin"
    other_key = any_server.admin.create_multipart_upload(Bucket=bucket, Key=key + ".other")
    with_a_part = any_server.admin.create_multipart_upload(Bucket=bucket, Key=key)
    any_server.admin.upload_part(
        Bucket=bucket, Key=key, UploadId=with_a_part["UploadId"], PartNumber=1, Body=b"x"
    )
    others = {other_key["UploadId"], with_a_part["UploadId"]}
    proxy = fault_proxy(any_server)
    attempts = PERMANENT_CONFIG.max_attempts
    times = 1 if lost == "the first answer" else attempts
    rule = proxy.add(Rule(Fault.RESET, at=None, **CREATE, times=times))
    proxy.add(Rule(Fault.INTERNAL_ERROR, **COMPLETE))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, key, os.urandom(SIZES["multipart"])) is False
    assert rule.applied == times
    assert len(set(any_server.unfinished_uploads(bucket)) - others) == times
    manager.close()

    assert set(any_server.unfinished_uploads(bucket)) == others


@pytest.mark.parametrize("any_server", ["garage"], indirect=True)
def test_an_orphan_listed_but_unknown_to_list_parts_is_still_aborted(
    any_server: Server, bucket: str, fault_proxy: StartProxy
) -> None:
    """Garage can list an upload whose creation was cut off (the node died)
    between its two records and answer ListParts for it with NoSuchUpload
    (seen in CI): no part can have been sent to it, so ``close()`` aborts
    it as it aborts any orphan; another key's upload is left alone."""
    key = "faults/cut-create.bin"
    other = any_server.admin.create_multipart_upload(Bucket=bucket, Key=key + ".other")
    proxy = fault_proxy(any_server)
    proxy.add(Rule(Fault.RESET, at=None, **CREATE, times=1))
    proxy.add(Rule(Fault.INTERNAL_ERROR, **COMPLETE))
    unknown = proxy.add(Rule(Fault.NO_SUCH_UPLOAD, method="GET", query="uploadId="))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, key, os.urandom(SIZES["multipart"])) is False
    assert len(set(any_server.unfinished_uploads(bucket)) - {other["UploadId"]}) == 1
    manager.close()

    assert unknown.applied >= 1
    assert set(any_server.unfinished_uploads(bucket)) == {other["UploadId"]}


@pytest.mark.parametrize("any_server", ["garage"], indirect=True)
def test_an_orphan_the_server_lists_but_cannot_abort_is_reported(
    any_server: Server, bucket: str, fault_proxy: StartProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """When Garage lists such an upload, its AbortMultipartUpload answers
    NoSuchUpload too (seen in CI): nothing the manager can send removes
    it, so the manager says so at WARNING, naming the upload and the
    server's own cleanup, instead of counting it as gone in silence."""
    key = "faults/cut-create-unabortable.bin"
    proxy = fault_proxy(any_server)
    proxy.add(Rule(Fault.RESET, at=None, **CREATE, times=1))
    proxy.add(Rule(Fault.INTERNAL_ERROR, **COMPLETE))
    proxy.add(Rule(Fault.NO_SUCH_UPLOAD, method="GET", query="uploadId="))
    manager = any_server.manager(PERMANENT_CONFIG, host=proxy.endpoint)

    assert manager.upload(bucket, key, os.urandom(SIZES["multipart"])) is False
    (orphan,) = any_server.unfinished_uploads(bucket)
    refused = proxy.add(Rule(Fault.NO_SUCH_UPLOAD, method="DELETE", query="uploadId="))
    with caplog.at_level(logging.WARNING, logger="cdn_manager"):
        manager.close()

    assert refused.applied >= 1
    assert any_server.unfinished_uploads(bucket) == [orphan]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(orphan in w and "unknown to it" in w for w in warnings), warnings
    any_server.admin.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=orphan)


@pytest.mark.parametrize("any_server", ["moto"], indirect=True)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_request_failing_every_time_is_tried_max_attempts_times(
    any_server: Server, bucket: str, fault_proxy: StartProxy, in_tmp: Path, method: str
) -> None:
    """``TransferConfig.max_attempts`` is documented as the attempts per
    request, transient failures included: whatever layers retry, together
    they send a request that keeps failing exactly that many times."""
    key, data = stored_object(any_server, bucket, SIZES["single"], "attempts")
    proxy = fault_proxy(any_server)
    rule = proxy.add(Rule(Fault.INTERNAL_ERROR, method=method))
    manager = any_server.manager(TRANSIENT_CONFIG, host=proxy.endpoint)

    if method == "GET":
        assert manager.download(bucket, key) is False
    else:
        assert manager.upload(bucket, key, data) is False

    assert rule.applied == TRANSIENT_CONFIG.max_attempts
