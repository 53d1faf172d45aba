"""``Settings`` behaves as the frozen dataclass it replaced (written by hand for start-up time:
``secret list`` must not import :mod:`dataclasses`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wassette import paths
from wassette.config import Settings
from wassette.wiring import System


def _settings(**changes: object) -> Settings:
    base = Settings(plugin_dir=Path("/p"), secrets_dir=Path("/s"), raw={"k": 1})
    return base.replace(**changes) if changes else base


def test_equal_by_value_and_different_when_any_field_differs() -> None:
    assert _settings() == _settings()
    assert _settings() != _settings(history_limit=3)
    assert _settings() != _settings(environment_vars={"A": "1"})
    assert _settings() != object()


def test_defaults_are_the_dataclass_defaults() -> None:
    s = Settings(plugin_dir=Path("/p"), secrets_dir=Path("/s"))
    assert (s.bind_address, s.secrets_backend, s.history_limit, s.instance_pool_size) == (
        "127.0.0.1:9001",
        "file",
        10,
        2,
    )
    assert (s.config_dir, s.state_dir) == (paths.config_dir(), paths.state_dir())
    assert s.environment_vars == {} and s.references == {} and s.raw == {}
    assert s.config_file is None and s.encrypt_new is False


def test_replace_copies_and_leaves_the_original() -> None:
    s = _settings()
    t = s.replace(config_file=Path("/c.toml"), mcp_grants="deny")
    assert (t.config_file, t.mcp_grants, t.plugin_dir, t.raw) == (
        Path("/c.toml"),
        "deny",
        Path("/p"),
        {"k": 1},
    )
    assert s.config_file is None and s.mcp_grants == "ask"
    with pytest.raises(TypeError):
        s.replace(secret_dir=Path("/typo"))


def test_immutable() -> None:
    s = _settings()
    with pytest.raises(AttributeError):
        s.plugin_dir = Path("/elsewhere")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del s.secrets_dir
    with pytest.raises(AttributeError):
        s.extra = 1  # type: ignore[attr-defined]


def test_repr_names_every_field() -> None:
    text = repr(_settings())
    assert text.startswith("Settings(plugin_dir=PosixPath('/p'), secrets_dir=")
    assert "http_session_idle_timeout=900.0)" in text


def test_system_repr_never_prints_the_environment() -> None:
    system = System(_settings(), environ={"VAULT_TOKEN": "CANARY-sys-1"})
    assert "CANARY" not in repr(system)
    assert System(_settings()).environ  # default: a copy of this process's environment
