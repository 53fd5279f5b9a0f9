"""The one comparison: whether bytes on one side are the bytes on the other.

Push, pull, ``verify`` and a rollback all ask it, each about one pair: a
local file (or a receipt's record of one) and what an object was proven to
hold (:class:`~.remote.Proven`). Bytes are the same when their sizes agree
and a checksum both sides have agrees; nothing unproven is called the
same. A push compares the file with the object's content (the bytes before
a deploy compressed them), a pull with the bytes as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .remote import Checksum, Proven, Value


class Why(StrEnum):
    """Why a pair is not the same, or why an action is planned."""

    NEW = "new"
    SIZE_DIFFERS = "size differs"
    CHECKSUM_DIFFERS = "checksum differs"
    NO_STORED_CHECKSUM = "no stored checksum"
    ENCODING_DIFFERS = "content encoding differs"
    HEADERS_DIFFER = "headers differ"
    #: An object (push) or a file (pull) with no counterpart to keep it.
    NO_COUNTERPART = "no counterpart"
    SAME = "same"


def wanted(claim: Checksum | None) -> set[str]:
    """The algorithm a local side must compute to answer :func:`compare`
    against ``claim`` (none when there is nothing to compare with)."""
    return set() if claim is None else {claim[0]}


def compare(
    size: int, checksums: Mapping[str, Value], claim_size: int | None, claim: Checksum | None
) -> Why | None:
    """Why ``size`` bytes with ``checksums`` (by algorithm) are not the bytes
    of size ``claim_size`` (None: unknown) with checksum ``claim``; None
    when they are proven the same."""
    if claim_size is not None and claim_size != size:
        return Why.SIZE_DIFFERS
    if claim is None:
        return Why.NO_STORED_CHECKSUM
    algorithm, value = claim
    if algorithm not in checksums:
        return Why.NO_STORED_CHECKSUM
    return None if checksums[algorithm] == value else Why.CHECKSUM_DIFFERS


def content_differs(size: int, checksums: Mapping[str, Value], state: Proven) -> Why | None:
    """Whether a file's bytes differ from the object's content (a push: the
    file is what the object holds before any compression)."""
    stored_as_is = state.headers.content_encoding is None
    return compare(size, checksums, state.size if stored_as_is else None, state.content)


def stored_differs(size: int, checksums: Mapping[str, Value], state: Proven) -> Why | None:
    """Whether a file's bytes differ from the object's bytes as stored (a
    pull: the file is what a download wrote)."""
    return compare(size, checksums, state.size, state.stored)
