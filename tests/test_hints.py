"""Fail once, hint well: what a new user meets in the first ten minutes says
what is wrong and what to try, once, with the same ``reason`` whichever
method met the condition."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdn_manager import AccessDenied, CDNCredentials, NotFound, TransferError

from conftest import BUCKET, Server
from helpers.cli import cdn, clean_env, config_for, one_error_line, write_config


@pytest.mark.usefixtures("face")
def test_access_denied_on_a_bucket_says_it_may_not_exist(
    iam_server: Server, tmp_path: Path
) -> None:
    # The read key may list only its own bucket: a typo looks like a refusal.
    with pytest.raises(AccessDenied) as caught:
        list(iam_server.manager().list("cdn-tset"))
    assert caught.value.reason == "AccessDenied"
    assert "bucket 'cdn-tset' may not exist" in str(caught.value)
    assert "read key may not be allowed to list" in str(caught.value)

    config = config_for(iam_server, tmp_path)
    run = cdn("ls", "cdn-tset", config=config)
    assert run.code == 1 and "may not exist" in one_error_line(run)
    (tmp_path / "page.html").write_text("<p>hi</p>")
    upload = cdn("upload", "cdn-tset", "page.html", tmp_path / "page.html", config=config)
    assert "write key may not be allowed to upload" in one_error_line(upload)


def swapped(server: Server) -> dict[str, str]:
    """Credential fields that make the read key the write key's."""
    creds = server.credentials
    return {
        "downloader_access_key": creds.uploader_access_key,
        "downloader_access_secret": creds.uploader_access_secret,
    }


@pytest.mark.usefixtures("face")
def test_one_reason_for_one_condition_on_every_method(
    iam_server: Server, moto_server: Server, tmp_path: Path
) -> None:
    manager = iam_server.manager()
    # A missing object: a HEAD answer has no code, the GET's says NoSuchKey.
    with pytest.raises(NotFound) as by_stat:
        manager.stat(BUCKET, "no/such.bin")
    with pytest.raises(NotFound) as by_get:
        manager.get_file(BUCKET, "no/such.bin", folder=tmp_path)
    assert by_stat.value.reason == by_get.value.reason == "NoSuchKey"
    assert manager.exists(BUCKET, "no/such.bin") is False

    # A key that may not read: AccessDenied, whichever call meets it.
    iam_server.admin.put_object(Bucket=BUCKET, Key="hints/x", Body=b"x")
    denied = iam_server.manager(**swapped(iam_server))
    reasons = set()
    for call in (
        lambda: denied.stat(BUCKET, "hints/x"),
        lambda: denied.exists(BUCKET, "hints/x"),
        lambda: denied.get_file(BUCKET, "hints/x", folder=tmp_path),
    ):
        with pytest.raises(AccessDenied) as caught:
            call()
        reasons.add(caught.value.reason)
    assert reasons == {"AccessDenied"}

    # A missing bucket, where the server says so: exists() raises it too.
    open_manager = moto_server.manager()
    for call in (
        lambda: open_manager.stat("no-such-bucket-here", "k"),
        lambda: open_manager.exists("no-such-bucket-here", "k"),
        lambda: open_manager.get_file("no-such-bucket-here", "k", folder=tmp_path),
    ):
        with pytest.raises(NotFound) as missing:
            call()
        assert missing.value.reason == "NoSuchBucket"


def test_rm_says_not_found_for_a_missing_key_unless_forced(
    moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    moto_server.admin.put_object(Bucket=bucket, Key="here.txt", Body=b"x")
    run = cdn("rm", bucket, "here.txt", "gone.txt", config=config)
    assert run.code == 1
    assert run.out == f"deleted {bucket}/here.txt\n"
    assert one_error_line(run) == f"cdn-manager: error: rm {bucket}/gone.txt: not found"
    forced = cdn("rm", "--force", bucket, "gone.txt", "--json", config=config)
    assert forced.code == 0 and forced.json()["deleted"] == ["gone.txt"]


@pytest.mark.usefixtures("face")
def test_https_against_a_plain_http_server_names_the_likely_cause(
    moto_server: Server, tmp_path: Path
) -> None:
    https = moto_server.endpoint.replace("http://", "https://")
    config = config_for(moto_server, tmp_path, host=https)
    for args in (["ls", BUCKET], ["download", BUCKET, "k", str(tmp_path / "out")]):
        run = cdn(*args, config=config)
        assert run.code == 1
        assert "the server may speak plain HTTP" in one_error_line(run), run.stderr
    manager = moto_server.manager(host=https)
    with pytest.raises(TransferError, match="plain HTTP"):
        manager.download_bytes(BUCKET, "k")


def test_a_config_readable_by_others_gets_one_warning_line(
    moto_server: Server, tmp_path: Path
) -> None:
    config = write_config(tmp_path, moto_server.credentials)
    moto_server.admin.put_object(Bucket=BUCKET, Key="hints/listed", Body=b"")
    listing = ("ls", f"{BUCKET}/hints/")
    assert cdn(*listing, config=config).stderr == ""  # mode 600: nothing to say

    config.chmod(0o640)
    group = cdn(*listing, config=config)
    assert group.code == 0
    assert group.stderr == (
        f"cdn-manager: {config} holds two secret keys and is readable by the group "
        f"(mode 640): chmod 600 {config}\n"
    )
    config.chmod(0o604)
    assert "is readable by others (mode 604)" in cdn(*listing, config=config).stderr
    config.chmod(0o620)  # writable by the group is another matter; not readable
    assert cdn(*listing, config=config).stderr == ""


def test_the_user_config_is_looked_up_after_the_working_folder(
    moto_server: Server, tmp_path: Path
) -> None:
    home, xdg, work = tmp_path / "home", tmp_path / "xdg", tmp_path / "work"
    work.mkdir()
    listing = ("ls", BUCKET)
    # $XDG_CONFIG_HOME/cdn-manager/cdn.yaml ...
    config_for(moto_server, xdg / "cdn-manager")
    xdg_env = clean_env(HOME=str(home), XDG_CONFIG_HOME=str(xdg))
    assert cdn(*listing, cwd=work, env=xdg_env).code == 0
    # ... else ~/.config/cdn-manager/cdn.yaml ...
    config_for(moto_server, home / ".config" / "cdn-manager")
    env = clean_env(HOME=str(home), XDG_CONFIG_HOME="")
    assert cdn(*listing, cwd=work, env=env).code == 0
    # ... but ./cdn.yaml first (here one pointing nowhere).
    nowhere = CDNCredentials(**{**moto_server.credentials.__dict__, "host": "http://127.0.0.1:9"})
    write_config(work, nowhere)
    run = cdn(*listing, cwd=work, env=env)
    assert run.code == 1 and "127.0.0.1:9" in run.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    none = cdn(*listing, cwd=empty, env=clean_env(HOME=str(tmp_path / "nobody")))
    assert f"{tmp_path}/nobody/.config/cdn-manager/cdn.yaml" in one_error_line(none)
