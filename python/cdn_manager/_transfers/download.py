"""Downloading an object: one streamed GET, or concurrent ranged GETs written
at their offsets, verified end to end, then committed.

An object of unknown size is asked for whole, and its first range read from
that answer; when it turns out large, the rest of that body is never read,
yet the server has already sent what the sockets hold (1.8-7.9 MiB per 64
MiB object on loopback, billed egress on S3). An object known to be ranged
(its size from a listing, or a journal to resume) is learnt with a HEAD
instead, and every range asked for alone.

The bytes go to a Rust writer (a temporary file beside the destination, or a
new ``bytes`` object); only a fully received and verified object is committed,
so a failure leaves a file already at the destination as it was. A ranged
download into a file is resumable (``TransferConfig.resume``): the writer
journals each completed range, an interrupted download keeps its temporary
file and journal, and the next run for the same object and place fetches
only the ranges missing (see ``src/writer/journal.rs``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar

from .. import _core
from .._checksums import SIZE_ONLY
from .._escape import shown
from .._planes import control
from .._planes.failures import error_code
from .._planes.protocol import DataPlane, Get, Head, Response
from .._planes.retry import is_transient
from ..errors import IntegrityError
from .parts import Transfer, run_parts
from .verify import Expectation, expectations, verify

log = logging.getLogger("cdn_manager")

R_co = TypeVar("R_co", covariant=True)
#: Whole-object attempts before a verification failure is reported: a
#: second failure is the stored bytes', not the wire's.
INTEGRITY_ATTEMPTS = 2
#: The CRC a resumable download journals its ranges with when the object
#: brings no checksum of its own (hardware-accelerated almost everywhere).
JOURNAL_ALGORITHM = "crc32c"


class Writer(Protocol[R_co]):
    """A Rust ``FileWriter`` or ``MemoryWriter``."""

    def part(
        self,
        offset: int,
        algorithm: str | None = None,
        hash: str | None = None,
        control: _core.Control | None = None,
    ) -> _core.PartSink: ...
    @property
    def kept(self) -> list[_core.PartSink]: ...
    def finished(self, sink: _core.PartSink) -> None: ...
    def commit(self) -> R_co: ...
    def abort(self, keep: bool = False) -> None: ...


#: Makes the writer for an object of the given size; with a journal header
#: and a CRC algorithm, a resumable one.
OpenWriter = Callable[[int, str | None, str | None], Writer[R_co]]


class _ObjectChanged(Exception):
    """The object was replaced while its parts were being fetched."""


@dataclass
class Download(Transfer, Generic[R_co]):
    """One object to fetch, and what to write it into: ``open_writer``
    makes the writer once the size is known; ``resumable`` says whether it
    can keep a journal (a file, with ``TransferConfig.resume`` on)."""

    open_writer: OpenWriter[R_co]
    resumable: bool = False
    #: Learn the object with a HEAD and ask for every range alone: for an
    #: object the caller knows will be fetched in ranges.
    head_first: bool = False
    #: Bytes of the last run's object that an earlier run had already
    #: written (0 unless a download was resumed).
    resumed_bytes: int = 0
    #: How the committed bytes were proven (:attr:`Expectation.method`).
    verified: str | None = None

    @property
    def plane(self) -> DataPlane:
        return self.kit.download_plane

    def run(self) -> R_co:
        """Fetches, verifies and commits the object; returns what the writer
        commits (``None`` for a file, the ``bytes`` for memory).

        A range cut short or failing on the wire is fetched again alone. An
        object that fails verification is fetched whole once more: a second
        failure means the stored bytes do not match their checksum, and is
        raised as :class:`IntegrityError`. An object replaced midway is
        fetched again up to ``max_attempts`` times.
        """
        failures = changes = 0
        while True:
            try:
                return self._once()
            except IntegrityError as err:
                failures += 1
                if failures >= INTEGRITY_ATTEMPTS:
                    raise
                why = str(err)
            except _ObjectChanged:
                changes += 1
                if changes >= self.config.max_attempts:
                    raise IntegrityError(
                        "object kept changing during the download", reason="ObjectChanged"
                    ) from None
                why = "the object changed during the download"
            log.warning("download %s: %s; fetching it again", shown(self.name), shown(why))

    def _once(self) -> R_co:
        planned = self._plan_from_head() if self.head_first else None
        if planned is not None:
            first, (headers, exp, ranges) = None, planned
        else:
            first = self.retried(
                lambda: self.plane.get(Get(self.bucket, self.key, control=self.control)),
                f"get {self.name}",
            )
        try:
            if first is not None:
                headers = first.headers
                exp, ranges = self._plan(expectations(headers))
            # A hash is not journaled (a kept range is checked by its CRC
            # alone): such an object is fetched whole again, never resumed.
            journaled = self.resumable and len(ranges) > 1 and exp.hash is None
            algorithm = exp.crc or (JOURNAL_ALGORITHM if journaled else None)
            header = _journal_header(headers, exp, ranges, algorithm) if journaled else None
            writer = self.open_writer(exp.size, header, algorithm if journaled else None)
        except BaseException:
            if first is not None:
                first.close()
            raise
        try:
            kept = {s.start: s for s in writer.kept}
            self.resumed_bytes = sum(s.length for s in kept.values())
            if kept:
                log.info(
                    "download %s: resumed, %d of %d bytes already here",
                    shown(self.name),
                    self.resumed_bytes,
                    exp.size,
                )
                # Counted once, so that progress still ends at the object's size.
                self.control.advance(self.resumed_bytes)
            sinks = self._fetch(exp, algorithm, ranges, kept, first, writer)
            verify(exp, sinks)
            committed = writer.commit()
            self.verified = exp.method
            log.log(
                logging.INFO if exp.method == SIZE_ONLY else logging.DEBUG,
                "download %s: verified by %s",
                shown(self.name),
                exp.method,
            )
            return committed
        except (IntegrityError, _ObjectChanged):
            writer.abort()  # what was kept is of no use: start over
            raise
        except BaseException:
            writer.abort(keep=True)
            raise
        finally:
            if first is not None:
                first.close()

    def _plan_from_head(
        self,
    ) -> tuple[Mapping[str, str], Expectation, list[tuple[int, int]]] | None:
        """The headers, check and ranges a HEAD gives, or None when the
        whole-object GET must decide: the object is no longer ranged, or
        the HEAD offers only its size (moto's HEAD drops a composite CRC's
        part count, which its GET keeps)."""
        headers = self.retried(
            lambda: self.plane.head(Head(self.bucket, self.key)), f"head {self.name}"
        )
        found = expectations(headers)
        if found[0].algorithm is None:
            return None
        exp, ranges = self._plan(found)
        return (headers, exp, ranges) if len(ranges) > 1 else None

    def _plan(self, found: list[Expectation]) -> tuple[Expectation, list[tuple[int, int]]]:
        """The strongest of the checks ``found`` that applies, and the byte
        ranges to fetch."""
        layouts: dict[int, int | None] = {}
        for exp in found:
            if exp.parts is not None:
                # A composite value needs the parts exactly as uploaded, even small.
                if exp.parts not in layouts:
                    layouts[exp.parts] = self._composite_part_size(exp)
                layout = layouts[exp.parts]
                if layout is not None:
                    return exp, _split(exp.size, layout)
                log.info(
                    "download %s: unknown part layout, %s not checked",
                    shown(self.name),
                    exp.method,
                )
                continue
            if exp.needs_sequential_read or exp.size <= self.config.download_threshold:
                return exp, [(0, exp.size)]
            return exp, _split(exp.size, self.config.part_size_for(exp.size))
        raise AssertionError("the size is always a check")

    def _composite_part_size(self, exp: Expectation) -> int | None:
        """Part size of a multipart object, assuming equal parts but the last
        (as every mainstream uploader makes them); None if sizes disagree."""
        assert exp.parts is not None
        count = exp.parts
        # No If-Match here: some servers compare it with the part's own ETag.
        # The ranged GETs carry it, so a replaced object is still caught.
        first = control.head(self.kit.download_client, self.bucket, self.key, part=1)
        part_size = int(first["ContentLength"])
        if part_size <= 0 or not (count - 1) * part_size < exp.size <= count * part_size:
            return None
        return part_size

    def _fetch(
        self,
        exp: Expectation,
        algorithm: str | None,
        ranges: list[tuple[int, int]],
        kept: dict[int, _core.PartSink],
        first: Response | None,
        writer: Writer[R_co],
    ) -> list[_core.PartSink]:
        """Writes every range not ``kept`` from an earlier run (digesting
        with ``algorithm``) and returns the sinks of all; the first range
        comes from the already open response, if any."""

        def new_sink(start: int) -> _core.PartSink:
            return writer.part(start, algorithm=algorithm, hash=exp.hash, control=self.control)

        def have(start: int, end: int) -> _core.PartSink | None:
            sink = kept.get(start)
            return sink if sink is not None and sink.length == end - start else None

        def ranged(start: int, end: int) -> _core.PartSink:
            def attempt() -> _core.PartSink:
                sink = new_sink(start)
                try:
                    response = self.plane.get(
                        Get(
                            self.bucket,
                            self.key,
                            byte_range=(start, end),
                            if_match=exp.etag,
                            control=self.control,
                        )
                    )
                except Exception as err:
                    if error_code(err) in ("PreconditionFailed", "412"):
                        raise _ObjectChanged() from None
                    raise
                try:
                    response.read_into(sink, end - start)
                except BaseException:
                    sink.discard()
                    raise
                finally:
                    response.close()
                writer.finished(sink)
                return sink

            return have(start, end) or self.retried(attempt, f"range {start}-{end} of {self.name}")

        def first_range() -> _core.PartSink:
            start, end = ranges[0]
            done = have(start, end)
            if done is not None:
                return done
            if first is None:
                return ranged(start, end)
            sink = new_sink(start)
            try:
                first.read_into(sink, end - start)
                writer.finished(sink)
                return sink
            except Exception as err:
                sink.discard()
                if not is_transient(err):
                    raise
                log.debug(
                    "first range of %s failed (%s), fetching it again",
                    shown(self.name),
                    type(err).__name__,
                )
                return ranged(start, end)

        rest = [partial(ranged, s, e) for s, e in ranges[1:]]
        return run_parts(self.kit.executor, first_range, rest, self.control)


def _journal_header(
    headers: Mapping[str, str],
    exp: Expectation,
    ranges: list[tuple[int, int]],
    algorithm: str | None,
) -> str:
    """The first line of a resumable download's journal: what the kept
    bytes are of. Any difference on the next run means starting over."""
    return json.dumps(
        {
            "journal": 1,
            "etag": exp.etag,
            "version_id": headers.get("x-amz-version-id"),
            "size": exp.size,
            "part_size": ranges[0][1],
            "parts": len(ranges),
            "algorithm": algorithm,
        },
        sort_keys=True,
    )


def _split(size: int, part_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + part_size, size)) for start in range(0, size, part_size)]
