"""A 3-node Garage cluster on loopback (three processes, every object stored
on all three): a storage node dies in the middle of a batch and comes back,
the node the client talks to dies and comes back after the batch, or a node
is down before it starts. Every item either arrives with its exact bytes
or fails with an error that names it, leaving no partial file and (once the
cluster is whole again) no unfinished multipart upload; the failed items
then succeed when run again.

"Once the cluster is whole" means once Garage's anti-entropy has run: a
listing of multipart uploads through one node merges that node's copy of
the bucket's index with one other replica's, each filtered *before* the
merge (garage_table's range reads), so a replica that was down when an
upload completed still lists it as unfinished until anti-entropy (every 10
minutes, or ``garage repair tables``) brings it the completion. The tests
start that repair, then list through every node.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cdn_manager import CDNCredentials, CDNManager, TransferResult
from cdn_manager._planes.failures import error_code

from conftest import SMALL_PARTS, MiB, Server, admin_client, files_under
from helpers.garage import REGION, GarageCluster, GarageNode
from helpers.leaks import remember

pytestmark = pytest.mark.slow

#: 200 transfers: 100 uploads and 100 downloads, each a tenth multipart.
ITEMS_PER_DIRECTION = 100


def payload(i: int) -> bytes:
    size = 6 * MiB + i if i % 10 == 0 else 20_000 + i
    return os.urandom(size)


@pytest.fixture
def cluster(garage_bin: str, tmp_path: Path) -> Iterator[tuple[GarageCluster, Server]]:
    """Three nodes; the manager (and the admin client) talk to node 0."""
    garage = GarageCluster(garage_bin, tmp_path / "cluster", size=3)
    try:
        admin_key = garage.create_key("admin")
        reader, writer = garage.create_key("reader"), garage.create_key("writer")
        remember(admin_key[1], reader[1], writer[1])
        bucket = "cluster-bucket"
        garage.create_bucket(bucket)
        garage.allow(bucket, admin_key[0], "read", "write", "owner")
        garage.allow(bucket, reader[0], "read")
        garage.allow(bucket, writer[0], "write")
        endpoint = garage.endpoint
        credentials = CDNCredentials(endpoint, *reader, *writer, region=REGION)
        admin = admin_client(endpoint, *admin_key, region=REGION)
        yield garage, Server(endpoint, credentials, admin, "garage-cluster", admin_key)
    finally:
        garage.close()


def run_batch(
    manager: CDNManager,
    bucket: str,
    uploads: dict[str, bytes],
    downloads: list[str],
    dest: Path,
    progress: Callable[[int], None] = lambda moved: None,
) -> tuple[list[TransferResult], list[TransferResult]]:
    """The uploads and the downloads, at the same time; ``progress`` gets
    the uploads' progress."""
    results: dict[str, list[TransferResult]] = {}

    def up() -> None:
        results["up"] = manager.upload_many(bucket, uploads.items(), progress=progress)

    thread = threading.Thread(target=up)
    thread.start()
    results["down"] = manager.download_many(bucket, downloads, dest)
    thread.join()
    return results["up"], results["down"]


def check_outcomes(
    server: Server,
    bucket: str,
    uploads: dict[str, bytes],
    seeded: dict[str, bytes],
    up: list[TransferResult],
    down: list[TransferResult],
    dest: Path,
) -> tuple[dict[str, bytes], list[str]]:
    """Asserts every item is exact or failed cleanly; returns the failed ones."""
    failed_up = {r.key: uploads[r.key] for r in up if not r.ok}
    failed_down = [r.key for r in down if not r.ok]
    for result in [*up, *down]:
        if not result.ok:
            assert result.error is not None and result.key in str(result.error)
    for result in up:
        if result.ok:
            body = server.admin.get_object(Bucket=bucket, Key=result.key)["Body"].read()
            assert body == uploads[result.key]
    for result in down:
        if result.ok:
            assert (dest / result.key).read_bytes() == seeded[result.key]
    # Nothing but the finished downloads in the folder: no partial file.
    assert files_under(dest) == {r.key for r in down if r.ok}
    return failed_up, failed_down


def listings(garage: GarageCluster, server: Server, bucket: str) -> dict[int, list[str]]:
    """The unfinished multipart uploads listed through each node's S3 API
    (each node's listing includes its own replica)."""
    listed = {}
    for i, node in enumerate(garage.nodes):
        admin = admin_client(node.endpoint, *server.admin_key, region=REGION)
        uploads = admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        listed[i] = [u["UploadId"] for u in uploads]
    return listed


