"""The test suite's own isolation: no variable from the developer's shell reaches a test."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from tests.conftest import CLEARED_PREFIXES, HARNESS_VARS, Home, clear_environment


def test_clear_environment_removes_settings_and_credentials_but_keeps_the_harness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planted = {
        "WASSETTE_SECRETS_KEY": "CANARY-key",
        "WASSETTE_SECRETS_BACKEND": "vault",
        "VAULT_TOKEN": "CANARY-token",
        "VAULT_ADDR": "http://127.0.0.1:1",
        "BAO_TOKEN": "CANARY-bao",
        "XDG_DATA_HOME": "/nonexistent/data",
        "XDG_RUNTIME_DIR": "/nonexistent/run",
        "WASSETTE_TEST_CACHE": "/tmp/kept-cache",
        "UNRELATED_VAR": "kept",
    }
    for key, value in planted.items():
        monkeypatch.setenv(key, value)
    clear_environment(monkeypatch)
    survivors = {k for k in planted if k in os.environ}
    assert survivors == {"WASSETTE_TEST_CACHE", "UNRELATED_VAR"}


def test_no_shell_variable_reaches_a_test() -> None:
    leaked = [k for k in os.environ if k.startswith(CLEARED_PREFIXES) and k not in HARNESS_VARS]
    assert leaked == []


def test_home_sets_xdg_after_the_clearing(home: Home, tmp_path: Path) -> None:
    # If the autouse fixture ran after `home`, these would be gone.
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert os.environ[key].startswith(str(tmp_path)), key
        assert home.env[key] == os.environ[key]
    assert not any(k.startswith(CLEARED_PREFIXES[:3]) for k in home.env)


def test_warnings_are_errors() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn("from a test", DeprecationWarning, stacklevel=1)
