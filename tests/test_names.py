"""Names are data, never control: an object key holding ESC, CR, LF, DEL, a
C1 control or a bidi override is printed escaped (``escape.shown``) by every
command and in every error and log line, kept exact by ``--json``, and never
becomes a local file name.

The servers each carry only some of these keys: moto with IAM enforced
refuses some key characters, moto's HTTP routing cannot address a key with
a newline (it is planted in its in-process backend, and listed fine), and
s3s-fs stores every key but cannot list one holding a control character
(HTTP 500). So listings are tested on the open moto server, transfers on
s3s-fs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from cdn_manager import UnsafePath
from cdn_manager._escape import is_control, shown

from conftest import Server, files_under
from helpers.cli import cdn, config_for, run_in_terminal, write_config

#: One hostile character per class (the issue's list), as part of a key.
CLASSES = {
    "esc": "\x1b[31m",
    "cr": "\r",
    "lf": "\n",
    "del": "\x7f",
    "c1-csi": "\u009b",
    "bidi-rlo": "\u202e",
    "bidi-lri": "\u2066",
}
KEYS = {name: f"hostile/{name}-{char}x.txt" for name, char in CLASSES.items()}


def raw_controls(text: str) -> list[str]:
    """The control characters in ``text`` other than the line ends a program
    writes between its lines."""
    return [c for line in text.splitlines() for c in line if is_control(c)]


def plant_in_moto(moto_server: Server, bucket: str, key: str, body: bytes) -> None:
    if "\n" in key:  # moto's routing cannot address it: straight into its store
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, body)
    else:
        moto_server.admin.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.fixture
def listed(moto_server: Server, tmp_path: Path) -> tuple[str, Path]:
    """A moto bucket holding every hostile key (and a config file for it)."""
    bucket = moto_server.new_bucket()
    for key in KEYS.values():
        plant_in_moto(moto_server, bucket, key, key.encode())
    return bucket, config_for(moto_server, tmp_path)


@pytest.fixture
def planted(s3s_server: Server, tmp_path: Path) -> tuple[str, Path]:
    """An s3s-fs bucket holding every hostile key (and a config file for it)."""
    bucket = s3s_server.new_bucket()
    for key in KEYS.values():
        s3s_server.admin.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket, config_for(s3s_server, tmp_path)


def test_ls_escapes_every_class_and_json_keeps_exact_keys(listed: tuple[str, Path]) -> None:
    bucket, config = listed
    listing = cdn("ls", f"{bucket}/hostile/", config=config)
    assert listing.code == 0 and raw_controls(listing.out) == []
    rows = listing.out.splitlines()
    assert len(rows) == len(KEYS)  # a newline in a key forged no row
    assert sorted(row.split("  ")[-1] for row in rows) == sorted(map(shown, KEYS.values()))

    exact = cdn("ls", f"{bucket}/hostile/", "--json", config=config).json()
    assert sorted(o["key"] for o in exact["objects"]) == sorted(KEYS.values())


def test_a_newline_key_cannot_forge_an_ls_row(moto_server: Server, tmp_path: Path) -> None:
    bucket = moto_server.new_bucket()
    forged = "real.txt\n         666  2026-01-01 00:00:00  forged.txt"
    plant_in_moto(moto_server, bucket, forged, b"x")
    listing = cdn("ls", bucket, config=config_for(moto_server, tmp_path))
    (row,) = listing.out.splitlines()
    assert row.endswith("real.txt\\n         666  2026-01-01 00:00:00  forged.txt")


@pytest.mark.parametrize("name", KEYS)
def test_download_refuses_a_local_name_with_a_control_character(
    planted: tuple[str, Path], tmp_path: Path, name: str
) -> None:
    bucket, config = planted
    key = KEYS[name]
    into = tmp_path / "into"
    into.mkdir()
    refused = cdn("download", bucket, key, "--json", config=config, cwd=into)
    assert refused.code == 1 and refused.json()["error"]["type"] == "UnsafePath"
    plain = cdn("download", bucket, key, config=config, cwd=into)
    assert "control character" in plain.stderr and raw_controls(plain.stderr) == []
    assert files_under(into) == set()

    # A file name the user chose is fine; the key is still shown escaped.
    named = cdn("download", bucket, key, into / "chosen.txt", config=config)
    assert named.code == 0 and raw_controls(named.out) == []
    assert f"{bucket}/{shown(key)} -> " in named.out
    assert (into / "chosen.txt").read_bytes() == key.encode()


def test_upload_and_rm_print_keys_escaped(s3s_server: Server, tmp_path: Path) -> None:
    bucket = s3s_server.new_bucket()
    config = config_for(s3s_server, tmp_path)
    source = tmp_path / "file.txt"
    source.write_bytes(b"data")
    for key in KEYS.values():
        uploaded = cdn("upload", bucket, key, source, config=config)
        assert uploaded.code == 0 and raw_controls(uploaded.out) == []
        assert uploaded.out == f"uploaded {source} -> {bucket}/{shown(key)} (4 B)\n"
        exact = cdn("upload", bucket, key, source, "--json", config=config).json()
        assert exact["key"] == key
    for key in KEYS.values():
        assert s3s_server.admin.get_object(Bucket=bucket, Key=key)["Body"].read() == b"data"

    removed = cdn("rm", bucket, *KEYS.values(), config=config)
    assert removed.code == 0 and raw_controls(removed.out) == []
    assert removed.out.splitlines() == [f"deleted {bucket}/{shown(k)}" for k in KEYS.values()]
    again = cdn("rm", bucket, KEYS["esc"], "--json", config=config)
    assert again.code == 1 and again.json()["failed"][0]["key"] == KEYS["esc"]
    missing = cdn("rm", bucket, KEYS["lf"], config=config)
    assert missing.stderr == f"cdn-manager: error: rm {bucket}/{shown(KEYS['lf'])}: not found\n"


def test_errors_of_a_missing_hostile_key_are_one_escaped_line(
    s3s_server: Server, tmp_path: Path
) -> None:
    config = config_for(s3s_server, tmp_path)
    key = "gone/\x1b]0;pwned\x07\x1b[2J\r\n.txt"
    run = cdn("download", s3s_server.new_bucket(), key, tmp_path / "out", config=config)
    assert run.code == 1
    (line,) = run.stderr.splitlines()
    assert raw_controls(line) == [] and shown(key) in line and "NoSuchKey" in line


def test_progress_label_is_escaped_on_a_terminal(moto_server: Server, tmp_path: Path) -> None:
    bucket = moto_server.new_bucket()
    config = config_for(moto_server, tmp_path)
    source = tmp_path / "file.bin"
    source.write_bytes(b"x" * 100_000)
    key = "t/\x1b]0;title\x07\u202eabc"
    code, drawn = run_in_terminal(["--config", config, "upload", bucket, key, source])
    assert code == 0
    # The bar redraws with \r; nothing else may reach the terminal raw.
    assert [c for c in drawn if is_control(c) and c not in "\r\n"] == []
    assert shown(key)[-20:] in drawn


def test_library_refuses_control_characters_in_local_names(
    planted: tuple[str, Path], s3s_server: Server, tmp_path: Path
) -> None:
    bucket, _ = planted
    manager = s3s_server.manager()
    for key in KEYS.values():
        with pytest.raises(UnsafePath, match="control character") as caught:
            manager.get_file(bucket, key, folder=tmp_path / "dl")
        assert raw_controls(str(caught.value)) == [] and shown(key) in str(caught.value)
    results = manager.download_many(
        bucket, [(KEYS["esc"], "fine.txt"), (KEYS["cr"], "bad\u202etxt.exe")], tmp_path / "dl"
    )
    assert results[0].ok and isinstance(results[1].error, UnsafePath)
    assert files_under(tmp_path / "dl") == {"fine.txt"}


def test_log_lines_never_carry_a_raw_control_character(moto_server: Server, tmp_path: Path) -> None:
    # A world-readable config whose own name holds ESC: the warning names it.
    config = write_config(tmp_path, moto_server.credentials, name="cdn\x1b[2J.yaml")
    config.chmod(0o644)
    bucket = moto_server.new_bucket()
    moto_server.admin.put_object(Bucket=bucket, Key="k", Body=b"")
    run = cdn("ls", bucket, config=config)
    assert run.code == 0
    (warning,) = run.stderr.splitlines()
    assert "readable by others" in warning and raw_controls(warning) == []
    assert shown(str(config)) in warning


def test_json_output_round_trips_exact_keys(planted: tuple[str, Path], tmp_path: Path) -> None:
    bucket, config = planted
    key = KEYS["bidi-rlo"]
    document = cdn("download", bucket, key, tmp_path / "f", "--json", config=config).out
    assert json.loads(document)["key"] == key
    assert raw_controls(document) == []  # JSON escapes them as \u....
