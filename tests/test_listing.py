"""Listing a large tree one folder per thread (``cdn_manager._operations.listing``):
the same keys in the same order as a flat listing, on every server, and
threads that stop with the reader.

The first tests drive ``list_prefix`` with an in-memory ListObjectsV2 of a
small page size, so trees of every shape stay cheap; the last ones list
trees of more than one 1,000-key page on the real servers.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cdn_manager import CDNError
from cdn_manager._operations.listing import AHEAD, list_prefix
from cdn_manager._planes.pages import QUERY_NAMES
from cdn_manager._planes.protocol import ListPage

from conftest import Server

HOSTILE = ["a b", "é", "%2F", "+x", "a!b", "a.b", "a0", "a~", "日本"]


class Store:
    """ListObjectsV2 over a set of keys (S3's order, ``page`` keys or
    folders a page), recording each request's parameters."""

    def __init__(self, keys: set[str], page: int) -> None:
        self.keys = sorted(keys)
        self.page = page
        self.requests: list[dict[str, Any]] = []
        #: Every thread that asked for a page.
        self.callers: set[threading.Thread] = set()
        self.lock = threading.Lock()

    def __call__(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            self.requests.append(params)
            self.callers.add(threading.current_thread())
        prefix, delimiter = params["Prefix"], params.get("Delimiter")
        items: list[tuple[str, bool]] = []  # (name, is a folder)
        for key in self.keys:
            if not key.startswith(prefix):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            item = (key[: cut + 1], True) if cut >= 0 else (key, False)
            if not items or items[-1] != item:
                items.append(item)
        start = int(params.get("ContinuationToken", 0))
        chosen = items[start : start + self.page]
        answer: dict[str, Any] = {
            "Contents": [{"Key": k, "Size": len(k)} for k, folder in chosen if not folder],
            "CommonPrefixes": [{"Prefix": k} for k, folder in chosen if folder],
            "IsTruncated": start + self.page < len(items),
        }
        if answer["IsTruncated"]:
            answer["NextContinuationToken"] = str(start + self.page)
        return answer


def tree(rng: random.Random, prefix: str) -> set[str]:
    """Folders of uneven sizes, nested, with files beside them that sort
    before, between and after the folders' names."""
    keys = set()
    for folder in rng.sample(["a", "b", "c", "a.b", "日本", "z"], rng.randint(1, 6)):
        for i in range(rng.randint(0, 40)):
            depth = "/".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, 2)))
            keys.add(f"{prefix}{folder}/{depth}/{i}" if depth else f"{prefix}{folder}/{i}")
    keys.update(prefix + name for name in rng.sample(HOSTILE, rng.randint(0, len(HOSTILE))))
    keys.add(prefix.rstrip("/") + "-beside-the-prefix")  # below a prefix without the slash
    return keys


@pytest.mark.parametrize("seed", range(40))
def test_the_same_keys_in_the_same_order_as_a_flat_listing(seed: int) -> None:
    rng = random.Random(seed)
    prefix = rng.choice(["", "site/", "site", "deep/er/"])
    keys = tree(rng, prefix) | tree(rng, "elsewhere/")
    store = Store(keys, page=rng.choice([1, 2, 7, 30]))
    parallel = rng.choice([1, 2, 4, 32])

    listed = [entry["Key"] for entry in list_prefix(store, prefix, parallel)]

    assert listed == sorted(k for k in keys if k.startswith(prefix))
    assert threads_end()


