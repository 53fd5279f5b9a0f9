"""A generated web site to deploy: pages, hashed assets, images, data."""

from __future__ import annotations

import random
from pathlib import Path

RULES = """\
rules:
  - match: "*.html"
    content_encoding: gzip
  - match: "*.css"
    content_encoding: br
  - match: "*.js"
    content_encoding: br
  - match: robots.txt
    cache_control: "public, max-age=60"
"""


def site_files(seed: int = 12) -> dict[str, bytes]:
    """About 300 files: 30 pages in nested folders, 40 content-hashed
    scripts and stylesheets, 200 images, 29 data files and robots.txt: 300."""
    rng = random.Random(seed)
    words = [rng.randbytes(4).hex() for _ in range(200)]

    def text(n: int) -> bytes:
        return " ".join(rng.choice(words) for _ in range(n)).encode()

    files: dict[str, bytes] = {"index.html": b"<h1>home</h1>" + text(300)}
    for n in range(25):
        files[f"blog/post-{n:02}/index.html"] = b"<article>" + text(200) + b"</article>"
    for name in ("about", "contact", "docs/intro", "docs/api"):
        files[f"{name}/index.html"] = b"<main>" + text(150) + b"</main>"
    for _ in range(20):
        files[f"assets/chunk-{rng.randbytes(5).hex()}.js"] = b"export const x=" + text(120)
        files[f"css/site.{rng.randbytes(4).hex()}.css"] = b"body{color:#123}" + text(80)
    for n in range(200):
        files[f"img/gallery/{n // 20:02}/photo-{n:03}.jpg"] = rng.randbytes(
            rng.randrange(500, 4000)
        )
    for n in range(29):
        files[f"data/item-{n:02}.json"] = b'{"item": "' + text(10) + b'"}'
    files["robots.txt"] = b"User-agent: *\n"
    return files


def write_site(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
