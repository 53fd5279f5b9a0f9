"""Object keys come from outside: a download must never write outside its
folder, whatever the key. Each hostile key is stored as a real object first
(on the open moto server, which stores any key S3 can carry), so the refusal
is proven to be cdn-manager's, not a 404 from the server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdn_manager import CDNError, InvalidRequest, UnsafePath

from conftest import BUCKET, Server, StartProxy
from helpers.disk import nothing_lost, precious_bytes
from helpers.wire import sent

#: Every test here runs against the sync and the async face.
pytestmark = pytest.mark.usefixtures("face")


@dataclass(frozen=True)
class Hostile:
    key: str
    #: Where the key would land if joined naively, relative to the working
    #: directory, when that is a legal file path: a known file is put there
    #: first and must survive.
    lands_at: str | None = None
    #: An absolute path outside the sandbox the key aims at.
    aims_at: str | None = None
    #: False where S3 itself cannot carry the key (botocore refuses it).
    storable: bool = True
    #: What the raising API raises, and the reason the bool API logs.
    refused_as: type[CDNError] = UnsafePath
    reason: str = "UnsafePath"


HOSTILE = {
    "dotdot": Hostile("..", lands_at=None),
    "dotdot-x": Hostile("../x", lands_at="x"),
    "a-up-up-x": Hostile("a/../../x", lands_at="x"),
    "dot-dotdot-x": Hostile("./../x", lands_at="x"),
    "deep-escape": Hostile("a/b/../../../../x", lands_at="../x"),
    "absolute": Hostile("/etc/passwd", aims_at="/etc/passwd"),
    "double-slash": Hostile("//x", aims_at="/x"),
    "nul-byte": Hostile("a\0b", lands_at=f"{BUCKET}/a"),
    "nul-in-folder": Hostile("d\0/x", lands_at=f"{BUCKET}/d"),
    "component-256-bytes": Hostile("y" * 256),
    "nested-component-256-bytes": Hostile("d/" + "y" * 256),
    "component-256-utf8-bytes": Hostile("é" * 128),
    # Not an S3 key at all, so refused as an invalid request.
    "empty": Hostile("", storable=False, refused_as=InvalidRequest, reason="InvalidKey"),
    "dot": Hostile("."),
    "trailing-slash": Hostile("dir/", lands_at=f"{BUCKET}/dir"),
    "dot-component": Hostile("a/./b", lands_at=f"{BUCKET}/a/b"),
    "empty-component": Hostile("a//b", lands_at=f"{BUCKET}/a/b"),
}


def store(server: Server, key: str, body: bytes) -> None:
    server.admin.put_object(Bucket=BUCKET, Key=key, Body=body)
    assert server.admin.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_key_cannot_escape_folder(
    moto_server: Server,
    fault_proxy: StartProxy,
    workdir: Path,
    cdn_log: pytest.LogCaptureFixture,
    cdn_errors: list[str],
    name: str,
) -> None:
    case = HOSTILE[name]
    target = Path(case.aims_at) if case.aims_at else None
    if case.storable:
        # Aimed at a real file: store its own bytes, so even a regression
        # could not damage this machine (the inode check still catches it).
        body = target.read_bytes() if target and target.exists() else b"hostile payload"
        store(moto_server, case.key, body)
    proxy = fault_proxy(moto_server)
    manager = moto_server.manager(host=proxy.endpoint)
    plant = [workdir / case.lands_at] if case.lands_at else []
    with nothing_lost(workdir.parent, plant=plant, watch=[target] if target else []):
        assert manager.download(BUCKET, case.key) is False
        with pytest.raises(case.refused_as):
            manager.get_file(BUCKET, case.key)
    assert sent(proxy) == [], "the key was refused only after asking the server"
    (line,) = [r.getMessage() for r in cdn_log.records if r.levelname == "ERROR"]
    assert line.startswith("download failed:")
    assert f"reason={case.reason}" in line
    # Seen by the suite's secret guard too (UnsafePath is raised by Rust).
    assert sum(m.startswith(f"{case.refused_as.__name__}: ") for m in cdn_errors) == 2


@pytest.mark.parametrize("key", ["link/x", "link/sub/x"])
def test_symlinked_parent_pointing_outside_is_not_followed(
    moto_server: Server, workdir: Path, key: str
) -> None:
    outside = workdir.parent / "outside"
    outside.mkdir()
    folder = workdir / BUCKET
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    store(moto_server, key, b"through the link")
    manager = moto_server.manager()
    with nothing_lost(workdir.parent, plant=[outside / "x"]):
        assert manager.download(BUCKET, key) is False
        with pytest.raises(UnsafePath, match="symbolic link"):
            manager.get_file(BUCKET, key)


def test_symlink_at_the_destination_is_replaced_not_written_through(
    moto_server: Server, workdir: Path
) -> None:
    victim = workdir.parent / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(precious_bytes(victim))
    folder = workdir / BUCKET
    folder.mkdir()
    (folder / "victim").symlink_to(victim)
    store(moto_server, "victim", b"the object's bytes")
    assert moto_server.manager().download(BUCKET, "victim") is True
    assert victim.read_bytes() == precious_bytes(victim)
    assert not (folder / "victim").is_symlink()
    assert (folder / "victim").read_bytes() == b"the object's bytes"


SAFE_KEYS = {
    "space": "a b/c",
    "unicode": "ünïcødé/файл.bin",
    "percent-dots": "%2e%2e",
    "dots-inside": "a..b",
    "three-dots": "...",
    "backslash": "a\\..\\b",
}
#: More safe keys, on one server: some s3s-fs itself cannot store (its file
#: names add a suffix past 255 bytes; it refuses a folder named `%2e%2e`).
SAFE_KEYS_MOTO_ONLY = {
    "leading-dash": "-rf",
    "tilde": "~/x",
    "percent-dots-folder": "%2e%2e/x",
    "component-255-bytes": "d/" + "x" * 255,
    "utf8-254-bytes": "é" * 127,
}


def assert_round_trip(server: Server, workdir: Path, key: str) -> None:
    data = f"stored under {key!r}".encode()
    manager = server.manager()
    assert manager.upload(BUCKET, key, data) is True
    assert manager.download(BUCKET, key) is True
    assert (workdir / BUCKET / key).read_bytes() == data
    written = [str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file()]
    assert written == [os.path.join(BUCKET, key)]


@pytest.mark.parametrize("name", list(SAFE_KEYS))
def test_unusual_but_safe_key_round_trips(any_server: Server, workdir: Path, name: str) -> None:
    assert_round_trip(any_server, workdir, SAFE_KEYS[name])


@pytest.mark.parametrize("name", list(SAFE_KEYS_MOTO_ONLY))
def test_unusual_but_safe_key_round_trips_on_moto(
    moto_server: Server, workdir: Path, name: str
) -> None:
    assert_round_trip(moto_server, workdir, SAFE_KEYS_MOTO_ONLY[name])
