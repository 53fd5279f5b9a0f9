"""The native plane without its socket tuning (quick ACKs, batched reads):
what other systems get, and what ``CDN_MANAGER_SOCKET_TUNING=off`` or
``TransferConfig(socket_tuning=False)`` gives on Linux. Same bytes either way."""

from __future__ import annotations

import dataclasses
import os

import pytest

from cdn_manager import TransferConfig

from conftest import BUCKET, SMALL_PARTS, MiB, Server


def test_the_environment_turns_the_tuning_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDN_MANAGER_SOCKET_TUNING", raising=False)
    assert TransferConfig().socket_tuning is True
    monkeypatch.setenv("CDN_MANAGER_SOCKET_TUNING", "off")
    assert TransferConfig().socket_tuning is False
    assert TransferConfig(socket_tuning=True).socket_tuning is True


@pytest.mark.parametrize("tuning", [True, False], ids=["tuned", "plain"])
@pytest.mark.parametrize("size", [1000, 13 * MiB + 5], ids=["single", "multipart"])
def test_round_trip_with_and_without_tuning(any_server: Server, tuning: bool, size: int) -> None:
    config = dataclasses.replace(SMALL_PARTS, data_plane="native", socket_tuning=tuning)
    manager = any_server.manager(config)
    data = os.urandom(size)
    key = f"tuning/{any_server.name}-{tuning}-{size}"
    manager.put_bytes(BUCKET, key, data)
    assert manager.download_bytes(BUCKET, key) == data
    # Two sequential GETs: the second one rides a pooled connection.
    assert manager.download_bytes(BUCKET, key) == data
