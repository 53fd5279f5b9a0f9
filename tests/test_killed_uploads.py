"""A multipart upload that cannot be resumed (from memory, or a deploy's)
whose process is killed (SIGKILL) before it can abort it is aborted by the
next upload through the same endpoint: while it runs, it is journaled by
its id alone, and a journal whose process is gone is swept at once.

Found by the soak (``make soak``): a Dask worker killed during a push left
an unfinished upload of a large file that no journal knew, so nothing could
ever abort it (moto lists every upload as begun in 2010, s3s-fs lists none,
so the search for uploads whose creation was not answered cannot find it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager

from conftest import SLOW_RATE, MiB, Server
from helpers.cli import clean_env, config_for, wait_until
from helpers.faultproxy import FaultProxy
from helpers.resumable import CONFIG

RESUMABLE = Path(__file__).with_name("helpers") / "resumable.py"
SIZE = 3 * CONFIG.part_size + 2 * MiB


@pytest.fixture(params=["moto", "s3s", "garage"])
def server(request: pytest.FixtureRequest) -> Server:
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


def journals_of(bucket: str) -> list[dict[str, object]]:
    """The headers of the upload journals (the suite's cache folder) of ``bucket``."""
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "cdn-manager" / "uploads"
    headers = []
    for path in folder.glob("*.cdn-upload") if folder.exists() else []:
        lines = path.read_text().splitlines()
        if lines and json.loads(lines[0])["bucket"] == bucket:
            headers.append(json.loads(lines[0]))
    return headers


@pytest.mark.parametrize("command", ["put", "deploy"])
def test_a_killed_upload_that_cannot_resume_is_aborted_by_the_next_upload(
    server: Server, tmp_path: Path, command: str
) -> None:
    bucket = server.new_bucket()
    site = tmp_path / "site"
    site.mkdir()
    (site / "big.bin").write_bytes(os.urandom(SIZE))
    with FaultProxy(server.endpoint, rate=SLOW_RATE) as slow:
        config = config_for(server, tmp_path, host=slow.endpoint)
        what = site / "big.bin" if command == "put" else site
        process = subprocess.Popen(
            [sys.executable, str(RESUMABLE), command, str(config), bucket, "up/big.bin", str(what)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "started\n"
        # A part reaching the server means the upload was journaled first.
        wait_until(lambda: server.parts_arrived(bucket), 120, "a part of the upload")
        process.kill()
        process.communicate(timeout=60)

        # (A deploy may be sending the file and its release's kept copy.)
        left = server.unfinished_uploads(bucket)
        journals = journals_of(bucket)
        assert left and sorted(j["upload_id"] for j in journals) == sorted(left)
        assert all(j["resumable"] is False for j in journals)

        # Any upload through the same endpoint, from another process's manager.
        creds = CDNCredentials(**{**server.credentials.__dict__, "host": slow.endpoint})
        with CDNManager(creds, CONFIG) as manager:
            manager.put_bytes(bucket, "small.txt", b"the next upload")
    assert server.unfinished_uploads(bucket) == []
    assert journals_of(bucket) == []


def test_an_upload_from_memory_leaves_no_journal_when_it_ends(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.put_bytes(bucket, "big.bin", os.urandom(SIZE))
    assert journals_of(bucket) == []
    assert moto_server.unfinished_uploads(bucket) == []
