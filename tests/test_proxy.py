"""Proxies: both data planes send through the proxy botocore would choose
(``TransferConfig.proxies`` by scheme, else ``HTTP(S)_PROXY`` unless
``NO_PROXY`` covers the endpoint), to http and https endpoints; a proxy the
native plane cannot use is a ``ConfigError`` when that plane is forced, and
its password shows nowhere."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager, ConfigError, TransferError, _core
from cdn_manager._planes import proxy_for

from conftest import BUCKET, SMALL_PARTS, MiB, Server
from helpers.debianproxy import DebianProxy
from helpers.faultproxy import FaultProxy
from helpers.httpproxy import HttpProxy
from helpers.leaks import new_secret
from helpers.tls import server_context
from helpers.wire import sent

NATIVE_AGENT = "cdn-manager/"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    return server_context(tmp_path_factory.mktemp("proxy-tls"))


@pytest.fixture(params=["http", "https"])
def target(
    request: pytest.FixtureRequest, moto_server: Server, tls: tuple[object, Path]
) -> Iterator[tuple[FaultProxy, Path | None]]:
    """moto behind a recording front (serving TLS for "https"), and the CA
    bundle that trusts it."""
    context, ca = tls
    https = request.param == "https"
    with FaultProxy(moto_server.endpoint, tls=context if https else None) as front:  # type: ignore[arg-type]
        yield front, ca if https else None


def manager_for(
    server: Server, endpoint: str, ca: Path | None, plane: str, **config: object
) -> CDNManager:
    settings = dataclasses.replace(
        SMALL_PARTS,
        data_plane=plane,  # type: ignore[arg-type]
        ca_bundle=str(ca) if ca else None,
        **config,  # type: ignore[arg-type]
    )
    fields = {**server.credentials.__dict__, "host": endpoint}
    return CDNManager(CDNCredentials(**fields), settings)


def round_trip(manager: CDNManager, key: str, size: int) -> None:
    data = os.urandom(size)
    manager.put_bytes(BUCKET, key, data)
    assert manager.download_bytes(BUCKET, key) == data


def authority(endpoint: str) -> str:
    return endpoint.split("://", 1)[1]


@pytest.mark.parametrize("plane", ["native", "boto3"])
@pytest.mark.parametrize("size", [1000, 7 * MiB], ids=["single", "multipart"])
def test_transfers_go_through_the_configured_proxy(
    moto_server: Server, target: tuple[FaultProxy, Path | None], plane: str, size: int
) -> None:
    front, ca = target
    scheme = front.endpoint.split(":", 1)[0]
    with HttpProxy() as proxy:
        manager = manager_for(moto_server, front.endpoint, ca, plane, proxies={scheme: proxy.url})
        round_trip(manager, f"proxy/{plane}-{scheme}-{size}", size)
        manager.close()
    assert proxy.errors == []
    # Both planes as a proxy expects: plain-http requests in absolute form,
    # a tunnel to an https endpoint.
    if scheme == "http":
        assert proxy.tunnels == []
        assert any(f"GET {front.endpoint}/" in line for line in proxy.forwarded)
        assert any(f"PUT {front.endpoint}/" in line for line in proxy.forwarded)
    else:
        assert proxy.tunnels and set(proxy.tunnels) == {authority(front.endpoint)}
        assert proxy.forwarded == []
    operations = {e.operation: e.user_agent for e in sent(front)}
    object_put = "PutObject" if size < MiB else "UploadPart"
    for operation in ("GetObject", object_put):
        assert operations[operation].startswith(NATIVE_AGENT) == (plane == "native")


@pytest.mark.parametrize("name", ["tinyproxy", "squid"])
def test_debians_proxies_carry_native_transfers_to_a_plain_http_endpoint(
    moto_server: Server, name: str
) -> None:
    # squid refuses a CONNECT to the endpoint's port, and so does tinyproxy
    # with ConnectPort set (issue 27): plain-http requests go in absolute
    # form, as botocore sends them, and the proxies log each one.
    with DebianProxy(name) as proxy:
        manager = manager_for(
            moto_server, moto_server.endpoint, None, "native", proxies={"http": proxy.url}
        )
        data = os.urandom(20 * MiB)
        manager.put_bytes(BUCKET, f"proxy/{name}", data)
        assert manager.download_bytes(BUCKET, f"proxy/{name}") == data
        manager.close()
        carried = proxy.requests()
    target = f"{moto_server.endpoint}/{BUCKET}/proxy/{name}"
    for method in ("PUT", "GET"):
        assert any(line.startswith(f"{method} {target}") for line in carried), carried
    assert not any(line.startswith("CONNECT ") for line in carried)


@pytest.mark.parametrize("plane", ["native", "auto"])
def test_a_proxy_in_the_environment_carries_the_native_requests(
    moto_server: Server,
    target: tuple[FaultProxy, Path | None],
    monkeypatch: pytest.MonkeyPatch,
    cdn_log: pytest.LogCaptureFixture,
    plane: str,
) -> None:
    front, ca = target
    scheme = front.endpoint.split(":", 1)[0]
    with HttpProxy() as proxy:
        monkeypatch.setenv(f"{scheme.upper()}_PROXY", proxy.url)
        manager = manager_for(moto_server, front.endpoint, ca, plane)
        round_trip(manager, f"proxy/env-{plane}-{scheme}", 7 * MiB)
        manager.close()
    if scheme == "http":
        assert any(f"PUT {front.endpoint}/" in line for line in proxy.forwarded)
    else:
        assert authority(front.endpoint) in proxy.tunnels
    agents = {e.operation: e.user_agent for e in sent(front)}
    assert agents["UploadPart"].startswith(NATIVE_AGENT)
    assert agents["GetObject"].startswith(NATIVE_AGENT)
    assert manager.data_plane.name == "native"


@pytest.mark.parametrize("plane", ["native", "boto3"])
def test_no_proxy_covering_the_endpoint_bypasses_the_proxy(
    moto_server: Server,
    target: tuple[FaultProxy, Path | None],
    monkeypatch: pytest.MonkeyPatch,
    plane: str,
) -> None:
    front, ca = target
    scheme = front.endpoint.split(":", 1)[0]
    with HttpProxy() as proxy:
        monkeypatch.setenv(f"{scheme.upper()}_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        manager = manager_for(moto_server, front.endpoint, ca, plane)
        round_trip(manager, f"proxy/bypassed-{plane}-{scheme}", 1000)
        manager.close()
    assert proxy.tunnels == [] and proxy.forwarded == []
    assert len(sent(front)) >= 2


def test_proxy_credentials_are_sent_and_never_shown(
    moto_server: Server,
    target: tuple[FaultProxy, Path | None],
    cdn_errors: list[str],
) -> None:
    front, ca = target
    scheme = front.endpoint.split(":", 1)[0]
    password = new_secret("proxy")
    with HttpProxy(credentials=("proxy-user", password)) as proxy:
        proxies = {scheme: proxy.url}
        manager = manager_for(moto_server, front.endpoint, ca, "native", proxies=proxies)
        round_trip(manager, f"proxy/authenticated-{scheme}", 1000)
        manager.close()
        assert (proxy.tunnels or proxy.forwarded) and proxy.refused == 0

        wrong = proxy.url.replace(password, new_secret("wrong-proxy"))
        manager = manager_for(
            moto_server, front.endpoint, ca, "native", proxies={scheme: wrong}, max_attempts=1
        )
        with pytest.raises(TransferError) as caught:
            manager.put_bytes(BUCKET, f"proxy/refused-{scheme}", b"x")
        manager.close()
    assert proxy.refused >= 1
    assert "407" in str(caught.value)
    # The autouse leak guard checks every log line and CDNError message too.
    assert not any(password in message for message in cdn_errors)


@pytest.mark.parametrize(
    "proxy",
    ["socks5://user:{secret}@127.0.0.1:1080", "ftp://user:{secret}@127.0.0.1:21"],
    ids=["socks5", "ftp"],
)
def test_forcing_native_with_a_proxy_it_cannot_use_is_a_config_error(
    moto_server: Server, proxy: str
) -> None:
    secret = new_secret("unusable-proxy")
    url = proxy.format(secret=secret)
    with pytest.raises(ConfigError) as caught:
        manager_for(moto_server, moto_server.endpoint, None, "native", proxies={"http": url})
    assert "proxy" in str(caught.value)
    assert secret not in str(caught.value)


@pytest.mark.fallback
def test_on_auto_a_proxy_the_native_plane_cannot_use_goes_to_boto3_loudly(
    moto_server: Server, cdn_log: pytest.LogCaptureFixture
) -> None:
    secret = new_secret("unusable-proxy")
    url = f"socks5://user:{secret}@127.0.0.1:1080"
    manager = manager_for(moto_server, moto_server.endpoint, None, "auto", proxies={"http": url})
    manager.close()
    warnings = [r.getMessage() for r in cdn_log.records if r.levelname == "WARNING"]
    assert any("go through boto3" in w and "socks5" in w for w in warnings)
    assert manager.data_plane.name == "boto3"
    assert "proxy" in manager.data_plane.reason
    assert secret not in manager.data_plane.reason


def test_the_engine_refuses_unusable_proxy_urls_without_naming_the_password() -> None:
    secret = new_secret("engine-proxy")
    for url in (f"socks5://u:{secret}@h:1", f"http://u:{secret}@[::1", f"gopher://u:{secret}@h"):
        with pytest.raises(ValueError) as caught:
            _core.Engine("http://127.0.0.1:9", "us-east-1", 1.0, 1.0, 1, proxy=url)
        assert isinstance(caught.value, ConfigError)
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "proxies", "environment", "expected"),
    [
        ("http://h:9000", {"http": "http://p:1"}, {}, "http://p:1"),
        ("https://h", {"http": "http://p:1"}, {}, None),
        ("https://h", {"https": "p:3128"}, {}, "http://p:3128"),
        # Configured proxies win, and botocore consults no NO_PROXY for them.
        ("http://h", {"http": "http://p:1"}, {"NO_PROXY": "h"}, "http://p:1"),
        ("http://h:9000", None, {"HTTP_PROXY": "http://e:2"}, "http://e:2"),
        ("http://h:9000", None, {"HTTP_PROXY": "http://e:2", "NO_PROXY": "h"}, None),
        ("http://h:9000", None, {"HTTP_PROXY": "http://e:2", "NO_PROXY": ".other"}, "http://e:2"),
        ("https://h", None, {"HTTP_PROXY": "http://e:2"}, None),
        ("https://s3.h", None, {"HTTPS_PROXY": "//e:3", "NO_PROXY": "x.h"}, "http://e:3"),
    ],
)
def test_the_proxy_is_chosen_as_botocore_chooses_it(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    proxies: dict[str, str] | None,
    environment: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(host, proxies) == expected
