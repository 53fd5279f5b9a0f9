"""An embedded S3 server on 127.0.0.1 for trying cdn-manager without an
account: moto's server with IAM enforced, one bucket, a read-only user and a
write-only user. Needs the ``server`` extra (``pip install cdn-manager[server]``).

moto keeps its state and its IAM switch per process, so a second moto server
in the same process would share both: ``python -m cdn_manager.local_server
BUCKET`` runs one in a process of its own, prints its endpoint and keys as one
JSON line, and stops when its standard input closes.

Starting it changes moto in this process (``_moto_patches``):
presigned URLs are checked (signature, expiry, the key's policies) instead of
failing with HTTP 500, and a ranged GET reads only its range instead of
copying the whole object.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

from .._credentials import CDNCredentials


def reader_policy(bucket: str) -> dict[str, Any]:
    """What the read key may do: fetch objects of ``bucket``, and list it so
    that a missing object is a 404 (``NoSuchKey``) rather than a 403, and
    list its unfinished multipart uploads, so that the manager can find and
    abort one whose creation's answer was lost (the write key may not list:
    it would learn the names of objects being written)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Sid": "ListBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
        ],
    }


def writer_policy(bucket: str) -> dict[str, Any]:
    """What the write key may do: store and replace objects of ``bucket``
    (multipart included, which S3 authorises as ``s3:PutObject``), abort
    its multipart uploads, and delete objects (``check`` removes its probes)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:DeleteObject",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }


#: The request names moto 5.2.6 and later check (each request's own S3
#: operation) for the IAM actions moto 5.2.5, like AWS, checks: a policy
#: written with AWS's names is refused there. The embedded server grants
#: both, so that each key may do the same, and no more, under either.
MOTO_OPERATIONS = {
    "s3:GetObject": ("s3:HeadObject",),
    "s3:ListBucket": ("s3:ListObjectsV2", "s3:ListObjects"),
    "s3:ListBucketMultipartUploads": ("s3:ListMultipartUploads",),
    "s3:PutObject": (
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:CompleteMultipartUpload",
        "s3:CopyObject",
    ),
    "s3:ListMultipartUploadParts": ("s3:ListParts",),
}


def with_moto_operations(policy: dict[str, Any]) -> dict[str, Any]:
    """``policy`` with every action also granted under the names moto 5.2.6
    and later check (:data:`MOTO_OPERATIONS`)."""
    statements = []
    for statement in policy["Statement"]:
        actions = list(statement["Action"])
        actions += [alias for action in actions for alias in MOTO_OPERATIONS.get(action, ())]
        statements.append({**statement, "Action": actions})
    return {**policy, "Statement": statements}


_ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class LocalServer:
    """A running embedded server; ``stop()`` ends it."""

    endpoint: str
    bucket: str
    #: The read-only and write-only key pairs, ready for ``CDNManager``.
    credentials: CDNCredentials
    #: An all-powerful key pair, for setup and inspection.
    admin_key: tuple[str, str]
    _server: Any

    def stop(self) -> None:
        self._server.stop()


def start_local_server(bucket: str = "cdn-demo", port: int | None = None) -> LocalServer:
    """Starts moto on 127.0.0.1 (a port the kernel picks unless given),
    creates ``bucket`` and the two users (:func:`reader_policy` and
    :func:`writer_policy`, :func:`with_moto_operations`), then switches IAM
    enforcement on."""
    import boto3
    from moto.server import ThreadedMotoServer

    from . import _moto_patches as moto_patches

    moto_patches.apply()
    # The server's per-request access log is noise for a user of this helper.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Port 0 binds at once: a port found free and bound later can be taken
    # in between, and moto's server then waits forever for it.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or 0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    try:
        session = boto3.session.Session(
            aws_access_key_id="setup", aws_secret_access_key="setup-only"
        )
        iam = session.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        keys: dict[str, tuple[str, str]] = {}
        for user, policy in (
            ("cdn-reader", with_moto_operations(reader_policy(bucket))),
            ("cdn-writer", with_moto_operations(writer_policy(bucket))),
            ("cdn-admin", _ADMIN_POLICY),
        ):
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        session.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=bucket
        )
        # Enforcement is global to the server: switch it on once setup is done.
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()
    except BaseException:
        server.stop()
        raise
    # moto signs for any region; the file says which, as it would for S3.
    credentials = CDNCredentials(
        endpoint, *keys["cdn-reader"], *keys["cdn-writer"], region="us-east-1"
    )
    return LocalServer(endpoint, bucket, credentials, keys["cdn-admin"], server)


def main() -> None:
    """Serves until standard input closes (the parent exited or closed it)."""
    server = start_local_server(bucket=sys.argv[1] if len(sys.argv) > 1 else "cdn-demo")
    try:
        c = server.credentials
        description = {
            "endpoint": server.endpoint,
            "bucket": server.bucket,
            "reader": [c.downloader_access_key, c.downloader_access_secret],
            "writer": [c.uploader_access_key, c.uploader_access_secret],
            "admin": list(server.admin_key),
        }
        print(json.dumps(description), flush=True)
        sys.stdin.read()
    finally:
        server.stop()