def whole(garage: GarageCluster, server: Server, bucket: str, timeout: float = 60.0) -> None:
    """Until every node answers a listing (a restarted node's S3 port opens
    before it has reconnected to a quorum of its peers)."""
    garage.wait_until_serving()
    deadline = time.monotonic() + timeout
    while True:
        try:
            listings(garage, server, bucket)
            return
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def after_repair(
    garage: GarageCluster,
    server: Server,
    bucket: str,
    done: Callable[[dict[int, list[str]]], bool],
    timeout: float = 60.0,
) -> dict[int, list[str]]:
    """Every node's listing, polled after starting anti-entropy until
    ``done`` accepts it or ``timeout``; prints it and the one before."""
    whole(garage, server, bucket)
    before = listings(garage, server, bucket)
    garage.repair_tables()
    deadline = time.monotonic() + timeout
    while True:
        listed = listings(garage, server, bucket)
        if done(listed) or time.monotonic() > deadline:
            print(f"listed through nodes 0-2 before anti-entropy: {before}; after: {listed}")
            return listed
        time.sleep(0.5)


def settled_listings(garage: GarageCluster, server: Server, bucket: str) -> dict[int, list[str]]:
    """Every node's listing once anti-entropy has run: polled until all are
    empty or a minute has passed (an upload really left unfinished stays
    listed on every replica, so it is still there at the end)."""
    return after_repair(garage, server, bucket, lambda listed: not any(listed.values()))


def converged(garage: GarageCluster, server: Server, bucket: str) -> None:
    """Until every node lists the same unfinished uploads, after anti-entropy.
    A CreateMultipartUpload cut off by its node's death may have reached one
    replica only: below write quorum, so a listing that reads the two others
    does not show it until anti-entropy copies it, and no client can find
    (and abort) it before then. A listing through a replica always includes
    that replica, so equal listings mean every replica's entries are seen."""

    def same(listed: dict[int, list[str]]) -> bool:
        return len({frozenset(ids) for ids in listed.values()}) == 1

    listed = after_repair(garage, server, bucket, same)
    assert same(listed), f"the nodes' listings did not converge: {listed}"


NONE_LISTED = {0: [], 1: [], 2: []}


def beyond_the_api(server: Server, bucket: str) -> set[str]:
    """Listed uploads that Garage no longer knows otherwise: a creation cut
    off by the node's death between Garage's two records leaves an upload
    that listings show but ListParts and AbortMultipartUpload answer with
    NoSuchUpload (seen in CI). No S3 call removes it; the manager tries
    (the abort counts as done), and `garage bucket cleanup-incomplete-uploads`
    or a lifecycle rule is what does (the manager says so at WARNING)."""
    found = set()
    for upload in server.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        try:
            server.admin.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        except ClientError as err:
            if error_code(err) == "NoSuchUpload":
                found.add(upload["UploadId"])
    return found


class Killer:
    """A batch's progress callback that kills ``victim`` once a third of the
    upload bytes have moved and, with ``restart``, starts it again at two
    thirds; ``events`` says what it did."""

    def __init__(self, victim: GarageNode, uploads: dict[str, bytes], restart: bool) -> None:
        self.victim = victim
        self.total = sum(map(len, uploads.values()))
        self.restart = restart
        self.events: list[str] = []
        self._moved = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self._moved += n
            if not self.events and self._moved > self.total // 3:
                self.victim.kill()
                self.events.append("killed")
            elif self.restart and self.events == ["killed"] and self._moved > 2 * self.total // 3:
                self.victim.start()
                self.events.append("restarted")


def assert_all_exact(
    garage: GarageCluster,
    server: Server,
    bucket: str,
    uploads: dict[str, bytes],
    seeded: dict[str, bytes],
    dest: Path,
) -> None:
    """After the rerun: every upload stored and every download on disk with
    its exact bytes, nothing else in the folder, no upload left unfinished."""
    for key, data in uploads.items():
        assert server.admin.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert files_under(dest) == set(seeded)
    assert all((dest / key).read_bytes() == data for key, data in seeded.items())
    unreachable = beyond_the_api(server, bucket)
    left = settled_listings(garage, server, bucket)
    assert {node: sorted(set(ids) - unreachable) for node, ids in left.items()} == NONE_LISTED


def seed(server: Server, bucket: str) -> dict[str, bytes]:
    seeded = {f"seed/{i:03}.bin": payload(i) for i in range(ITEMS_PER_DIRECTION)}
    for key, data in seeded.items():
        server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    return seeded


