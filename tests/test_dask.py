"""A tree pushed and pulled as 4 shards by 4 Dask worker processes
(``examples/dask_shards.py``), one pickled manager sent to them all."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import dask
import pytest
from dask.distributed import Client, LocalCluster

from conftest import Server
from helpers.cli import bucket_keys, make_tree, read_tree

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OBJECTS = 5000
SHARDS = 4


# About 40 s on 2 busy cores (4 worker processes start, 10,000 transfers):
# make test and .ci/run run it, make test-fast does not.
@pytest.mark.slow
def test_5000_objects_pushed_and_pulled_back_as_4_shards_on_dask(
    s3s_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worker processes are spawned with this process's sys.path, so they
    # import the example's task functions from the same place.
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import dask_shards

    rng = random.Random(14)
    files = make_tree(
        tmp_path / "site",
        {
            f"d{i % 23}/{i % 7}/object-{i:05}.bin": rng.randbytes(rng.randrange(1, 4096))
            for i in range(OBJECTS)
        },
    )
    bucket = s3s_server.new_bucket()
    manager = s3s_server.manager()
    with (
        # A worker that dies fails its shard at once (KilledWorker), with the
        # worker's last words in the captured stderr (the suite runs with
        # PYTHONFAULTHANDLER=1), instead of the shard being run again on a
        # fresh worker, where the push finds half its tree already there.
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=SHARDS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        report = dask_shards.sharded_round_trip(
            client, manager, tmp_path / "site", bucket, "tree", tmp_path / "back", SHARDS
        )
    manager.close()

    assert report["ok"], [(r["shard"], r["failed"][:3]) for r in report["push"] + report["pull"]]
    assert report["uploaded"] == report["downloaded"] == OBJECTS
    assert report["bytes"] == sum(map(len, files.values()))
    pushed = [set(r["keys"]) for r in report["push"]]
    pulled = [set(r["keys"]) for r in report["pull"]]
    assert pushed == pulled
    for a, b in itertools.combinations(pushed, 2):
        assert not a & b
    assert set().union(*pushed) == set(bucket_keys(s3s_server, bucket))
    assert {r["shard"] for r in report["push"]} == {f"{k}/{SHARDS}" for k in range(1, 5)}
    # The workers' managers carried the configured plane (the suite's
    # no-fallback guard cannot see into their processes).
    assert {r["data_plane"] for r in report["push"] + report["pull"]} == {manager.data_plane.name}
    assert read_tree(tmp_path / "back") == files
