"""CDNCredentials: validation, masking, cdn.yaml and environment loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cdn_manager import CDNCredentials, CDNManager, ConfigError
from cdn_manager._credentials import ENV_VARS, OPTIONAL

from conftest import BUCKET, Server
from helpers.leaks import new_secret

#: The five seed fields, all required.
FIELDS = [name for name in ENV_VARS if name not in OPTIONAL]
SECRET_FIELDS = ["downloader_access_secret", "uploader_access_secret"]
ROOT = Path(__file__).resolve().parent.parent


def valid_fields() -> dict[str, str]:
    return {
        "host": "https://storage.example.com:9000",
        "downloader_access_key": "READKEY",
        "downloader_access_secret": new_secret("read"),
        "uploader_access_key": "WRITEKEY",
        "uploader_access_secret": new_secret("write"),
    }


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_credentials_keep_their_five_fields() -> None:
    fields = valid_fields()
    creds = CDNCredentials(**fields)
    assert {name: getattr(creds, name) for name in FIELDS} == fields


@pytest.mark.parametrize("bad", ["", "   ", None, 42, b"bytes-SECRET-value"], ids=repr)
@pytest.mark.parametrize("field", FIELDS)
def test_bad_field_is_refused_naming_the_field(field: str, bad: object) -> None:
    fields: dict[str, object] = {**valid_fields(), field: bad}
    with pytest.raises(ConfigError) as caught:
        CDNCredentials(**fields)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert field in str(caught.value)
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    "host",
    ["ftp://storage.example.com", "storage.example.com:9000", "http://", "http://:9000", "s3://b"],
)
def test_host_must_be_an_http_url(host: str) -> None:
    with pytest.raises(ConfigError, match="host"):
        CDNCredentials(**{**valid_fields(), "host": host})


def test_host_with_a_bad_port_is_refused() -> None:
    with pytest.raises(ConfigError, match="host has an invalid port"):
        CDNCredentials(**{**valid_fields(), "host": "http://127.0.0.1:99999"})


def test_host_carrying_a_password_is_refused_without_echoing_it() -> None:
    password = new_secret("url-password")
    with pytest.raises(ConfigError, match="host") as caught:
        CDNCredentials(**{**valid_fields(), "host": f"https://user:{password}@example.com"})
    assert password not in str(caught.value)


@pytest.mark.parametrize("show", [repr, str, "{}".format], ids=["repr", "str", "format"])
def test_repr_and_str_show_host_and_keys_but_mask_both_secrets(show: object) -> None:
    fields = valid_fields()
    text = show(CDNCredentials(**fields))  # type: ignore[operator]
    assert fields["host"] in text
    assert "READKEY" in text and "WRITEKEY" in text
    for name in SECRET_FIELDS:
        assert fields[name] not in text
    assert text.count("'***'") == 2


# cdn.yaml


def test_yaml_file_round_trips_and_drives_a_real_transfer(
    moto_server: Server, workdir: Path
) -> None:
    path = write_yaml(workdir / "cdn.yaml", moto_server.credentials.to_yaml())
    creds = CDNCredentials.from_yaml(path)
    assert creds == moto_server.credentials
    manager = CDNManager(creds)
    assert manager.upload(BUCKET, "from-yaml.txt", b"configured by cdn.yaml")
    assert manager.download(BUCKET, "from-yaml.txt")
    assert (workdir / BUCKET / "from-yaml.txt").read_bytes() == b"configured by cdn.yaml"


def test_missing_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "cdn.yaml"
    with pytest.raises(ConfigError, match="cannot read") as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)


def test_invalid_yaml_names_the_file_and_line_but_not_the_text(tmp_path: Path) -> None:
    secret = new_secret("in-broken-yaml")
    lines = [f"{name}: {value}" for name, value in valid_fields().items()]
    lines[2] = f'downloader_access_secret: "{secret}'  # unterminated quote
    path = write_yaml(tmp_path / "cdn.yaml", "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="not valid YAML at line") as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("missing", FIELDS)
def test_missing_yaml_key_names_the_file_and_the_key(tmp_path: Path, missing: str) -> None:
    fields = valid_fields()
    del fields[missing]
    path = write_yaml(tmp_path / "cdn.yaml", yaml.safe_dump(fields))
    with pytest.raises(ConfigError, match=rf"missing key.*{missing}") as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)


def test_unknown_yaml_key_names_the_file_and_the_key_not_its_value(tmp_path: Path) -> None:
    typo_value = new_secret("under-a-typo")
    fields = {**valid_fields(), "uploader_secret": typo_value}
    path = write_yaml(tmp_path / "cdn.yaml", yaml.safe_dump(fields))
    with pytest.raises(ConfigError, match=r"unknown key.*uploader_secret") as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)
    assert typo_value not in str(caught.value)


@pytest.mark.parametrize(
    "text", ["", "just a string\n", "- a\n- list\n", "42\n"], ids=["empty", "scalar", "list", "int"]
)
def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path: Path, text: str) -> None:
    path = write_yaml(tmp_path / "cdn.yaml", text)
    with pytest.raises(ConfigError, match="expected a mapping") as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("host", "ftp://x"), ("uploader_access_secret", ""), ("downloader_access_key", 7)],
)
def test_bad_value_in_yaml_names_the_file_and_the_key(
    tmp_path: Path, field: str, value: object
) -> None:
    path = write_yaml(tmp_path / "cdn.yaml", yaml.safe_dump({**valid_fields(), field: value}))
    with pytest.raises(ConfigError) as caught:
        CDNCredentials.from_yaml(path)
    assert str(path) in str(caught.value)
    assert field in str(caught.value)


# The optional region


def test_the_region_is_optional_everywhere_and_kept_when_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = valid_fields()
    assert CDNCredentials(**fields).region is None
    given = CDNCredentials(**fields, region="garage")
    assert given.region == "garage" and "region='garage'" in repr(given)
    path = write_yaml(tmp_path / "cdn.yaml", given.to_yaml())
    assert CDNCredentials.from_yaml(path) == given
    path = write_yaml(tmp_path / "five.yaml", CDNCredentials(**fields).to_yaml())
    assert "region" not in path.read_text() and CDNCredentials.from_yaml(path).region is None
    env = {ENV_VARS[name]: value for name, value in fields.items()}
    assert CDNCredentials.from_env(env).region is None
    assert CDNCredentials.from_env({**env, "CDN_REGION": "auto"}).region == "auto"
    for bad in ("", "  ", 42):
        with pytest.raises(ConfigError, match="region"):
            CDNCredentials(**fields, region=bad)  # type: ignore[arg-type]


# Environment


def test_from_env_reads_the_documented_variables(
    moto_server: Server, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in FIELDS:
        monkeypatch.setenv(ENV_VARS[name], getattr(moto_server.credentials, name))
    monkeypatch.delenv("CDN_REGION", raising=False)
    creds = CDNCredentials.from_env()
    assert creds == moto_server.credentials
    manager = CDNManager(creds)
    assert manager.upload(BUCKET, "from-env.txt", b"configured by the environment")
    assert manager.download(BUCKET, "from-env.txt")


def test_env_variable_names_are_the_documented_ones() -> None:
    assert list(ENV_VARS.values()) == [
        "CDN_HOST",
        "CDN_DOWNLOADER_ACCESS_KEY",
        "CDN_DOWNLOADER_ACCESS_SECRET",
        "CDN_UPLOADER_ACCESS_KEY",
        "CDN_UPLOADER_ACCESS_SECRET",
        "CDN_REGION",
    ]
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert all(var in documented for var in ENV_VARS.values())


def test_missing_or_empty_env_variables_are_named() -> None:
    env = {ENV_VARS[name]: value for name, value in valid_fields().items()}
    del env["CDN_UPLOADER_ACCESS_KEY"]
    env["CDN_HOST"] = ""
    with pytest.raises(ConfigError) as caught:
        CDNCredentials.from_env(env)
    assert "CDN_UPLOADER_ACCESS_KEY" in str(caught.value)
    assert "CDN_HOST" in str(caught.value)


def test_bad_env_value_names_the_field() -> None:
    env = {ENV_VARS[name]: value for name, value in valid_fields().items()}
    env["CDN_HOST"] = "storage.example.com"
    with pytest.raises(ConfigError, match="environment: host must be an http"):
        CDNCredentials.from_env(env)