def test_folders_are_listed_each_on_its_own_when_the_first_page_spans_few() -> None:
    keys = {f"t/{folder}/{i}" for folder in "abcd" for i in range(50)} | {"t/top"}
    store = Store(keys, page=10)

    assert len(list(list_prefix(store, "t/", parallel=8))) == len(keys)

    asked = [(r["Prefix"], r.get("Delimiter")) for r in store.requests]
    assert asked[:2] == [("t/", None), ("t/", "/")]  # a flat page, then the folders
    assert {prefix for prefix, _ in asked[2:]} == {f"t/{folder}/" for folder in "abcd"}
    assert len(asked) == 2 + 4 * 5  # each folder's 50 keys in 5 pages


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        ({f"flat-{i:03}" for i in range(100)}, "files only"),
        ({f"{i:03}/x" for i in range(100)}, "more folders on the first page than run at once"),
        ({f"a/{i}" for i in range(10)}, "one page"),
    ],
)
def test_the_listing_stays_flat(keys: set[str], why: str) -> None:
    store = Store(keys, page=10 if why != "one page" else 100)

    assert [e["Key"] for e in list_prefix(store, "", parallel=4)] == sorted(keys)

    assert all("Delimiter" not in r for r in store.requests), why
    assert len(store.requests) == -(-len(keys) // store.page)


def test_a_reader_that_stops_early_stops_the_folder_threads() -> None:
    keys = {f"{folder}/{i:04}" for folder in "abcdefg" for i in range(400)}
    store = Store(keys, page=5)
    listing = list_prefix(store, "", parallel=4)

    assert [next(listing)["Key"] for _ in range(3)] == ["a/0000", "a/0001", "a/0002"]
    listing.close()

    assert threads_end()
    # Nothing more is fetched: every thread that fetched but this one has
    # ended (and this one's listing is closed), so the count is final.
    assert not [t for t in store.callers - {threading.current_thread()} if t.is_alive()]
    # And the threads stopped where they were, each at most AHEAD pages (and
    # the one it holds) ahead of the reader, far from the 560 of a full
    # listing: the flat first page, the first page of folders, the page read.
    assert len(store.requests) <= 3 + 4 * (AHEAD + 1)


def test_a_folder_listing_that_fails_raises_its_error_to_the_reader() -> None:
    keys = {f"{folder}/{i}" for folder in "abc" for i in range(20)}
    store = Store(keys, page=5)

    def fetch(**params: Any) -> dict[str, Any]:
        if params["Prefix"] == "b/" and "ContinuationToken" in params:
            raise CDNError("list b/ failed", reason="InternalError")
        return store(**params)

    listed: list[str] = []
    with pytest.raises(CDNError, match="list b/ failed"):
        listed.extend(entry["Key"] for entry in list_prefix(fetch, "", parallel=2))
    assert listed == sorted(keys)[:25]  # all of a/, then b/'s first page
    assert threads_end()


def threads_end(timeout: float = 5.0) -> bool:
    """Whether every folder thread has ended within ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(t.name.startswith("cdn-manager-list") for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# Real servers: more than one 1,000-key page, so the fan-out is chosen.


def listing_requests(server: Server) -> tuple[Callable[[], list[dict[str, Any]]], Any]:
    """A manager on ``server`` and a function returning the ListObjectsV2
    parameters (as the query names them) of each page its read plane
    asked for: a listing goes through the data plane, native or boto3."""
    manager = server.manager()
    sent: list[dict[str, Any]] = []
    plane = manager._ops.kit.download_plane
    list_page = plane.list_page

    def record(request: ListPage) -> dict[str, Any]:
        sent.append({QUERY_NAMES[name]: str(value) for name, value in request.params.items()})
        return list_page(request)

    plane.list_page = record
    return (lambda: sent), manager


def real_tree(prefix: str) -> Iterator[str]:
    for folder in ("a", "b b", "é"):
        for i in range(450):
            yield f"{prefix}{folder}/{i % 3}/{i:04}"
    for name in ("a!", "a.txt", "b", "z"):
        yield prefix + name


def test_a_large_tree_on_every_server(any_server: Server, bucket: str) -> None:
    prefix = "tree/"
    keys = sorted(real_tree(prefix))
    sent, manager = listing_requests(any_server)
    results = manager.upload_many(bucket, ((key, key.encode()) for key in keys))
    assert all(result.ok for result in results)

    listed = list(manager.list(bucket, prefix))

    assert [info.key for info in listed] == keys
    assert [info.size for info in listed] == [len(key.encode()) for key in keys]
    folders = {r["prefix"] for r in sent() if "delimiter" not in r and r["prefix"] != prefix}
    assert folders == {f"{prefix}a/", f"{prefix}b b/", f"{prefix}é/"}
    assert threads_end()
