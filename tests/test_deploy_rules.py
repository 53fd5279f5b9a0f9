"""Headers and the CDN: a rules file's mistakes, header changes when the
write key may not copy, CloudFront's path limits, Cloudflare's purge."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_deploy import deploy

from cdn_manager._deploy.invalidate import MAX_PATHS, MAX_WILDCARDS, cdn_paths

from conftest import Server, StartProxy
from helpers.leaks import remember
from helpers.site import RULES, write_site


def test_header_changes_are_uploaded_again_when_the_write_key_may_not_copy(
    moto_server: Server, tmp_path: Path, fault_proxy: StartProxy, cdn_log: pytest.LogCaptureFixture
) -> None:
    from helpers.faultproxy import Fault, Rule

    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    write_site(site, {"a.txt": b"a", "b.txt": b"b"})
    rules.write_text(RULES)
    deploy(manager, manager.plan_deploy(site, bucket, rules=rules))
    rules.write_text(RULES + '  - match: "*.txt"\n    cache_control: no-store\n')

    proxy = fault_proxy(moto_server)
    # AWS refuses CopyObject to a key without s3:GetObject on the source.
    proxy.add(Rule(Fault.DENY, at=None, method="PUT", header="x-amz-copy-source"))
    denied = moto_server.manager(host=proxy.endpoint)
    plan = denied.plan_deploy(site, bucket, rules=rules)
    assert sorted(u.key for u in plan.updates) == ["a.txt", "b.txt"]
    report = deploy(denied, plan)
    assert sorted(u.key for u in report.reuploaded) == ["a.txt", "b.txt"]
    assert report.updated == []
    for key in ("a.txt", "b.txt"):
        assert moto_server.admin.head_object(Bucket=bucket, Key=key)["CacheControl"] == "no-store"
    notices = [r.getMessage() for r in cdn_log.records if "may not copy" in r.getMessage()]
    assert len(notices) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{match: '*.css', content_encoding: zstd}]", "must be one of gzip, br, identity"),
        ("rules: [{cache_control: x}]", "rule 1: 'match' must be a glob pattern"),
        ("rules: [{match: a, colour: red}]", "rule 1: unknown field 'colour'"),
        ("rules: [{match: a, metadata: {cdn-crc32: x}}]", "not starting with 'cdn-'"),
        ("entry: 7", "'entry' must be a list of glob patterns"),
        ("rules: [", "invalid YAML"),
    ],
)
def test_a_bad_rules_file_is_one_clear_error(
    moto_server: Server, tmp_path: Path, text: str, message: str
) -> None:
    from cdn_manager import ConfigError

    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    (tmp_path / "site").mkdir()
    with pytest.raises(ConfigError, match=r"rules file .*rules\.yaml") as raised:
        moto_server.manager().plan_deploy(tmp_path / "site", "cdn-test", rules=rules)
    assert message in str(raised.value)


def test_invalidation_paths_stay_within_cloudfront_limits() -> None:
    keys = [f"site/a{n % 3}/page-{n}.html" for n in range(MAX_PATHS)]
    assert len(cdn_paths(keys)) == MAX_PATHS
    assert cdn_paths(["site/a b/x y.html"]) == ["/site/a%20b/x%20y.html"]
    many = [*keys, "site/top.html"]
    assert cdn_paths(many) == ["/site/*", "/site/a0/*", "/site/a1/*", "/site/a2/*"]
    wide = [f"site/f{n}/x/page-{m}.html" for n in range(40) for m in range(80)]
    paths = cdn_paths(wide)
    assert len(paths) <= MAX_WILDCARDS and paths == ["/site/*"]


class PurgeAPI(BaseHTTPRequestHandler):
    """Cloudflare's documented purge endpoint, on 127.0.0.1."""

    token = "cf-token-" + os.urandom(6).hex()
    seen: ClassVar[list[tuple[str, list[str]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        authorised = self.headers.get("Authorization") == f"Bearer {self.token}"
        self.seen.append((self.path, body["files"]))
        answer: dict[str, Any] = {"success": authorised, "errors": [], "messages": []}
        if authorised:
            answer["result"] = {"id": f"purge-{len(self.seen)}"}
        else:
            answer["errors"] = [{"code": 10000, "message": "Authentication error"}]
        data = json.dumps(answer).encode()
        self.send_response(200 if authorised else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_cloudflare_purges_the_public_urls_in_batches_of_100(
    moto_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remember(PurgeAPI.token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), PurgeAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CDN_MANAGER_CLOUDFLARE_API", f"http://127.0.0.1:{server.server_port}/v4")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", PurgeAPI.token)
    try:
        bucket = moto_server.new_bucket()
        manager = moto_server.manager()
        site, rules = tmp_path / "site", tmp_path / "rules.yaml"
        write_site(site, {f"p/{n:03}.html": b"v1" for n in range(150)})
        write_site(site, {"app.0badc0de.js": b"1", "new page.html": b"x"})
        rules.write_text(RULES + "public_url: https://www.example.com/docs/\n")
        deploy(manager, manager.plan_deploy(site, bucket, "site", rules=rules))
        write_site(site, {f"p/{n:03}.html": b"v2" for n in range(150)})
        write_site(site, {"app.0badc0de.js": b"2"})  # immutable: never purged
        report = deploy(
            manager,
            manager.plan_deploy(site, bucket, "site", rules=rules),
            invalidate="cloudflare:0123abcd",
        )
        assert report.invalidation is not None
        assert report.invalidation.id == "purge-1,purge-2"
        urls = [f"https://www.example.com/docs/p/{n:03}.html" for n in range(150)]
        assert [path for path, _ in PurgeAPI.seen] == ["/v4/zones/0123abcd/purge_cache"] * 2
        assert [len(files) for _, files in PurgeAPI.seen] == [100, 50]
        assert sorted(f for _, files in PurgeAPI.seen for f in files) == urls

        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "wrong")
        write_site(site, {"p/000.html": b"v3"})
        refused = manager.deploy(
            manager.plan_deploy(site, bucket, "site", rules=rules),
            invalidate="cloudflare:0123abcd",
        )
        assert refused.uploaded and not refused.ok
        assert str(refused.invalidation_error).endswith("HTTP 403: Authentication error")
    finally:
        server.shutdown()
