"""``shard=(K, N)`` / ``--shard K/N``: N pushes or pulls that split one tree
with no coordination, each object in exactly one shard, deletes confined to
the shard's own keys."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdn_manager import CDNManager, InvalidRequest, Retention
from cdn_manager._sync.shard import Shard, shard_of

from conftest import Server
from helpers.cli import bucket_keys, cdn, config_for, make_tree, read_tree

NAMES = [f"dir-{i % 5}/file-{i:03}.txt" for i in range(60)] + ["ünï cødé.txt", "a b/c#d.txt"]


def test_every_path_is_in_exactly_one_shard_and_every_shard_gets_some() -> None:
    for count in range(1, 8):
        owners = {
            name: [k for k in range(1, count + 1) if Shard(k, count).owns(name)] for name in NAMES
        }
        assert all(len(found) == 1 for found in owners.values())
        assert {found[0] for found in owners.values()} == set(range(1, count + 1))


def test_shard_of_is_the_same_in_every_process_and_release() -> None:
    # Pinned: a change here would move objects between shards across versions.
    assert [shard_of(name, 4) for name in ("index.html", "a/b.css", "ünï.txt")] == [3, 4, 1]
    program = (
        "import sys\nfrom cdn_manager._sync.shard import shard_of\n"
        "print([shard_of(n, 7) for n in sys.argv[1:]])"
    )
    seen = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", program, *NAMES],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        seen.add(done.stdout)
    assert seen == {f"{[shard_of(n, 7) for n in NAMES]}\n"}


@pytest.mark.parametrize("bad", [(0, 4), (5, 4), (1, 0), (-1, 3), (True, 2), (1.0, 2)])
def test_impossible_shards_are_refused(bad: tuple[int, int]) -> None:
    with pytest.raises(InvalidRequest, match="shard"):
        Shard.of(bad)


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "a/b", "1/2/3", "-1/4", " 1/4", "1/0"])
def test_shard_text_must_be_k_of_n(text: str) -> None:
    with pytest.raises(InvalidRequest):
        Shard.parse(text)
    assert Shard.parse("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"


#: A retention window of the new release alone: what leaves the site is
#: deleted at once (test_releases.py tests the window itself).
AT_ONCE = Retention(releases=1, days=0)


def _push_state(server: Server, tmp_path: Path) -> tuple[CDNManager, str, Path]:
    """A bucket and a folder that differ in every way a push can see:
    new files, changed files, identical files and objects with no file."""
    manager = server.manager()
    bucket = server.new_bucket()
    site = tmp_path / "site"
    make_tree(site, {name: name.encode() * 3 for name in NAMES})
    manager.deploy(manager.plan_deploy(site, bucket, "web"))
    for name in NAMES[:10]:
        (site / name).write_bytes(b"changed " + name.encode())
    for name in NAMES[10:20]:
        (site / name).unlink()
    make_tree(site, {f"new/{i}.txt": b"new" for i in range(15)})
    return manager, bucket, site


def _disjoint_union(parts: list[set[str]], whole: set[str]) -> None:
    for a, b in itertools.combinations(parts, 2):
        assert not a & b
    assert set().union(*parts) == whole


def test_the_shards_of_a_push_plan_add_up_to_the_whole_plan(
    any_server: Server, tmp_path: Path
) -> None:
    manager, bucket, site = _push_state(any_server, tmp_path)
    with manager:
        whole = manager.plan_deploy(site, bucket, "web", delete=True, retention=AT_ONCE)
        shards = [
            manager.plan_deploy(site, bucket, "web", delete=True, shard=(k, 3), retention=AT_ONCE)
            for k in (1, 2, 3)
        ]
        # Within the default window, the shards retain what the whole retains.
        retained = manager.plan_deploy(site, bucket, "web", delete=True).retained
        for k in (1, 2, 3):
            plan = manager.plan_deploy(site, bucket, "web", delete=True, shard=(k, 3))
            assert plan.deletes == [] and set(plan.retained) <= set(retained)
    assert len(whole.uploads) == 25 and len(whole.deletes) == 10 and len(whole.unchanged) == 42
    assert len(retained) == 10
    for kind in ("uploads", "deletes", "unchanged"):
        keys = [{item.key for item in getattr(plan, kind)} for plan in shards]
        _disjoint_union(keys, {item.key for item in getattr(whole, kind)})
    for k, plan in enumerate(shards, 1):
        assert plan.shard == Shard(k, 3) and "(shard " in str(plan)
        owned = [item.key for item in (*plan.uploads, *plan.deletes, *plan.unchanged)]
        assert all(shard_of(key.removeprefix("web/"), 3) == k for key in owned)
        assert plan.stats.other_shards == whole.stats.files - plan.stats.files


def test_a_sharded_push_deletes_only_its_own_objects(any_server: Server, tmp_path: Path) -> None:
    manager, bucket, site = _push_state(any_server, tmp_path)
    before = set(bucket_keys(any_server, bucket))
    with manager:
        shard = (2, 3)
        plan = manager.plan_deploy(site, bucket, "web", delete=True, shard=shard, retention=AT_ONCE)
        report = manager.deploy(plan)
    assert report.ok
    gone = before - set(bucket_keys(any_server, bucket))
    # Exactly the shard's own keys without a file: the others' stay even
    # though they have no file either.
    absent = {f"web/{name}" for name in NAMES[10:20]}
    assert gone == {key for key in absent if shard_of(key.removeprefix("web/"), 3) == 2}
    assert gone and absent - gone


def test_the_shards_of_a_pull_plan_add_up_and_delete_only_their_own_files(
    any_server: Server, tmp_path: Path
) -> None:
    manager, bucket, site = _push_state(any_server, tmp_path)
    back = tmp_path / "back"
    with manager:
        manager.deploy(manager.plan_deploy(site, bucket, "web"))
        manager.pull(manager.plan_pull(bucket, "web", back))
        (back / NAMES[30]).write_bytes(b"changed locally")
        make_tree(back, {f"local-only/{i}.txt": b"mine" for i in range(12)})
        whole = manager.plan_pull(bucket, "web", back, delete=True)
        shards = [
            manager.plan_pull(bucket, "web", back, delete=True, shard=(k, 4)) for k in range(1, 5)
        ]
        assert len(whole.deletes) == 12 and len(whole.downloads) == 1
        for kind in ("deletes", "unchanged", "downloads"):
            _disjoint_union(
                [{a.key for a in getattr(p, kind)} for p in shards],
                {a.key for a in getattr(whole, kind)},
            )
        before = read_tree(back)
        one = shards[0]
        report = manager.pull(one)
        assert report.ok and len(report.deleted) == len(one.deletes)
    after = read_tree(back)
    gone = set(before) - set(after)
    assert gone == {d.key.removeprefix("web/") for d in one.deletes} and gone
    assert all(shard_of(name, 4) == 1 for name in gone)
    others = {d.key.removeprefix("web/") for d in whole.deletes} - gone
    assert others and all(name in after for name in others)


def test_push_and_pull_shard_on_the_command_line(moto_server: Server, tmp_path: Path) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    files = make_tree(tmp_path / "site", {name: name.encode() for name in NAMES})
    pushed: set[str] = set()
    for k in (1, 2):
        run = cdn(
            "push", tmp_path / "site", f"{bucket}/s", "--shard", f"{k}/2", "--json", config=config
        )
        assert run.code == 0, run.stderr
        document = run.json()
        assert document["shard"] == f"{k}/2"
        keys = {item["key"] for item in document["transferred"]}
        assert keys and all(shard_of(key.removeprefix("s/"), 2) == k for key in keys)
        pushed |= keys
    assert pushed == set(bucket_keys(moto_server, bucket)) == {f"s/{name}" for name in NAMES}

    for k in (1, 2):
        run = cdn("pull", f"{bucket}/s", tmp_path / "back", "--shard", f"{k}/2", config=config)
        assert run.code == 0, run.stderr
        assert f"(shard {k}/2)" in run.out
    assert read_tree(tmp_path / "back") == files


@pytest.mark.parametrize(
    "args",
    [
        ("push", ".", "b/p", "--shard", "0/4"),
        ("pull", "b/p", ".", "--shard", "5/4"),
        ("push", ".", "b/p", "--shard", "x"),
    ],
)
def test_an_impossible_shard_is_a_usage_error(args: tuple[str, ...], tmp_path: Path) -> None:
    run = cdn(*args, cwd=tmp_path)
    assert run.code == 2, run.stderr
    assert "argument --shard" in run.stderr
