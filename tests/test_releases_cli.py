"""``releases``, ``rollback``, ``prune`` and ``--invalidate purge:URL`` as
users run them (subprocesses against moto), and the purge's requests as a
cache receives them (a recording HTTP server: Varnish's and nginx
cache-purge's convention; the real nginx is test_browser_cache.py's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Server
from helpers.cli import cdn, clean_env, config_for, make_tree
from helpers.leaks import new_secret


@dataclass
class PurgeCache:
    """An HTTP server that records each ``PURGE`` (path and headers) and
    answers ``status`` (404 for paths it "never cached")."""

    status: int = 200
    absent: set[str] = field(default_factory=set)
    purged: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def purge_cache() -> Iterator[tuple[str, PurgeCache]]:
    state = PurgeCache()

    class Handler(BaseHTTPRequestHandler):
        def do_PURGE(self) -> None:
            with state.lock:
                state.purged.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            status = 404 if self.path in state.absent else state.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()
    thread.join()


def test_push_releases_rollback_prune_from_the_command_line(
    moto_server: Server, tmp_path: Path, purge_cache: tuple[str, PurgeCache]
) -> None:
    base, cache = purge_cache
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    site = tmp_path / "site"
    token = new_secret("purge-token")
    env = clean_env(CDN_MANAGER_PURGE_TOKEN=token, CDN_MANAGER_PURGE_HEADER="Fastly-Key")
    purge = ("--invalidate", f"purge:{base}/www/")
    make_tree(site, {"index.html": b"<p>1</p>", "docs/index.html": b"d", "a.11111111.js": b"1"})
    first = cdn("push", site, f"{bucket}/www", "--delete", *purge, config=config, env=env)
    assert first.code == 0, first.stderr
    assert "recorded release 1 (3 files)" in first.out.splitlines()
    assert cache.purged == []  # nothing was overwritten

    (site / "index.html").write_bytes(b"<p>2</p>")
    (site / "docs/index.html").write_bytes(b"d2")
    (site / "a.11111111.js").rename(site / "a.22222222.js")
    second = cdn("push", site, f"{bucket}/www", "--delete", *purge, config=config, env=env)
    assert second.code == 0, second.stderr
    lines = second.out.splitlines()
    assert "retained www/a.11111111.js (release 1 references it)" in lines
    assert f"invalidation on purge:{base}/www/ for 4 paths (purged)" in lines
    # The overwritten pages, each by its name and its folder's URL; never
    # the new or retained script.
    assert sorted(path for path, _ in cache.purged) == [
        "/www/",
        "/www/docs/",
        "/www/docs/index.html",
        "/www/index.html",
    ]
    assert {headers.get("fastly-key") for _, headers in cache.purged} == {token}
    assert token not in second.out + second.stderr

    listed = cdn("releases", f"{bucket}/www", config=config)
    assert listed.code == 0, listed.stderr
    rows = [line.split() for line in listed.out.splitlines()]
    assert rows[0] == ["release", "age", "files", "size", "changes"]
    assert rows[1][0] == "2" and rows[1][-4:] == ["+1", "~2", "-1,", "live"]
    assert rows[2][0] == "1" and rows[2][-3:] == ["+3", "~0", "-0"]

    dry = cdn("rollback", f"{bucket}/www", "--dry-run", config=config)
    assert dry.code == 0, dry.stderr
    assert "would record release 3 (rollback to release 1, 3 files)" in dry.out.splitlines()
    assert dry.out.splitlines()[-1].startswith(f"rollback {bucket}/www/: 2 to restore (")
    cache.purged.clear()
    cache.absent.add("/www/docs/")  # a cache that never held it answers 404
    done = cdn("rollback", f"{bucket}/www", *purge, "--json", config=config, env=env).json()
    assert done["ok"] and done["command"] == "rollback"
    assert done["release"]["id"] == 3 and done["release"]["rollback_of"] == 1
    assert sorted(item["key"] for item in done["transferred"]) == [
        "www/docs/index.html",
        "www/index.html",
    ]
    assert all(
        item["origin"].startswith(".cdn-manager/www/content/") for item in done["transferred"]
    )
    assert len(cache.purged) == 4
    body = moto_server.admin.get_object(Bucket=bucket, Key="www/index.html")["Body"].read()
    assert body == b"<p>1</p>"
    latest = cdn("releases", f"{bucket}/www", "--json", config=config).json()["releases"][0]
    assert (latest["id"], latest["kind"], latest["rollback_of"], latest["live"]) == (
        3,
        "rollback",
        1,
        True,
    )

    pruned = cdn(
        "prune", f"{bucket}/www", "--keep-releases", "1", "--keep-days", "0", config=config
    )
    assert pruned.code == 0, pruned.stderr
    assert "deleted www/a.22222222.js" in pruned.out.splitlines()
    assert "deleted 2 kept copies no release in the window needs" in pruned.out.splitlines()
    assert pruned.out.splitlines()[-1].startswith(f"prune {bucket}/www/: 1 deleted, 0 unchanged")

    # Release 2's page copies are gone: it cannot be half-restored.
    refused = cdn("rollback", f"{bucket}/www", "--to", "2", config=config)
    assert refused.code == 1
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"cdn-manager: error: release 2 of {bucket}/www/ cannot be restored")
    assert "www/a.22222222.js" in line and "www/docs/index.html" in line


def test_a_cache_that_refuses_the_purge_fails_the_invalidation_not_the_deploy(
    moto_server: Server, tmp_path: Path, purge_cache: tuple[str, PurgeCache]
) -> None:
    base, cache = purge_cache
    cache.status = 403
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site = tmp_path / "site"
    make_tree(site, {"index.html": b"1"})
    manager.deploy(manager.plan_deploy(site, bucket, "www"))
    (site / "index.html").write_bytes(b"2")
    report = manager.deploy(manager.plan_deploy(site, bucket, "www"), invalidate=f"purge:{base}/")
    assert report.failed == [] and report.release is not None
    assert report.invalidation_error is not None
    assert report.invalidation_error.reason == "PurgeRefused"
    assert "HTTP 403" in str(report.invalidation_error)
    with pytest.raises(ValueError, match="purge:http"):
        manager.deploy(manager.plan_deploy(site, bucket, "www"), invalidate="purge:ftp://x/")
