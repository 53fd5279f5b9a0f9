"""Objects other tools wrote, read by cdn-manager (issue 27): the AWS CLI,
boto3 with its defaults, with each checksum algorithm and with no checksum
at all, rclone and s3cmd, each writing a single-part and a multipart file
to moto and to Garage. cdn-manager must download every byte proven by the
strongest check the object carries and say which (never "size only"
where a checksum, an ETag or an MD5 can prove it), pull it, see it
unchanged on the next pull and push, keep the other tool's metadata through
a header update, and verify a receipt of it.

``docs/interop.md`` is the table of what each writer leaves and how
cdn-manager proves it; :data:`EXPECTED` pins it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cdn_manager import IntegrityError
from cdn_manager._sync.plan import ActionKind

from conftest import SMALL_PARTS, MiB, Server
from helpers.cli import cdn, config_for
from helpers.peers import AwsCli, Rclone, S3cmd, boto3_put

#: One PUT for every writer, and four 5 MiB parts (the last shorter).
FILES = {"single.bin": 100_000, "multipart.bin": 16 * MiB + 1234}

Write = Callable[[Server, Path, Path, str, str], None]


def _aws(server: Server, tmp: Path, local: Path, bucket: str, key: str) -> None:
    AwsCli.on(server, tmp).put(local, bucket, key)


def _boto3(algorithm: str | None, checksums: str = "when_supported") -> Write:
    def write(server: Server, tmp: Path, local: Path, bucket: str, key: str) -> None:
        boto3_put(server, local, bucket, key, algorithm, checksums)

    return write


def _rclone(server: Server, tmp: Path, local: Path, bucket: str, key: str) -> None:
    Rclone.on(server, tmp).put(local, bucket, key)


def _s3cmd(server: Server, tmp: Path, local: Path, bucket: str, key: str) -> None:
    S3cmd.on(server, tmp).put(local, bucket, key)


WRITERS: dict[str, Write] = {
    "aws-cli": _aws,
    "boto3": _boto3(None),
    "boto3-crc32c": _boto3("crc32c"),
    "boto3-crc64nvme": _boto3("crc64nvme"),
    "boto3-sha1": _boto3("sha1"),
    "boto3-sha256": _boto3("sha256"),
    "boto3-when-required": _boto3(None, "when_required"),
    "rclone": _rclone,
    "s3cmd": _s3cmd,
}

#: How a download of each writer's files is proven, (single-part,
#: multipart), where the object is fetched with a GET first (its size not
#: known beforehand), on each server.
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "moto": {
        "aws-cli": ("crc32 full-object", "crc32 composite 4 parts"),
        "boto3": ("crc32 full-object", "crc32 composite 4 parts"),
        "boto3-crc32c": ("crc32c full-object", "crc32c composite 4 parts"),
        # moto completes a CRC64NVME multipart upload with a 4-byte value,
        # which is no CRC64NVME: the multipart ETag proves the bytes.
        "boto3-crc64nvme": ("crc64nvme full-object", "md5 etag 4 parts"),
        "boto3-sha1": ("sha1 full-object", "sha1 composite 4 parts"),
        "boto3-sha256": ("sha256 full-object", "sha256 composite 4 parts"),
        "boto3-when-required": ("md5 etag", "md5 etag 4 parts"),
        "rclone": ("md5 etag", "md5 etag 4 parts"),
        "s3cmd": ("md5 etag", "md5 etag 4 parts"),
    },
}
EXPECTED["garage"] = {
    **EXPECTED["moto"],
    "boto3-crc64nvme": ("crc64nvme full-object", "crc64nvme full-object"),
}


@pytest.fixture
def peer_bucket(peer_server: Server) -> str:
    return peer_server.new_bucket()


def written_by(
    writer: str, server: Server, bucket: str, tmp: Path
) -> tuple[Path, dict[str, bytes]]:
    """The files of :data:`FILES` in ``tmp/source``, uploaded by ``writer``
    under ``w/``."""
    source = tmp / "source"
    source.mkdir()
    files = {}
    for name, size in FILES.items():
        files[name] = os.urandom(size)
        (source / name).write_bytes(files[name])
        WRITERS[writer](server, tmp, source / name, bucket, f"w/{name}")
    return source, files


@pytest.mark.parametrize("writer", WRITERS)
def test_cdn_manager_proves_and_syncs_what_another_tool_wrote(
    peer_server: Server, peer_bucket: str, tmp_path: Path, writer: str
) -> None:
    bucket = peer_bucket
    source, files = written_by(writer, peer_server, bucket, tmp_path)
    manager = peer_server.manager(SMALL_PARTS)
    expected = dict(zip(FILES, EXPECTED[peer_server.name][writer], strict=True))

    # A download: every byte, proven by the strongest check there is.
    results = manager.download_many(bucket, [(f"w/{n}", n) for n in FILES], tmp_path / "got")
    for name, result in zip(FILES, results, strict=True):
        assert result.error is None, (name, result.error)
        assert (tmp_path / "got" / name).read_bytes() == files[name], name
        assert result.verified == expected[name], name

    # A pull, then the same pull again: nothing left to move.
    pulled = tmp_path / "pulled"
    receipt = tmp_path / "receipt.json"
    report = manager.pull(manager.plan_pull(bucket, "w", pulled), receipt=receipt)
    assert report.ok and len(report.downloaded) == len(FILES)
    for name in FILES:
        assert (pulled / name).read_bytes() == files[name], name
        assert report.verified[f"w/{name}"] != "size only", name
    again = manager.plan_pull(bucket, "w", pulled, recheck=True)
    assert again.downloads == [], [(a.key, a.why) for a in again.downloads]

    # A receipt of it is verified by content.
    assert manager.verify_receipt(receipt) == []

    # A push of the same files sees their content unchanged (headers may differ).
    plan = manager.plan_deploy(source, bucket, "w", recheck=True)
    uploads = [(a.key, a.why) for a in plan.actions if a.kind is ActionKind.UPLOAD]
    assert uploads == []


@pytest.mark.parametrize("writer", ["rclone", "s3cmd"])
def test_a_header_update_keeps_another_tools_metadata(
    peer_server: Server, peer_bucket: str, tmp_path: Path, writer: str
) -> None:
    """rclone's ``mtime``/``md5chksum`` and s3cmd's ``s3cmd-attrs`` are
    theirs: a push neither counts them as a difference nor drops them."""
    bucket = peer_bucket
    source, _ = written_by(writer, peer_server, bucket, tmp_path)
    theirs = {
        name: peer_server.admin.head_object(Bucket=bucket, Key=f"w/{name}")["Metadata"]
        for name in FILES
    }
    assert all(theirs.values()), theirs
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        'rules:\n  - match: "*.bin"\n    cache_control: "public, max-age=60"\n'
        '    content_type: "application/x-interop"\n'
    )
    manager = peer_server.manager(SMALL_PARTS)

    plan = manager.plan_deploy(source, bucket, "w", rules=rules, recheck=True)
    assert {a.kind for a in plan.actions} == {ActionKind.UPDATE}, [
        (a.key, a.why) for a in plan.actions
    ]
    assert all(a.why.startswith("headers differ: cache_control") for a in plan.actions), [
        a.why for a in plan.actions
    ]
    assert manager.deploy(plan).ok

    for name in FILES:
        head = peer_server.admin.head_object(Bucket=bucket, Key=f"w/{name}")
        assert head["CacheControl"] == "public, max-age=60"
        assert head["ContentType"] == "application/x-interop"
        kept = {k: v for k, v in head["Metadata"].items() if not k.startswith("cdn-")}
        assert kept == theirs[name], name
    again = manager.plan_deploy(source, bucket, "w", rules=rules, recheck=True)
    assert {a.kind for a in again.actions} == {ActionKind.KEEP}


def test_an_object_only_its_size_proves_is_said_to_be_so(
    s3s_server: Server, tmp_path: Path
) -> None:
    """s3s-fs keeps no checksum of a boto3 multipart upload and answers a
    HEAD of part 1 with the whole object, so its multipart ETag cannot be
    checked: the download still lands, and says "size only", in the result,
    the command line's ``--json`` and once on stderr, whatever the count."""
    bucket = s3s_server.new_bucket()
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(16 * MiB + 1234))
    for key in ("a/1.bin", "a/2.bin"):
        boto3_put(s3s_server, local, bucket, key)
    config = config_for(s3s_server, tmp_path)

    download = cdn("download", bucket, "a/1.bin", tmp_path / "one.bin", "--json", config=config)
    assert download.code == 0, download.stderr
    assert json.loads(download.out)["verified"] == "size only"
    assert download.stderr.count("verified by size only") == 1, download.stderr

    pull = cdn("pull", f"{bucket}/a", tmp_path / "pulled", "--json", config=config)
    assert pull.code == 0, pull.stderr
    assert json.loads(pull.out)["verified"] == {"a/1.bin": "size only", "a/2.bin": "size only"}
    assert pull.stderr.count("verified by size only") == 1, pull.stderr
    assert (tmp_path / "pulled" / "2.bin").read_bytes() == local.read_bytes()


