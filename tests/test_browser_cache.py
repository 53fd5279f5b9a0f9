"""Proof through a real cache in a real browser: a small single-page app,
served from moto through Varnish (every page cached for 10 minutes as a
CDN edge would, ``PURGE`` dropping a page; why not nginx's cache-purge
module: ``helpers/varnish.py``), loaded in headless Chromium. Release 2
renames the lazily imported chunk and is pushed with ``--delete`` and
``--invalidate purge:``; then release 1 is rolled back to.

- a tab opened on release 1 still loads its chunk after release 2 is live
  (retained, 200, no console error);
- a fresh tab shows release 2, not the release 1 the cache held;
- after the rollback, a fresh tab shows release 1;
- the browser's network log holds no 4xx or 5xx in the whole scenario.

A screenshot of each stage is kept in ``test-output/browser-cache/``. The
deploys and the rollback are the command line's, as users run them. With
``CI=true`` a missing piece (varnish, chromium, chromium-driver, selenium)
fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Server
from helpers import browser as chromium
from helpers import varnish
from helpers.cli import cdn, config_for
from helpers.missing import missing

pytestmark = pytest.mark.browser

#: Where the screenshots stay after the run (CI keeps the folder).
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "browser-cache"
RULES = """\
rules:
  - match: "*.html"
    content_encoding: gzip
  - match: "*.js"
    content_encoding: gzip
"""


def _hashed(stem: str, body: str) -> str:
    return f"{stem}.{hashlib.sha256(body.encode()).hexdigest()[:10]}.js"


def build(folder: Path, release: int) -> tuple[str, str]:
    """The app of ``release`` in ``folder`` (replacing what was there), as a
    bundler leaves it: a page, its entry script, and a chunk the script
    imports on a click, both named by their content's hash. Returns the
    two scripts' names."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "assets").mkdir(parents=True)
    chunk_body = f'export const message = "chunk of release {release}";\n'
    chunk = _hashed("chunk", chunk_body)
    app_body = (
        f'document.body.dataset.app = "release {release}";\n'
        'document.getElementById("load").addEventListener("click", async () => {\n'
        f'  const chunk = await import("./{chunk}");\n'
        '  document.getElementById("chunk").textContent = chunk.message;\n'
        "});\n"
    )
    app = _hashed("app", app_body)
    (folder / "assets" / chunk).write_text(chunk_body)
    (folder / "assets" / app).write_text(app_body)
    (folder / "index.html").write_text(
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>release {release}</title>"
        f'<script type="module" src="/assets/{app}"></script></head>\n'
        f'<body><h1 id="release">release {release}</h1>'
        '<button id="load">load the chunk</button><p id="chunk"></p></body></html>\n'
    )
    return app, chunk


def _required() -> list[str]:
    return [*varnish.missing(), *chromium.missing()]


@pytest.fixture
def parts() -> None:
    lacking = _required()
    if not lacking:
        return
    missing("the browser-through-cache test needs " + ", ".join(lacking))


@pytest.fixture
def site_cache(
    moto_server: Server, tmp_path: Path, parts: None
) -> Iterator[tuple[varnish.VarnishCache, str]]:
    """Varnish serving ``BUCKET/www`` of a fresh bucket, which anyone may
    read (as a bucket served as a site); with the bucket."""
    bucket = moto_server.new_bucket()
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    moto_server.admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    port = int(moto_server.endpoint.rsplit(":", 1)[1])
    cache = varnish.VarnishCache(port, f"/{bucket}/www", tmp_path / "varnish")
    yield cache, bucket
    cache.close()


@pytest.fixture
def browser(tmp_path: Path, parts: None) -> Iterator[chromium.Browser]:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    profile = tmp_path / "chromium"
    profile.mkdir()
    opened = chromium.Browser(profile, SCREENSHOTS)
    yield opened
    opened.close()


def test_an_open_tab_survives_a_deploy_and_a_rollback_through_a_purged_cache(
    moto_server: Server,
    site_cache: tuple[varnish.VarnishCache, str],
    browser: chromium.Browser,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    record_property("screenshots", str(SCREENSHOTS))
    cache, bucket = site_cache
    config = config_for(moto_server, tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    site = tmp_path / "site"
    push = ("push", site, f"{bucket}/www", "--rules", rules, "--delete")
    purge = ("--invalidate", f"purge:{cache.url}")

    # Release 1, opened in a tab; the cache now holds its page.
    _, chunk_1 = build(site, 1)
    first = cdn(*push, *purge, config=config)
    assert first.code == 0, first.stderr
    old_tab = browser.open(cache.url)
    browser.wait_for_text("release", "release 1")
    assert browser.attribute("document.body.dataset.app") == "release 1"
    browser.screenshot("1-release-1-open")
    assert cache.get("/").headers["X-Cache-Status"] == "HIT"

    # Release 2 renames the chunk; --delete retains release 1's, the purge
    # drops the cached page.
    _, chunk_2 = build(site, 2)
    second = cdn(*push, *purge, config=config)
    assert second.code == 0, second.stderr
    assert f"retained www/assets/{chunk_1} (release 1 references it)" in second.out
    assert f"invalidation on purge:{cache.url} for 2 paths (purged)" in second.out
    # "/" and "/index.html" are one cached page: two purges (sent side by
    # side, so both may find it), no other object.
    assert cache.counter("MAIN.n_purges") == 2
    assert cache.counter("MAIN.n_obj_purged") in (1, 2)

    # The old tab's click still finds its chunk.
    browser.to(old_tab)
    browser.click("load")
    browser.wait_for_text("chunk", "chunk of release 1")
    browser.screenshot("2-old-tab-loads-its-chunk-after-release-2")
    logs = browser.collect()
    fetched = [r for r in logs.responses if r.url.endswith(chunk_1)]
    assert [(r.status, r.cached) for r in fetched] == [(200, False)]

    # A fresh tab: release 2, not the page the cache held.
    browser.open(cache.url)
    browser.wait_for_text("release", "release 2")
    assert browser.attribute("document.body.dataset.app") == "release 2"
    browser.click("load")
    browser.wait_for_text("chunk", "chunk of release 2")
    browser.screenshot("3-fresh-tab-shows-release-2")
    assert any(r.url.endswith(chunk_2) and r.status == 200 for r in browser.collect().responses)

    # Rollback to release 1 (the one before the latest), then a fresh tab.
    rolled = cdn("rollback", f"{bucket}/www", *purge, config=config)
    assert rolled.code == 0, rolled.stderr
    assert "recorded release 3 (rollback to release 1, 3 files)" in rolled.out
    browser.open(cache.url)
    browser.wait_for_text("release", "release 1")
    assert browser.attribute("document.body.dataset.app") == "release 1"
    browser.click("load")
    browser.wait_for_text("chunk", "chunk of release 1")
    browser.screenshot("4-fresh-tab-after-rollback-shows-release-1")

    # Nothing failed in any tab, at any stage.
    logs = browser.collect()
    assert logs.bad() == []
    assert logs.responses, "the performance log recorded no response"
    assert sorted(p.name for p in SCREENSHOTS.iterdir()) == [
        "1-release-1-open.png",
        "2-old-tab-loads-its-chunk-after-release-2.png",
        "3-fresh-tab-shows-release-2.png",
        "4-fresh-tab-after-rollback-shows-release-1.png",
    ]
