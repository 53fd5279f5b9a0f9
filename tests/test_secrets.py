"""Secrets never reach a repr, a log line or an exception message.

The suite-wide proof is the autouse ``no_secret_leaks`` fixture (conftest.py):
every test's cdn_manager log records and every ``CDNError`` message are
checked against every secret the suite used. These tests show that guard
sees what it must, and cover what it cannot: reprs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager

from conftest import BUCKET, Server
from helpers.leaks import leaked, new_secret


def test_reprs_of_credentials_and_manager_show_no_secret(iam_server: Server) -> None:
    creds = iam_server.credentials
    manager = CDNManager(creds)
    for text in (repr(creds), str(creds), repr(manager), str(manager), f"{creds} {manager}"):
        assert creds.downloader_access_key in text
        assert creds.uploader_access_key in text
        assert not leaked([text])
        for secret in creds.secrets():
            assert secret not in text


def test_leak_guard_recognises_a_known_secret_anywhere_in_a_text() -> None:
    secret = new_secret("canary")
    assert leaked([f"prefix {secret} suffix"]) == [(secret, f"prefix {secret} suffix")]
    assert leaked([secret[:-1]]) == []


def test_leak_guard_sees_the_errors_and_log_lines_of_rejected_keys(
    iam_server: Server,
    workdir: Path,
    cdn_errors: list[str],
    cdn_log: pytest.LogCaptureFixture,
) -> None:
    wrong = {
        "downloader_access_secret": new_secret("wrong-read"),
        "uploader_access_secret": new_secret("wrong-write"),
    }
    manager = iam_server.manager(**wrong)
    assert manager.upload(BUCKET, "secrets/x", b"x") is False
    assert manager.download(BUCKET, "secrets/x") is False
    assert manager.check(BUCKET).ok is False
    # What the guard will check at teardown: the failures are really there.
    assert sum("SignatureDoesNotMatch" in m for m in cdn_errors) >= 2
    errors = [r for r in cdn_log.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert not leaked([*cdn_errors, *(r.getMessage() for r in errors)])
    for secret in wrong.values():
        assert secret not in repr(manager)


def test_config_errors_never_echo_a_secret() -> None:
    secret = new_secret("config")
    bad = [
        {"host": "ftp://x"},
        {"host": f"http://user:{secret}@x"},
        {"uploader_access_key": ""},
        {"downloader_access_secret": 12345},
    ]
    for override in bad:
        fields = {
            "host": "http://127.0.0.1:9000",
            "downloader_access_key": "r",
            "downloader_access_secret": secret,
            "uploader_access_key": "w",
            "uploader_access_secret": secret,
            **override,
        }
        with pytest.raises(ValueError) as caught:
            CDNCredentials(**fields)  # type: ignore[arg-type]
        assert secret not in str(caught.value)