def test_rclones_md5chksum_proves_an_object_and_is_never_trusted_alone(
    s3s_server: Server, tmp_path: Path
) -> None:
    """On s3s-fs an rclone multipart object has no checksum and no
    layout to check its multipart ETag by, but rclone's ``md5chksum``
    metadata: the download is proven by it, and a wrong claim fails the
    download instead of passing it."""
    bucket = s3s_server.new_bucket()
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(16 * MiB + 1234))
    Rclone.on(s3s_server, tmp_path).put(local, bucket, "r/big.bin")
    manager = s3s_server.manager(SMALL_PARTS)

    (result,) = manager.download_many(bucket, [("r/big.bin", "got.bin")], tmp_path)
    assert result.error is None and result.verified == "md5 md5chksum"
    assert (tmp_path / "got.bin").read_bytes() == local.read_bytes()

    head = s3s_server.admin.head_object(Bucket=bucket, Key="r/big.bin")
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    s3s_server.admin.copy_object(
        Bucket=bucket,
        Key="r/big.bin",
        CopySource={"Bucket": bucket, "Key": "r/big.bin"},
        Metadata={**head["Metadata"], "md5chksum": wrong},
        MetadataDirective="REPLACE",
    )
    (result,) = manager.download_many(bucket, [("r/big.bin", "bad.bin")], tmp_path)
    assert isinstance(result.error, IntegrityError), result
    assert "md5chksum" in str(result.error)
    assert not (tmp_path / "bad.bin").exists()
