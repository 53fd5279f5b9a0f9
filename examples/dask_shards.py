"""Push a tree to a bucket and pull it back as N shards on Dask.

``python examples/dask_shards.py`` starts a local S3 server (moto, IAM
enforced), writes 500 small files, starts a ``LocalCluster`` of 4 worker
processes, sends them one pickled :class:`CDNManager`, pushes the tree as 4
shards, pulls it back into another folder as 4 shards, and prints one
report gathered from the workers. Needs ``dask[distributed]``, which is not
a dependency of cdn-manager.

On a real cluster, ``Client("tcp://scheduler:8786")`` replaces the
``LocalCluster``; a push reads ``folder`` on the worker, so every worker
must see the same tree (a shared file system, or the same checkout). The
pickled manager holds both secret keys: the cluster's links carry them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dask.distributed import Client, LocalCluster

from cdn_manager import CDNManager

#: What a worker sends back for one shard.
ShardReport = dict[str, Any]


def push_shard(
    manager: CDNManager, folder: str, bucket: str, prefix: str, shard: tuple[int, int]
) -> ShardReport:
    """Runs on a worker: deploys shard ``(K, N)`` of ``folder``."""
    plan = manager.plan_deploy(folder, bucket, prefix, shard=shard)
    report = manager.deploy(plan)
    return {
        "shard": str(plan.shard),
        "data_plane": manager.data_plane.name,
        "keys": sorted(upload.key for upload in report.uploaded),
        "bytes": sum(upload.size for upload in report.uploaded),
        "failed": [(key, str(err)) for key, err in report.failed],
        "ok": report.ok,
    }


def pull_shard(
    manager: CDNManager, bucket: str, prefix: str, folder: str, shard: tuple[int, int]
) -> ShardReport:
    """Runs on a worker: pulls shard ``(K, N)`` of ``bucket/prefix`` into
    ``folder``."""
    plan = manager.plan_pull(bucket, prefix, folder, shard=shard)
    report = manager.pull(plan)
    return {
        "shard": str(plan.shard),
        "data_plane": manager.data_plane.name,
        "keys": sorted(download.key for download in report.downloaded),
        "bytes": sum(download.size for download in report.downloaded),
        "failed": [(key, str(err)) for key, err in report.failed],
        "ok": report.ok,
    }


def sharded_round_trip(
    client: Client,
    manager: CDNManager,
    folder: Path,
    bucket: str,
    prefix: str,
    mirror_folder: Path,
    shards: int,
) -> dict[str, Any]:
    """Pushes ``folder`` to ``bucket/prefix`` as ``shards`` tasks, then pulls
    it into ``mirror_folder`` as many: one report of both."""
    # Pickled once, unpickled once per worker, where it builds its own
    # clients and threads.
    [remote] = client.scatter([manager], broadcast=True)
    every = [(k, shards) for k in range(1, shards + 1)]
    pushes = client.gather(
        [client.submit(push_shard, remote, str(folder), bucket, prefix, s) for s in every]
    )
    pulls = client.gather(
        [client.submit(pull_shard, remote, bucket, prefix, str(mirror_folder), s) for s in every]
    )
    return {
        "shards": shards,
        "ok": all(r["ok"] for r in pushes + pulls),
        "uploaded": sum(len(r["keys"]) for r in pushes),
        "downloaded": sum(len(r["keys"]) for r in pulls),
        "bytes": sum(r["bytes"] for r in pulls),
        "push": pushes,
        "pull": pulls,
    }


def main() -> None:
    from cdn_manager.local_server import start_local_server

    server = start_local_server(bucket="cdn-demo")
    with tempfile.TemporaryDirectory(prefix="cdn-dask-") as scratch:
        site, back = Path(scratch, "site"), Path(scratch, "mirror")
        for i in range(500):
            path = site / f"part-{i % 7}" / f"file-{i:04}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"object {i}\n".encode() * (i % 50 + 1))
        manager = CDNManager(server.credentials)
        with (
            LocalCluster(n_workers=4, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            report = sharded_round_trip(client, manager, site, server.bucket, "site", back, 4)
        same = all(
            path.read_bytes() == (back / path.relative_to(site)).read_bytes()
            for path in site.rglob("*")
            if path.is_file()
        )
        manager.close()
    server.stop()
    summary = {k: v for k, v in report.items() if k not in ("push", "pull")}
    per_shard = [
        (p["shard"], len(p["keys"]), len(q["keys"]))
        for p, q in zip(report["push"], report["pull"], strict=True)
    ]
    print(json.dumps({**summary, "bytes_identical": same}, indent=2))
    for shard, pushed, pulled in per_shard:
        print(f"shard {shard}: pushed {pushed}, pulled {pulled}")
    sys.exit(0 if report["ok"] and same else 1)


if __name__ == "__main__":
    main()
