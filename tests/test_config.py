"""Settings precedence: flag > WASSETTE_* environment > config file > platform default."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import Home
from wassette import paths
from wassette.config import load_settings
from wassette.errors import ConfigError


def test_defaults_follow_the_spec_locations(home: Home) -> None:
    s = load_settings(environ=home.env)
    assert s.secrets_dir == home.root / "data" / "wassette" / "secrets"
    assert s.plugin_dir == home.root / "data" / "wassette" / "components"
    assert s.bind_address == "127.0.0.1:9001"
    assert paths.config_file(home.env) == home.root / "config" / "wassette" / "config.toml"


def test_default_secrets_dir_without_xdg_is_local_share(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    assert paths.default_secrets_dir() == home.root / ".local" / "share" / "wassette" / "secrets"


def test_precedence(home: Home, tmp_path: Path) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(
        'plugin_dir = "cfg-components"\nsecrets_dir = "/cfg/secrets"\n'
        'bind_address = "127.0.0.1:1"\n[environment_vars]\nLOG_LEVEL = "debug"\n'
    )
    s = load_settings(environ=home.env)
    # relative paths in the config file are relative to the file
    assert s.plugin_dir == home.config_file.parent / "cfg-components"
    assert s.secrets_dir == Path("/cfg/secrets")
    assert s.bind_address == "127.0.0.1:1"
    assert s.environment_vars == {"LOG_LEVEL": "debug"}
    env = {
        **home.env,
        "WASSETTE_SECRETS_DIR": "/env/secrets",
        "WASSETTE_COMPONENT_DIR": "/env/components",
        "WASSETTE_BIND_ADDRESS": "127.0.0.1:2",
    }
    s = load_settings(environ=env)
    assert (s.secrets_dir, s.plugin_dir, s.bind_address) == (
        Path("/env/secrets"),
        Path("/env/components"),
        "127.0.0.1:2",
    )
    s = load_settings(
        environ=env, secrets_dir="/flag/secrets", plugin_dir="/flag/c", bind_address="127.0.0.1:3"
    )
    assert (s.secrets_dir, s.plugin_dir, s.bind_address) == (
        Path("/flag/secrets"),
        Path("/flag/c"),
        "127.0.0.1:3",
    )


def test_component_dir_alias_in_config(home: Home) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text('component_dir = "/x/components"\n')
    assert load_settings(environ=home.env).plugin_dir == Path("/x/components")


def test_unknown_keys_warn(home: Home, caplog: pytest.LogCaptureFixture) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text('secret_dir = "/typo"\n')
    with caplog.at_level(logging.WARNING, logger="wassette"):
        load_settings(environ=home.env)
    assert "unknown key 'secret_dir'" in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "secrets_dir = 5\n",
        "[environment_vars]\nA = 1\n",
        "environment_vars = 3\n",
        "bind_address = 9001\n",
        "not toml at all [\n",
    ],
)
def test_invalid_config_values_are_errors(home: Home, text: str) -> None:
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(environ=home.env)
    assert str(home.config_file) in str(info.value)
