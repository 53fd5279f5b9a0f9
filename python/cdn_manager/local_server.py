"""An embedded S3 server on 127.0.0.1 for trying cdn-manager without an
account: moto's server with IAM enforced, one bucket, a read-only user and a
write-only user. Needs the ``server`` extra (``pip install cdn-manager[server]``).
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from dataclasses import dataclass
from typing import Any

from .credentials import CDNCredentials

#: What the read key may do: fetch objects (and list, so a missing key is a 404).
READER_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::*"],
        }
    ],
}
#: What the write key may do: store, replace and delete objects, multipart included.
WRITER_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": ["arn:aws:s3:::*"],
        }
    ],
}
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_local_server(bucket: str = "cdn-demo", port: int | None = None) -> LocalServer:
    """Starts moto on 127.0.0.1 (a free port unless given), creates ``bucket``
    and the two users, then switches IAM enforcement on."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    # The server's per-request access log is noise for a user of this helper.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        session = boto3.session.Session(
            aws_access_key_id="setup", aws_secret_access_key="setup-only"
        )
        iam = session.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        keys: dict[str, tuple[str, str]] = {}
        for user, policy in (
            ("cdn-reader", READER_POLICY),
            ("cdn-writer", WRITER_POLICY),
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
    credentials = CDNCredentials(endpoint, *keys["cdn-reader"], *keys["cdn-writer"])
    return LocalServer(endpoint, bucket, credentials, keys["cdn-admin"], server)
