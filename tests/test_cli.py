"""The ``cdn-manager`` command, run as users run it: a subprocess against the
real servers (moto, moto with IAM enforced, s3s-fs)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from cdn_manager._cli.output import human_size

from conftest import MiB, Server, files_under
from helpers.cli import (
    bucket_keys,
    cdn,
    clean_env,
    config_for,
    make_tree,
    one_error_line,
    read_tree,
    run_in_terminal,
    site_keys,
    start,
    wait_until,
)
from helpers.faultproxy import FaultProxy

# Usage, help and configuration.


def test_help_lists_every_command_with_examples() -> None:
    run = cdn("--help")
    assert run.code == 0
    for command in ("upload", "download", "push", "pull", "ls", "rm", "presign", "doctor"):
        assert f"cdn-manager {command} " in run.out
    assert "local-server" in run.out and "exit status: 0 ok, 1 failure, 2 usage" in run.out
    sub = cdn("pull", "--help")
    assert sub.code == 0 and "examples:" in sub.out and "--dry-run" in sub.out


def test_python_dash_m_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdn_manager", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("cdn-manager ")


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["upload", "bucket-only"],
        ["presign", "b", "k", "--expires", "0"],
        ["download", "b", "k", "-", "--json"],
    ],
    ids=["unknown-command", "missing-argument", "bad-expiry", "json-and-stdout"],
)
def test_usage_errors_exit_2_with_usage_and_no_traceback(args: list[str], tmp_path: Path) -> None:
    run = cdn(*args, cwd=tmp_path)
    assert run.code == 2
    assert "usage: cdn-manager" in run.stderr
    assert "Traceback" not in run.stderr


def test_no_configuration_is_one_clear_line(tmp_path: Path) -> None:
    run = cdn("ls", "bucket", cwd=tmp_path)
    assert run.code == 1
    line = one_error_line(run)
    assert "no configuration found" in line and "$CDN_MANAGER_CONFIG" in line
    assert "CDN_HOST" in line and "local-server" in line
    parsed = cdn("ls", "bucket", "--json", cwd=tmp_path).json()
    assert parsed["ok"] is False and parsed["error"]["type"] == "ConfigError"


def test_configuration_is_found_in_the_documented_order(
    moto_server: Server, tmp_path: Path
) -> None:
    good = config_for(moto_server, tmp_path / "good")
    env = {
        f"CDN_{name.upper()}": value
        for name, value in moto_server.credentials.__dict__.items()
        if value is not None
    }
    # The environment alone.
    assert cdn("ls", "cdn-test", cwd=tmp_path, env=clean_env(**env)).code == 0
    # ./cdn.yaml comes before the environment (which points nowhere here).
    here = tmp_path / "here"
    config_for(moto_server, here)
    unreachable = {**env, "CDN_HOST": "http://127.0.0.1:9"}
    assert cdn("ls", "cdn-test", cwd=here, env=clean_env(**unreachable)).code == 0
    # $CDN_MANAGER_CONFIG comes before ./cdn.yaml...
    missing = clean_env(CDN_MANAGER_CONFIG=str(tmp_path / "absent.yaml"))
    run = cdn("ls", "cdn-test", cwd=here, env=missing)
    assert run.code == 1
    assert "$CDN_MANAGER_CONFIG" in one_error_line(run) and "absent.yaml" in run.stderr
    # ... and --config before everything.
    assert cdn("ls", "cdn-test", config=good, cwd=here, env=missing).code == 0


# Every command, on both server implementations.


def test_upload_download_ls_presign_rm(any_server: Server, tmp_path: Path) -> None:
    config = config_for(any_server, tmp_path)
    bucket = any_server.new_bucket()
    data = os.urandom(300_000)
    (tmp_path / "photo.jpg").write_bytes(data)

    uploaded = cdn(
        "upload", bucket, "img/photo.jpg", tmp_path / "photo.jpg", "--json", config=config
    )
    assert uploaded.code == 0, uploaded.stderr
    assert uploaded.json() == {
        "ok": True,
        "bucket": bucket,
        "key": "img/photo.jpg",
        "source": str(tmp_path / "photo.jpg"),
        "size": len(data),
        "resumed_bytes": 0,
    }
    piped = cdn(
        "upload", bucket, "notes.txt", "-", "--cache-control", "max-age=60",
        config=config, stdin=b"from stdin\n",
    )  # fmt: skip
    assert piped.code == 0 and piped.out.startswith(f"uploaded stdin -> {bucket}/notes.txt ")
    head = any_server.admin.head_object(Bucket=bucket, Key="notes.txt")
    assert head["ContentType"] == "text/plain" and head["CacheControl"] == "max-age=60"

    downloaded = cdn("download", bucket, "img/photo.jpg", tmp_path / "copy.jpg", config=config)
    assert downloaded.code == 0 and (tmp_path / "copy.jpg").read_bytes() == data
    to_stdout = cdn("download", bucket, "notes.txt", "-", config=config)
    assert to_stdout.code == 0 and to_stdout.stdout == b"from stdin\n"

    listing = cdn("ls", bucket, "--json", config=config).json()
    assert [(o["key"], o["size"]) for o in listing["objects"]] == [
        ("img/photo.jpg", len(data)),
        ("notes.txt", 11),
    ]
    url = cdn("presign", bucket, "notes.txt", "--expires", "120", config=config).out.strip()
    assert f"X-Amz-Credential={any_server.credentials.downloader_access_key}" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"from stdin\n"

    removed = cdn("rm", bucket, "notes.txt", config=config)
    assert removed.code == 0 and removed.out == f"deleted {bucket}/notes.txt\n"
    assert bucket_keys(any_server, bucket) == ["img/photo.jpg"]


def test_download_destinations_and_plain_listing(moto_server: Server, tmp_path: Path) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    for key in ("img/photo.jpg", "img/b.txt", "other.txt"):
        moto_server.admin.put_object(Bucket=bucket, Key=key, Body=key.encode())
    work = tmp_path / "work"
    (work / "into").mkdir(parents=True)

    assert cdn("download", bucket, "img/photo.jpg", config=config, cwd=work).code == 0
    assert cdn("download", bucket, "img/photo.jpg", "into", config=config, cwd=work).code == 0
    named = cdn("download", bucket, "img/photo.jpg", "a/b.jpg", "--json", config=config, cwd=work)
    assert named.json()["path"] == "a/b.jpg"
    assert read_tree(work) == dict.fromkeys(
        ("photo.jpg", "into/photo.jpg", "a/b.jpg"), b"img/photo.jpg"
    )

    rows = [line.split() for line in cdn("ls", f"{bucket}/img/", config=config).out.splitlines()]
    assert [(row[0], row[-1]) for row in rows] == [("9", "img/b.txt"), ("13", "img/photo.jpg")]


def test_push_and_pull_move_only_what_changed(any_server: Server, tmp_path: Path) -> None:
    config = config_for(any_server, tmp_path)
    bucket = any_server.new_bucket()
    site = tmp_path / "site"
    tree = make_tree(
        site,
        {
            "index.html": b"<h1>v1</h1>",
            "css/main.css": b"body{}",
            "img/logo.png": os.urandom(70_000),
            "empty.txt": b"",
        },
    )
    (site / "passwords").symlink_to("/etc/passwd")

    dry = cdn("push", site, f"{bucket}/web", "--dry-run", "--json", config=config).json()
    assert dry["ok"] and dry["dry_run"]
    assert sorted(c["key"] for c in dry["transferred"]) == sorted(f"web/{n}" for n in tree)
    assert dry["skipped"] == [{"name": str(site / "passwords"), "why": "symbolic link"}]
    assert bucket_keys(any_server, bucket) == []

    first = cdn("push", site, f"{bucket}/web", config=config)
    assert first.code == 0, first.stderr
    assert "4 uploaded" in first.out and "skipped" in first.stderr
    assert sorted(site_keys(any_server, bucket)) == sorted(f"web/{n}" for n in tree)

    tree["index.html"] = b"<h1>v2</h1>"  # same size, other bytes: only the CRC tells
    tree["new/page.html"] = b"<p>new</p>"
    make_tree(site, tree)
    second = cdn("push", site, f"{bucket}/web", "--json", config=config).json()
    moved = {c["key"]: c["why"] for c in second["transferred"]}
    assert moved == {"web/index.html": "checksum differs", "web/new/page.html": "new"}
    assert len(second["unchanged"]) == 3

    mirror = tmp_path / "mirror"
    pulled = cdn("pull", f"{bucket}/web", mirror, config=config)
    assert pulled.code == 0, pulled.stderr
    assert read_tree(mirror) == tree

    (mirror / "css/main.css").write_bytes(b"BODY{}")
    (mirror / "img/logo.png").write_bytes(b"truncated")
    dry_pull = cdn("pull", f"{bucket}/web/", mirror, "--dry-run", "--json", config=config).json()
    assert {c["key"]: c["why"] for c in dry_pull["transferred"]} == {
        "web/css/main.css": "checksum differs",
        "web/img/logo.png": "size differs",
    }
    assert (mirror / "css/main.css").read_bytes() == b"BODY{}"
    again = cdn("pull", f"{bucket}/web", mirror, "--json", config=config).json()
    assert len(again["transferred"]) == 2 and len(again["unchanged"]) == 3
    assert read_tree(mirror) == tree


def test_pull_refuses_keys_that_would_escape_the_folder(
    moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    for key in ("evil/../../escape.txt", "evil//double.txt", "evil/ok.txt", "evil/sub/"):
        moto_server.admin.put_object(Bucket=bucket, Key=key, Body=b"" if key[-1] == "/" else b"x")
    target = tmp_path / "deep" / "target"

    dry = cdn("pull", f"{bucket}/evil", target, "--dry-run", config=config)
    assert dry.code == 1 and not (tmp_path / "deep").exists()
    run = cdn("pull", f"{bucket}/evil", target, "--json", config=config)
    assert run.code == 1
    report = run.json()
    assert report["ok"] is False
    assert [c["key"] for c in report["transferred"]] == ["evil/ok.txt"]
    assert sorted(r["name"] for r in report["refused"]) == [
        "evil/../../escape.txt",
        "evil//double.txt",
    ]
    assert report["skipped"] == [{"name": "evil/sub/", "why": "folder marker"}]
    assert "refused evil/../../escape.txt: unsafe key" in run.stderr
    assert files_under(tmp_path / "deep") == {"target/ok.txt"}


def test_objects_only_an_md5_etag_proves_are_pulled_once(
    moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    plain = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b").client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required"),
    )
    # No checksum sent: a single part is proven by its MD5 ETag, a multipart
    # upload by its ETag too (an MD5 of the parts' MD5s, over its layout).
    plain.put_object(Bucket=bucket, Key="legacy.bin", Body=b"no checksum sent")
    part = os.urandom(5 * MiB)
    upload = plain.create_multipart_upload(Bucket=bucket, Key="multi.bin")["UploadId"]
    etag = plain.upload_part(
        Bucket=bucket, Key="multi.bin", UploadId=upload, PartNumber=1, Body=part
    )["ETag"]
    plain.complete_multipart_upload(
        Bucket=bucket,
        Key="multi.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    first = cdn("pull", bucket, tmp_path / "out", "--json", config=config).json()
    assert [(c["key"], c["why"]) for c in first["transferred"]] == [
        ("legacy.bin", "new"),
        ("multi.bin", "new"),
    ]
    assert first["verified"] == {"legacy.bin": "md5 etag", "multi.bin": "md5 etag 1 part"}
    again = cdn("pull", bucket, tmp_path / "out", "--json", config=config).json()
    assert again["unchanged"] == ["legacy.bin", "multi.bin"]
    assert again["transferred"] == []
    assert again["verified"] == first["verified"]


# The least-privilege audit.


def test_doctor_passes_with_least_privilege_keys_and_fails_with_swapped_ones(
    iam_server: Server, tmp_path: Path
) -> None:
    good = config_for(iam_server, tmp_path / "good")
    run = cdn("doctor", "cdn-test", config=good)
    assert run.code == 0, run.out
    assert "all checks passed" in run.out

    creds = iam_server.credentials
    swapped = config_for(
        iam_server,
        tmp_path / "swapped",
        downloader_access_key=creds.uploader_access_key,
        downloader_access_secret=creds.uploader_access_secret,
        uploader_access_key=creds.downloader_access_key,
        uploader_access_secret=creds.downloader_access_secret,
    )
    failed = cdn("doctor", "cdn-test", "--json", config=swapped)
    assert failed.code == 1
    findings = {f["check"]: f["ok"] for f in failed.json()["findings"]}
    assert findings["write key can write"] is False
    assert findings["read key cannot write"] is False


def test_doctor_flags_one_key_pair_used_for_both_roles(s3s_server: Server, tmp_path: Path) -> None:
    run = cdn("doctor", "cdn-test", config=config_for(s3s_server, tmp_path))
    assert run.code == 1
    assert "[FAIL] read key cannot write" in run.out
    assert "[FAIL] write key cannot read" in run.out


# Failures and interruptions.


def test_failures_are_one_readable_line_without_the_secret(
    iam_server: Server, tmp_path: Path
) -> None:
    secret = "s3cr3t-value-that-must-never-be-printed"
    config = config_for(iam_server, tmp_path, downloader_access_secret=secret)

    run = cdn("download", "cdn-test", "anything.bin", config=config, cwd=tmp_path)
    assert run.code == 1
    assert "SignatureDoesNotMatch" in one_error_line(run)
    parsed = cdn("ls", "cdn-test", "--json", config=config).json()
    assert parsed["ok"] is False and parsed["error"]["reason"] == "SignatureDoesNotMatch"
    debug = cdn("ls", "cdn-test", "--debug", config=config)
    assert debug.code == 1 and "Traceback" in debug.stderr
    for output in (run.stderr + run.out, json.dumps(parsed), debug.stderr + debug.out):
        assert secret not in output

    missing = cdn("download", "cdn-test", "no/such.bin", config=config_for(iam_server, tmp_path))
    assert missing.code == 1 and "NoSuchKey" in one_error_line(missing)
    assert files_under(tmp_path) == {"cdn.yaml"}


def test_progress_bar_on_a_terminal_and_none_when_piped(
    slow_moto: Server, moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(slow_moto, tmp_path)
    data = os.urandom(12 * MiB)
    slow_moto.admin.put_object(Bucket="cdn-test", Key="cli/progress.bin", Body=data)

    code, drawn = run_in_terminal(
        ["--config", config, "download", "cdn-test", "cli/progress.bin", tmp_path / "tty.bin"]
    )
    assert code == 0, drawn
    frames = drawn.split("\r")
    assert any("ETA" in frame and "MiB/s" in frame and "%" in frame for frame in frames), drawn
    last = [frame for frame in frames if "100% |" in frame][-1]
    assert "12.0 MiB/12.0 MiB" in last and " in 0:0" in last
    assert (tmp_path / "tty.bin").read_bytes() == data

    direct = config_for(moto_server, tmp_path / "direct")
    piped = cdn("download", "cdn-test", "cli/progress.bin", tmp_path / "piped.bin", config=direct)
    assert piped.code == 0 and piped.stderr == ""
    assert (
        piped.out
        == f"downloaded cdn-test/cli/progress.bin -> {tmp_path / 'piped.bin'} (12.0 MiB)\n"
    )


def test_interrupted_pull_exits_130_and_leaves_only_complete_files(
    slow_moto: Server, tmp_path: Path
) -> None:
    config = config_for(slow_moto, tmp_path)
    bucket = slow_moto.new_bucket()
    objects = {f"set/small-{n:02}.bin": os.urandom(MiB) for n in range(16)}
    objects["set/big.bin"] = os.urandom(20 * MiB)  # ranged, multi-part download
    for key, data in objects.items():
        slow_moto.admin.put_object(Bucket=bucket, Key=key, Body=data)
    expected = {key.removeprefix("set/"): data for key, data in objects.items()}
    target = tmp_path / "target"

    process = start("pull", f"{bucket}/set", target, config=config)
    seen: set[str] = set()

    def some_files_done() -> bool:
        seen.clear()
        seen.update(files_under(target) if target.exists() else ())
        return len(seen & expected.keys()) >= 3

    wait_until(some_files_done, 60, "the first files of the pull")
    assert any(".cdnpart-" in name for name in seen), seen  # downloads were in flight
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130
    assert stderr.decode().strip().endswith("cdn-manager: error: interrupted")
    left = read_tree(target)
    assert left.keys() <= expected.keys()  # no temporary files
    assert all(data == expected[name] for name, data in left.items())  # no half files
    # The big file was in flight, far from done: it was stopped, not finished.
    assert "big.bin" not in left and len(left) < len(expected)


@pytest.mark.parametrize("command", ["upload", "push"])
def test_interrupted_upload_exits_130_and_leaves_no_multipart_upload_once_resumed(
    slow_moto: Server, tmp_path: Path, command: str
) -> None:
    config = config_for(slow_moto, tmp_path)
    bucket = slow_moto.new_bucket()
    folder = tmp_path / "folder"
    make_tree(folder, {"big.bin": os.urandom(40 * MiB), "next.bin": os.urandom(24 * MiB)})

    if command == "upload":
        process = start("upload", bucket, "big.bin", folder / "big.bin", config=config)
    else:
        process = start("push", folder, bucket, config=config)

    proxy = slow_moto.proxy
    assert proxy is not None

    def parts_on_the_wire() -> bool:
        # A part is sent only once its upload is created and journaled.
        return any("partNumber=" in exchange.target for exchange in list(proxy.exchanges))

    wait_until(parts_on_the_wire, 60, "a part of a multipart upload")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert site_keys(slow_moto, bucket) == []
    if command == "upload":
        # Refined by issue 13: an upload of a file keeps its stored parts for
        # the next run, which resumes and leaves no multipart upload behind.
        assert len(slow_moto.admin.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
        # It says what it kept (the parts the server confirmed, perhaps none
        # yet: at most what the server lists), and how to resume or discard it.
        said = re.fullmatch(
            r"cdn-manager: error: interrupted: the server keeps (.+) of 40\.0 MiB of this "
            r"upload: run the same command again to resume it, or `cdn-manager clean` to "
            r"discard it",
            err.decode().splitlines()[-1],
        )
        assert said, err.decode()
        (upload,) = slow_moto.admin.list_multipart_uploads(Bucket=bucket)["Uploads"]
        listed = slow_moto.admin.list_parts(
            Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"]
        ).get("Parts", [])
        stored = sum(part["Size"] for part in listed)
        part = 8 * MiB  # the default part size
        assert said[1] in {human_size(n * part) for n in range(stored // part + 1)}
        again = cdn("upload", bucket, "big.bin", folder / "big.bin", config=config)
        assert again.code == 0, again.stderr
        assert site_keys(slow_moto, bucket) == ["big.bin"]
    assert slow_moto.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.slow  # 1,000 files each way: make test runs it, make test-fast does not
def test_push_then_pull_of_1000_files_round_trips(s3s_server: Server, tmp_path: Path) -> None:
    config = config_for(s3s_server, tmp_path)
    bucket = s3s_server.new_bucket()
    rng = random.Random(6)
    tree = make_tree(
        tmp_path / "tree",
        {
            f"d{n % 10}/sub {n % 7}/file-{n:04}.txt": rng.randbytes(rng.randrange(0, 3000))
            for n in range(1000)
        },
    )

    first = cdn("push", tmp_path / "tree", f"{bucket}/snap", "--json", config=config).json()
    assert first["ok"] and len(first["transferred"]) == 1000
    second = cdn("push", tmp_path / "tree", f"{bucket}/snap", "--json", config=config).json()
    assert second["transferred"] == [] and len(second["unchanged"]) == 1000

    pulled = cdn("pull", f"{bucket}/snap", tmp_path / "copy", "--json", config=config).json()
    assert pulled["ok"] and len(pulled["transferred"]) == 1000
    assert read_tree(tmp_path / "copy") == tree


def test_pull_downloads_64_files_at_once_and_max_in_flight_sets_how_many(
    s3s_server: Server, tmp_path: Path
) -> None:
    bucket = s3s_server.new_bucket()
    tree = {f"f/{n:03}.bin": os.urandom(2000) for n in range(150)}
    for key, data in tree.items():
        s3s_server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    # Bodies paced to 100 KiB/s for all connections together: requests pile
    # up to however many the pull keeps in flight.
    with FaultProxy(s3s_server.endpoint, rate=100 * 1024) as proxy:
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        wide = cdn("pull", f"{bucket}/f", tmp_path / "wide", "--quiet", config=config)
        assert wide.code == 0, wide.stderr
        assert 32 < proxy.peak_requests <= 64
        proxy.peak_requests = 0
        narrow = cdn(
            "pull", f"{bucket}/f", tmp_path / "narrow", "--max-in-flight", "4", config=config
        )
        assert narrow.code == 0, narrow.stderr
        assert proxy.peak_requests <= 4
    for folder in ("wide", "narrow"):
        assert read_tree(tmp_path / folder) == {k[2:]: v for k, v in tree.items()}
    assert cdn("pull", "b/f", "x", "--max-in-flight", "0").code == 2


# The embedded server.


def test_local_server_serves_the_other_commands_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    server = start("local-server", "--json", cwd=tmp_path)
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        config = Path(ready["config"])
        assert config == tmp_path / "cdn.yaml" and (config.stat().st_mode & 0o777) == 0o600

        (tmp_path / "hello.txt").write_text("hello")
        assert cdn("upload", "cdn-demo", "hello.txt", "hello.txt", cwd=tmp_path).code == 0
        listing = cdn("ls", "cdn-demo", "--json", cwd=tmp_path).json()
        assert [o["key"] for o in listing["objects"]] == ["hello.txt"]
        assert cdn("doctor", "cdn-demo", "--quiet", cwd=tmp_path).code == 0

        second = cdn("local-server", cwd=tmp_path)
        assert second.code == 1 and "cdn.yaml exists: pass --force" in one_error_line(second)
        port = ready["endpoint"].rsplit(":", 1)[1]
        taken = cdn("--config", tmp_path / "other.yaml", "local-server", "--port", port)
        assert taken.code == 1 and "Address already in use" in one_error_line(taken)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0
    assert not config.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(port)), timeout=2):
        pass


def test_version_ls_and_download_never_import_boto3(moto_server: Server, tmp_path: Path) -> None:
    # Issue 31: start-up. boto3 and botocore take about 0.15 s to import;
    # the native plane signs, lists and downloads without them, so these
    # commands must not load them (PYTHONPROFILEIMPORTTIME lists every
    # module the process imported on stderr).
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    moto_server.admin.put_object(Bucket=bucket, Key="a/b.txt", Body=b"bytes")
    env = clean_env(PYTHONPROFILEIMPORTTIME="1", CDN_MANAGER_DATA_PLANE="native")
    runs = {
        "version": cdn("--version", env=env),
        "ls": cdn("ls", f"{bucket}/a/", config=config, env=env),
        "download": cdn("download", bucket, "a/b.txt", tmp_path / "b.txt", config=config, env=env),
    }
    for name, run in runs.items():
        assert run.code == 0, (name, run.stderr[-2000:])
        imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}
        assert "cdn_manager" in imported, name  # the listing is there to read
        # A configuration file is YAML; `--version` reads none.
        unwanted = {"boto3", "botocore"} | ({"yaml"} if name == "version" else set())
        assert not unwanted & imported, (name, unwanted & imported)
    assert "a/b.txt" in runs["ls"].out
    assert (tmp_path / "b.txt").read_bytes() == b"bytes"


#: Run in a fresh interpreter: the command line's ``main`` with the given
#: words, then the names of every module the process holds, as JSON, in the
#: file named first (stdout carries the command's own output).
_MODULES_AFTER = """\
import json, sys
from cdn_manager._cli import main
out, words = sys.argv[1], sys.argv[2:]
try:
    code = main(words)
