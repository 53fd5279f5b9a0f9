"""Content a push takes from the bucket instead of a file: a rollback's
kept copies, and the kept copy of a page taken from the live object. Each
key does its own job: the read key reads the origin (HEAD, then a verified
download into a temporary file), the write key uploads it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import _core
from .._escape import shown
from .._sync.compare import content_differs, stored_differs, wanted
from .._sync.plan import Action
from .._sync.remote import Proven, Value, proven
from .._sync.store import Store
from ..errors import IntegrityError, LocalIOError


@dataclass(frozen=True)
class Fetched:
    """The origin's bytes in a temporary file, and what they are."""

    path: Path
    #: The origin as its HEAD described it (and the bytes proved).
    state: Proven
    #: CRCs of the stored bytes, by algorithm.
    crcs: dict[str, Value]


@contextlib.contextmanager
def fetched(
    store: Store, control: _core.Control, bucket: str, action: Action, algorithm: str
) -> Iterator[Fetched]:
    """``action.origin`` downloaded to a temporary file (removed on exit),
    proven to hold ``action``'s content in ``action``'s encoding, with the
    CRC of its stored bytes in ``algorithm``. Raises
    :class:`IntegrityError` when it does not hold that content (or changed
    between its HEAD and its download)."""
    origin = action.origin
    assert origin is not None and action.checksum is not None and action.headers is not None
    state = proven(store.stat(bucket, origin))
    encoding = action.headers.content_encoding
    if (
        content_differs(action.size, dict([action.checksum]), state) is not None
        or state.headers.content_encoding != encoding
    ):
        raise IntegrityError(
            f"{shown(origin)} does not hold the content planned for {shown(action.key)}",
            reason="OriginChanged",
            bucket=bucket,
            key=origin,
        )
    with tempfile.TemporaryDirectory(prefix="cdn-manager-origin-") as folder:
        result = store.fetch_file(control, bucket, origin, Path(folder), "content", state.size)
        assert result.path is not None
        needed = {algorithm} | wanted(state.stored)
        crcs = sorted(needed - {"md5"})
        try:
            values, md5, _, _ = _core.file_digests(result.path, crcs, "md5" in needed)
        except OSError as err:
            raise LocalIOError(
                f"read {shown(str(result.path))}: {err.strerror or err}", reason=type(err).__name__
            ) from None
        found: dict[str, Value] = dict(zip(crcs, values, strict=True))
        if md5 is not None:
            found["md5"] = md5
        if stored_differs(state.size, found, state) is not None:
            raise IntegrityError(
                f"{shown(origin)} changed while it was read", reason="OriginChanged", key=origin
            )
        yield Fetched(result.path, state, found)
