"""Retries have a budget: a manager's parts share one retry quota, an object
whose stored bytes fail verification is reported after two whole fetches,
and a range that fails on the wire is fetched again alone. What a user can
see: the requests a proxy counted, and the outcome."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cdn_manager import IntegrityError, TransferError

from conftest import SMALL_PARTS, MiB, Server, StartProxy, files_under
from helpers.faultproxy import Fault, Rule
from helpers.wire import sent

#: Eight 5 MiB parts, many attempts each if the quota allowed.
EIGHT_PARTS = 40 * MiB
MANY_ATTEMPTS = dataclasses.replace(SMALL_PARTS, max_attempts=5)


def test_parallel_parts_share_one_retry_quota_in_a_slow_down_storm(
    moto_server: Server, fault_proxy: StartProxy
) -> None:
    bucket = moto_server.new_bucket()
    proxy = fault_proxy(moto_server)
    storm = proxy.add(Rule(Fault.SLOW_DOWN, method="PUT", query="partNumber="))
    # Four retries in all (5 tokens each), where eight parts alone would
    # have made 8 x 4.
    config = dataclasses.replace(MANY_ATTEMPTS, retry_quota=20)
    manager = moto_server.manager(config, host=proxy.endpoint)

    with pytest.raises(TransferError) as caught:
        manager.put_bytes(bucket, "storm.bin", os.urandom(EIGHT_PARTS))

    assert caught.value.reason == "SlowDown"
    parts_sent = [s for s in sent(proxy) if s.operation == "UploadPart"]
    assert storm.applied == len(parts_sent)
    assert len(parts_sent) <= 8 + 4
    assert moto_server.unfinished_uploads(bucket) == []


def test_a_quota_refilled_by_successes_lets_a_later_transfer_retry(
    moto_server: Server, fault_proxy: StartProxy
) -> None:
    bucket = moto_server.new_bucket()
    proxy = fault_proxy(moto_server)
    config = dataclasses.replace(MANY_ATTEMPTS, retry_quota=10)
    manager = moto_server.manager(config, host=proxy.endpoint)
    # Spend the whole quota on one failing upload (two retries of 5 tokens).
    proxy.add(Rule(Fault.SLOW_DOWN, method="PUT", path="spent", times=3))
    with pytest.raises(TransferError):
        manager.put_bytes(bucket, "spent.bin", b"x")
    # Successes pay tokens back, one each.
    for n in range(5):
        manager.put_bytes(bucket, f"fine-{n}.bin", b"x")
    flaky = proxy.add(Rule(Fault.SLOW_DOWN, method="PUT", path="later", times=1))
    manager.put_bytes(bucket, "later.bin", b"y")
    assert flaky.applied == 1
    assert manager.download_bytes(bucket, "later.bin") == b"y"


def test_bytes_corrupted_at_rest_are_reported_after_two_whole_fetches(
    s3s_server: Server, fault_proxy: StartProxy, in_tmp: Path
) -> None:
    bucket = s3s_server.new_bucket()
    data = os.urandom(3 * MiB)
    s3s_server.manager().put_bytes(bucket, "rotten.bin", data)
    stored = s3s_server.stored_file(bucket, "rotten.bin")
    with stored.open("r+b") as file:
        file.seek(MiB)
        file.write(bytes([data[MiB] ^ 0xFF]))
    proxy = fault_proxy(s3s_server)
    manager = s3s_server.manager(MANY_ATTEMPTS, host=proxy.endpoint)

    with pytest.raises(IntegrityError) as caught:
        manager.get_file(bucket, "rotten.bin")

    assert caught.value.reason == "ChecksumMismatch"
    gets = [s for s in sent(proxy) if s.operation == "GetObject"]
    assert len(gets) == 2  # not max_attempts (5)
    assert files_under(in_tmp) == set()


def test_a_range_cut_on_the_wire_is_fetched_again_alone(
    moto_server: Server, fault_proxy: StartProxy, in_tmp: Path
) -> None:
    bucket = moto_server.new_bucket()
    data = os.urandom(4 * 5 * MiB)
    moto_server.manager().put_bytes(bucket, "ranges.bin", data)
    proxy = fault_proxy(moto_server)
    cut = proxy.add(Rule(Fault.CUT, at=MiB, method="GET", object_offset=None, times=1, skip=2))
    manager = moto_server.manager(MANY_ATTEMPTS, host=proxy.endpoint)

    assert manager.get_file(bucket, "ranges.bin").read_bytes() == data

    assert cut.applied == 1
    gets = [s for s in sent(proxy) if s.operation == "GetObject"]
    # One GET per part (the first carries part 1), plus the one cut part again.
    assert len(gets) == 4 + 1
