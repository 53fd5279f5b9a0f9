"""The habits people bring from other command lines: a list of commands when
none is given, the nearest command for a mistyped one, tab completion,
``s3://BUCKET/KEY`` as aws, s5cmd and rclone users type it, each command
showing only its own options, and a hint wherever the first try goes
wrong."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from cdn_manager._cli import handler
from cdn_manager._cli.app import split_location
from cdn_manager._cli.parser import build_parser

from conftest import BUCKET, Server
from helpers.cli import CLI, cdn, config_for, one_error_line, site_keys

COMMANDS = ("upload", "download", "push", "pull", "verify", "ls", "rm", "presign", "doctor")


def test_no_command_shows_the_commands_and_exits_2() -> None:
    run = cdn()
    assert run.code == 2
    for command in (*COMMANDS, "clean", "local-server", "completion"):
        assert f"\n    {command}" in run.stderr
    assert run.stderr.endswith("cdn-manager: error: no command given\n")


def test_every_command_names_a_handler_that_exists() -> None:
    # The grammar names each command's handler as "module:function", imported
    # only when the command runs (start-up, issue 31): a typo there would
    # surface only when someone runs that command.
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {*COMMANDS, "clean", "local-server", "completion"} <= set(commands.choices)
    for name, command in commands.choices.items():
        reference = command.get_default("run")
        assert isinstance(reference, str), name
        assert callable(handler(reference)), (name, reference)
        assert reference.partition(":")[2].startswith("cmd_"), (name, reference)


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("uplaod", "unknown command 'uplaod' (did you mean 'upload'?)"),
        ("dowload", "unknown command 'dowload' (did you mean 'download'?)"),
        ("cp", "unknown command 'cp' (cdn-manager calls it upload or download)"),
        ("sync", "unknown command 'sync' (cdn-manager calls it push or pull)"),
        ("frobnicate", "unknown command 'frobnicate' (the commands are upload, download, push"),
    ],
)
def test_a_mistyped_command_gets_the_nearest_one(typed: str, hint: str) -> None:
    run = cdn("--config", "x.yaml", typed, "cdn-demo")
    assert run.code == 2
    assert run.stderr.splitlines()[-1].startswith(f"cdn-manager: error: {hint}")


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``cdn-manager completion bash`` prints, in a file."""
    run = cdn("completion", "bash")
    assert run.code == 0
    path = tmp_path_factory.mktemp("completion") / "cdn-manager.bash"
    path.write_bytes(run.stdout)
    return path