except SystemExit as exit:
    code = exit.code
loaded = sorted(sys.modules)
with open(out, "w") as file:
    json.dump({"code": code, "modules": loaded}, file)
"""


def _modules_after(words: list[str], tmp_path: Path) -> tuple[int, str, set[str]]:
    """Runs the command line in a new process: (exit status, stdout, the
    modules it had imported when the command returned)."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, str(out), *words],
        capture_output=True,
        cwd=tmp_path,
        env=clean_env(CDN_MANAGER_DATA_PLANE="auto"),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(out.read_text())
    return report["code"], done.stdout.decode(), set(report["modules"])


def _sync_deploy_or_boto3(modules: set[str]) -> set[str]:
    heavy = ("boto3", "botocore", "shtab", "cdn_manager._sync", "cdn_manager._deploy")
    return {m for m in modules if any(m == h or m.startswith(f"{h}.") for h in heavy)}


def test_version_and_ls_load_neither_boto3_nor_the_sync_engine(
    moto_server: Server, tmp_path: Path
) -> None:
    # Issue 31: start quickly. Each command imports what it needs when it
    # runs: `--version` none of the commands, `ls` the listing on the native
    # plane, never boto3, shtab (completion), the sync engine or deploys.
    # What a process has imported, not how long it took: this cannot pass
    # or fail by the machine's load.
    bucket = moto_server.new_bucket()
    moto_server.admin.put_object(Bucket=bucket, Key="a/b.txt", Body=b"bytes")
    config = config_for(moto_server, tmp_path)

    code, out, modules = _modules_after(["--version"], tmp_path)
    assert code == 0 and out.startswith("cdn-manager ")
    assert "cdn_manager._cli.parser" in modules  # the grammar was built
    assert not _sync_deploy_or_boto3(modules)
    commands = {"cdn_manager._cli.commands", "cdn_manager._cli.objects", "cdn_manager._faces"}
    assert not commands & modules
    assert "yaml" not in modules  # no configuration is read

    code, out, modules = _modules_after(["--config", str(config), "ls", f"{bucket}/a"], tmp_path)
    assert code == 0 and out.split()[-1] == "a/b.txt"
    # The listing went through the manager on the native plane...
    assert {"cdn_manager._cli.objects", "cdn_manager._faces.manager"} <= modules
    assert {"cdn_manager._planes.native", "cdn_manager._core"} <= modules
    # ... and nothing a listing does not need came with it.
    assert not _sync_deploy_or_boto3(modules)
    assert "cdn_manager._cli.commands" not in modules