@pytest.mark.node_kill
def test_a_node_killed_mid_batch_leaves_every_item_exact_or_cleanly_failed(
    cluster: tuple[GarageCluster, Server], tmp_path: Path
) -> None:
    garage, server = cluster
    bucket = "cluster-bucket"
    seeded = seed(server, bucket)
    uploads = {f"up/{i:03}.bin": payload(i) for i in range(ITEMS_PER_DIRECTION)}
    dest = tmp_path / "down"
    manager = CDNManager(server.credentials, SMALL_PARTS)
    victim = garage.nodes[2]
    # Down in the middle of the batch, whatever the machine's speed.
    killer = Killer(victim, uploads, restart=True)
    up, down = run_batch(manager, bucket, uploads, list(seeded), dest, killer)
    if killer.events == ["killed"]:
        victim.start()
    assert killer.events[0] == "killed"
    failed_up, failed_down = check_outcomes(server, bucket, uploads, seeded, up, down, dest)
    print(f"failed while a node was down: {len(failed_up)} uploads, {len(failed_down)} downloads")
    assert settled_listings(garage, server, bucket) == NONE_LISTED
    rerun_up, rerun_down = run_batch(manager, bucket, failed_up, failed_down, dest)
    assert [r.key for r in [*rerun_up, *rerun_down] if not r.ok] == []
    assert_all_exact(garage, server, bucket, uploads, seeded, dest)


@pytest.mark.node_kill
def test_the_node_the_client_talks_to_killed_mid_batch_fails_items_cleanly_and_a_rerun_succeeds(
    cluster: tuple[GarageCluster, Server], tmp_path: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    garage, server = cluster
    bucket = "cluster-bucket"
    seeded = seed(server, bucket)
    uploads = {f"up/{i:03}.bin": payload(i) for i in range(ITEMS_PER_DIRECTION)}
    dest = tmp_path / "down"
    # Not resumable: a failed ranged download then leaves nothing (a
    # resumable one keeps its journaled part for the next run, by design).
    manager = CDNManager(server.credentials, replace(SMALL_PARTS, resume=False))
    victim = garage.nodes[0]
    # Down until the batch ends: every item still running fails.
    killer = Killer(victim, uploads, restart=False)
    up, down = run_batch(manager, bucket, uploads, list(seeded), dest, killer)
    victim.start()
    assert killer.events == ["killed"]
    # The admin client reads the uploads back through the restarted node.
    whole(garage, server, bucket)
    failed_up, failed_down = check_outcomes(server, bucket, uploads, seeded, up, down, dest)
    print(f"failed with the endpoint down: {len(failed_up)} uploads, {len(failed_down)} downloads")
    assert failed_up and failed_down
    # The uploads whose abort failed while the endpoint was down, and those
    # created by a request whose answer was lost, are aborted now that it
    # answers, once the cluster has converged so that a listing shows them.
    converged(garage, server, bucket)
    manager.close()
    found = [r for r in cdn_log.records if "created by a request whose answer" in r.getMessage()]
    print(f"uploads created by a request whose answer was lost, aborted: {len(found)}")
    left = settled_listings(garage, server, bucket)
    unreachable = beyond_the_api(server, bucket)
    print(f"listed but beyond the S3 API: {sorted(unreachable)}")
    assert {node: sorted(set(ids) - unreachable) for node, ids in left.items()} == NONE_LISTED
    # A rerun is a new run: a new manager, as a new process would have.
    with CDNManager(server.credentials, SMALL_PARTS) as rerun:
        rerun_up, rerun_down = run_batch(rerun, bucket, failed_up, failed_down, dest)
    assert [r.key for r in [*rerun_up, *rerun_down] if not r.ok] == []
    assert_all_exact(garage, server, bucket, uploads, seeded, dest)


def test_with_a_node_down_transfers_proceed_at_quorum(
    cluster: tuple[GarageCluster, Server], tmp_path: Path
) -> None:
    garage, server = cluster
    bucket = "cluster-bucket"
    seeded = seed(server, bucket)
    garage.nodes[2].stop()
    uploads = {f"up/{i:03}.bin": payload(i) for i in range(ITEMS_PER_DIRECTION)}
    dest = tmp_path / "down"
    manager = CDNManager(server.credentials, SMALL_PARTS)
    up, down = run_batch(manager, bucket, uploads, list(seeded), dest)
    assert [r.key for r in [*up, *down] if not r.ok] == []
    check_outcomes(server, bucket, uploads, seeded, up, down, dest)
    assert server.unfinished_uploads(bucket) == []