def complete_in_bash(script: Path, line: str) -> list[str]:
    """What bash offers on TAB after ``line``, with the completion script
    loaded as a user loads it (``source``)."""
    program = f"""
        source '{script}'
        COMP_LINE='{line}'
        COMP_POINT=${{#COMP_LINE}}
        read -ra COMP_WORDS <<< "$COMP_LINE"
        [[ "$COMP_LINE" == *' ' ]] && COMP_WORDS+=('')
        COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        function=$(complete -p cdn-manager | sed -E 's/.* -F ([^ ]+) .*/\\1/')
        "$function" cdn-manager "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return sorted(word.strip() for word in done.stdout.split())


def test_bash_completes_commands_and_each_commands_own_options(bash_script: Path) -> None:
    assert complete_in_bash(bash_script, "cdn-manager up") == ["upload"]
    assert complete_in_bash(bash_script, "cdn-manager p") == ["presign", "prune", "pull", "push"]
    assert "--no-resume" in complete_in_bash(bash_script, "cdn-manager download --")
    assert "--dry-run" in complete_in_bash(bash_script, "cdn-manager push --")
    # Options that do not apply are not offered.
    listing = complete_in_bash(bash_script, "cdn-manager ls --")
    assert "--json" in listing
    assert "--no-resume" not in listing and "--bwlimit" not in listing
    assert complete_in_bash(bash_script, "cdn-manager completion ") == ["bash", "fish", "zsh"]


def test_the_bash_script_loads_with_eval_as_the_help_says() -> None:
    done = subprocess.run(
        ["bash", "-c", f"eval \"$('{CLI}' completion bash)\" && complete -p cdn-manager"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("complete ") and done.stdout.rstrip().endswith(" cdn-manager")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str) -> None:
    run = cdn("completion", shell)
    assert run.code == 0
    for command in COMMANDS:
        assert command in run.out
    if shell == "fish":
        assert "complete -c cdn-manager -f -n __fish_use_subcommand -a upload" in run.out
        assert "-n '__fish_seen_subcommand_from download' -l no-resume" in run.out
        assert "-n '__fish_seen_subcommand_from ls' -l no-resume" not in run.out


@pytest.mark.parametrize("command", ["ls", "rm", "presign", "doctor", "verify", "clean"])
def test_commands_that_transfer_nothing_offer_no_transfer_options(command: str) -> None:
    shown = cdn(command, "--help").out
    assert "--no-resume" not in shown and "--bwlimit" not in shown


def test_an_option_of_another_command_is_a_usage_error() -> None:
    run = cdn("ls", "cdn-demo", "--no-resume")
    assert run.code == 2 and "unrecognized arguments: --no-resume" in run.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["upload", "s3://b/k/x.html", "f"], {"bucket": "b", "key": "k/x.html", "file": "f"}),
        (["upload", "b", "k/x.html", "f"], {"bucket": "b", "key": "k/x.html", "file": "f"}),
        (["download", "s3://b/k"], {"bucket": "b", "key": "k", "dest": None}),
        (["download", "S3://b/k", "out/"], {"bucket": "b", "key": "k", "dest": "out/"}),
        (["download", "b", "k", "-"], {"bucket": "b", "key": "k", "dest": "-"}),
        (["presign", "s3://b/k"], {"bucket": "b", "key": "k"}),
        (["rm", "s3://b/k1", "s3://b/k2"], {"bucket": "b", "keys": ["k1", "k2"]}),
        (["rm", "b", "k1", "k2"], {"bucket": "b", "keys": ["k1", "k2"]}),
        (["ls", "s3://b/site/"], {"location": "s3://b/site/"}),
        (["doctor", "s3://b"], {"bucket": "b"}),
        (["doctor", "s3://b/"], {"bucket": "b"}),
    ],
)
def test_s3_urls_name_what_bucket_and_key_name(args: list[str], named: dict[str, object]) -> None:
    parsed = vars(build_parser().parse_args(args))
    assert {name: parsed[name] for name in named} == named


def test_locations_take_s3_urls() -> None:
    assert split_location("s3://b/site/a") == ("b", "site/a")
    assert split_location("s3://b") == ("b", "")
    assert split_location("b/site") == ("b", "site")


@pytest.mark.parametrize(
    "args",
    [
        ["upload", "s3://b", "f"],  # no key
        ["upload", "s3://b/k", "f", "extra"],
        ["upload", "b", "k"],  # no file
        ["rm", "s3://b/a", "b"],  # a URL, then a bare key
        ["rm", "s3://b/a", "s3://other/b"],  # one bucket at a time
        ["doctor", "s3://b/key"],
    ],
)
def test_an_incomplete_or_mixed_object_name_is_a_usage_error(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(args)
    assert exited.value.code == 2


def test_s3_urls_work_through_every_command(moto_server: Server, tmp_path: Path) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    page = tmp_path / "page.html"
    page.write_text("<p>hi</p>\n")

    def ok(*args: str | Path) -> str:
        run = cdn(*args, config=config, cwd=tmp_path)
        assert run.code == 0, run.stderr
        return run.out

    ok("upload", f"s3://{bucket}/one/page.html", page)
    ok("upload", bucket, "two/page.html", page)
    assert ok("ls", f"s3://{bucket}/one/").split()[-1] == "one/page.html"
    ok("download", f"s3://{bucket}/two/page.html", tmp_path / "fetched.html")
    assert (tmp_path / "fetched.html").read_text() == "<p>hi</p>\n"
    assert ok("presign", f"s3://{bucket}/one/page.html").startswith(moto_server.endpoint)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>site</h1>\n")
    ok("push", site, f"s3://{bucket}/site")
    ok("pull", f"s3://{bucket}/site", tmp_path / "mirror")
    assert (tmp_path / "mirror" / "index.html").read_text() == "<h1>site</h1>\n"
    ok("rm", f"s3://{bucket}/one/page.html", f"S3://{bucket}/two/page.html")
    assert site_keys(moto_server, bucket) == ["site/index.html"]


def test_upload_of_a_folder_points_to_push(moto_server: Server, tmp_path: Path) -> None:
    config = config_for(moto_server, tmp_path)
    (tmp_path / "site").mkdir()
    run = cdn("upload", BUCKET, "site", tmp_path / "site", config=config)
    assert run.code == 2
    assert run.stderr.splitlines()[-1] == (
        f"cdn-manager upload: error: {tmp_path}/site is a folder: "
        f"`cdn-manager push {tmp_path}/site {BUCKET}/site` uploads a folder (only what changed)"
    )


def test_doctor_says_when_the_bucket_itself_may_be_missing(
    iam_server: Server, moto_server: Server, tmp_path: Path
) -> None:
    # Keys limited to one bucket are refused a missing one: both refused all.
    limited = cdn("doctor", "cdn-tset", config=config_for(iam_server, tmp_path / "iam"))
    assert limited.code == 1
    assert (
        "  note: neither key may write to bucket 'cdn-tset' nor list it: the bucket may not "
        "exist (check the name), or neither key is allowed on it"
    ) in limited.out.splitlines()
    # A server that says so.
    open_server = cdn("doctor", "no-such-bucket", config=config_for(moto_server, tmp_path / "o"))
    assert open_server.code == 1
    assert "bucket 'no-such-bucket' does not exist on this server" in open_server.out
    # The right bucket: no note.
    fine = cdn("doctor", BUCKET, config=config_for(iam_server, tmp_path / "fine"))
    assert fine.code == 0 and "note:" not in fine.out


def test_a_refused_object_blames_the_key_not_the_bucket(iam_server: Server, tmp_path: Path) -> None:
    creds = iam_server.credentials
    swapped = config_for(
        iam_server,
        tmp_path,
        uploader_access_key=creds.downloader_access_key,
        uploader_access_secret=creds.downloader_access_secret,
    )
    (tmp_path / "x.txt").write_text("x")
    run = cdn("upload", BUCKET, "x.txt", tmp_path / "x.txt", config=swapped)
    line = one_error_line(run)
    assert "the write key may not be allowed to upload in bucket 'cdn-test'" in line
    assert "cdn-manager doctor cdn-test" in line
    assert "bucket name" not in line and "may not exist" not in line


def test_what_people_typed_is_quoted_as_typed_not_as_python_would() -> None:
    run = cdn("download", "cdn-demo", "k", "--bwlimit", "it's fast")
    assert run.code == 2
    assert "not a rate: 'it's fast' (bytes per second" in run.stderr
    shard = cdn("push", "site", "cdn-demo/site", "--shard", "1/x")
    assert shard.code == 2 and "a shard is K/N, not '1/x'" in shard.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands_and_each_commands_own_options(tmp_path: Path) -> None:
    script = tmp_path / "cdn-manager.fish"
    script.write_bytes(cdn("completion", "fish").stdout)

    def offered(line: str) -> list[str]:
        done = subprocess.run(
            ["fish", "-c", f"source {script}; complete -C '{line}'"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return sorted(row.split("\t")[0] for row in done.stdout.splitlines())

    assert offered("cdn-manager up") == ["upload"]
    assert offered("cdn-manager download --no") == ["--no-resume"]
    assert offered("cdn-manager ls --no") == []
    assert offered("cdn-manager completion ") == ["bash", "fish", "zsh"]
