"""The boto3 S3 clients: one per key pair, each from its own session."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from .config import TransferConfig


def make_client(host: str, access_key: str, secret: str, config: TransferConfig) -> Any:
    """An S3 client for ``host`` signing with this key pair only.

    Path-style addressing (what S3-compatible stores expect), bounded
    timeouts and botocore's standard retry mode, so an unreachable host fails
    in seconds. botocore's own checksum work is limited to what the API
    requires: the Rust core computes and checks the checksums instead.
    """
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret)
    return session.client(
        "s3",
        endpoint_url=host,
        region_name=config.region,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            # Room for every in-flight transfer's own request plus the part workers.
            max_pool_connections=max(
                32, 4 * config.concurrency, config.max_in_flight + config.concurrency
            ),
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
