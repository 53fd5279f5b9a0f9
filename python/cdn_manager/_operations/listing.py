"""Listing a prefix, one folder per thread where the tree is large.

S3 hands out a listing 1,000 keys a page, each page asked for with the
token the one before it returned: a flat listing of N keys is N/1,000 round
trips in a row, and a server that walks its disk for every page (s3s-fs
does) walks the whole prefix each time. When the first page says more
follow, and the keys on it lie in folders below the prefix, each folder is
listed on a thread of its own instead, ``parallel`` at once, and the
listing takes about as long as its largest folder.

The rule keeps the request count near the flat listing's. A page of about
1,000 keys spread over ``d`` folders suggests folders of 1,000/d keys each:
``C`` folders listed ``parallel`` at a time take C/parallel round trips in
a row where the flat listing takes C/d, so the fan-out is chosen only when
0 < d < parallel. A first page of files only (a flat bucket) or of many
small folders goes on flat.

Keys come in the server's order: the folders' keys are merged with those
directly below the prefix by the same comparison S3 sorts with. A folder's
thread holds at most ``AHEAD`` pages the reader has not taken yet, and the
threads stop when the reader stops reading.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from .._threads import thread

Entry = dict[str, Any]
#: One ListObjectsV2 request: its parameters (besides the bucket) in, the
#: parsed answer out.
Fetch = Callable[..., dict[str, Any]]

DELIMITER = "/"
#: Pages a folder's thread may list ahead of the reader.
AHEAD = 4
#: How often a thread blocked on a full queue looks whether the reader left.
_POLL_SECONDS = 0.1


def list_prefix(fetch: Fetch, prefix: str, parallel: int) -> Iterator[Entry]:
    """Every object below ``prefix``, as ListObjectsV2 ``Contents`` entries."""
    first = fetch(Prefix=prefix)
    folders = {_folder(entry["Key"], prefix) for entry in first.get("Contents", [])} - {None}
    if not first.get("IsTruncated") or not 0 < len(folders) < parallel:
        for page in _pages_of(fetch, {"Prefix": prefix}, first):
            yield from page.get("Contents", [])
        return
    with _FolderLister(fetch, parallel) as lister:
        for page in _pages_of(fetch, {"Prefix": prefix, "Delimiter": DELIMITER}):
            # A page's folders start listing before its first key is read;
            # S3 orders the keys and folders of all pages as one sequence.
            beside = [(entry["Key"], entry) for entry in page.get("Contents", [])]
            below = [(common["Prefix"], None) for common in page.get("CommonPrefixes", [])]
            lister.add(name for name, _ in below)
            for _, entry in sorted(beside + below, key=lambda item: item[0]):
                if entry is None:
                    yield from lister.next_folder()
                else:
                    yield entry


def _folder(key: str, prefix: str) -> str | None:
    """The folder directly below ``prefix`` that holds ``key`` (as S3 names
    it in CommonPrefixes), or None for a key directly below it."""
    end = key.find(DELIMITER, len(prefix))
    return key[: end + 1] if end >= 0 else None


def _pages_of(
    fetch: Fetch, params: dict[str, Any], first: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Every page of one listing (from ``first``, where it was fetched already)."""
    page = fetch(**params) if first is None else first
    yield page
    while page.get("IsTruncated") and page.get("NextContinuationToken"):
        page = fetch(**params, ContinuationToken=page["NextContinuationToken"])
        yield page


class _Folder:
    """One folder's listing: its thread puts pages of entries in ``pages``,
    then None (or the exception that ended it)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.pages: queue.Queue[list[Entry] | BaseException | None] = queue.Queue(AHEAD)


class _FolderLister:
    """Lists the folders it is given, in order and ``parallel`` at a time,
    each on a thread of its own; :meth:`next_folder` yields the keys of the
    first folder not read yet."""

    def __init__(self, fetch: Fetch, parallel: int) -> None:
        self.fetch = fetch
        self.parallel = parallel
        self.waiting: deque[_Folder] = deque()
        self.started: deque[_Folder] = deque()
        self.stop = threading.Event()

    def __enter__(self) -> _FolderLister:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()

    def add(self, prefixes: Iterable[str]) -> None:
        self.waiting.extend(_Folder(prefix) for prefix in prefixes)
        self._start_more()

    def _start_more(self) -> None:
        while self.waiting and len(self.started) < self.parallel:
            folder = self.waiting.popleft()
            self.started.append(folder)
            thread(partial(self._list, folder), "cdn-manager-list").start()

    def next_folder(self) -> Iterator[Entry]:
        folder = self.started[0]
        while (page := folder.pages.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield from page
        self.started.popleft()
        self._start_more()

    def _list(self, folder: _Folder) -> None:
        try:
            for page in _pages_of(self.fetch, {"Prefix": folder.prefix}):
                if not self._put(folder, page.get("Contents", [])):
                    return
            self._put(folder, None)
        except BaseException as err:  # handed to the reader, raised there
            self._put(folder, err)

    def _put(self, folder: _Folder, item: list[Entry] | BaseException | None) -> bool:
        """Hands ``item`` to the reader; False once the reader has left."""
        while not self.stop.is_set():
            try:
                folder.pages.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
