"""config.py: fetch_timeout (config, WASSETTE_FETCH_TIMEOUT) and [references.<id>] tables."""

from __future__ import annotations

import pytest

from tests.conftest import Home
from wassette.config import DEFAULT_FETCH_TIMEOUT, load_settings
from wassette.errors import ConfigError
from wassette.secretstore.references import ReferenceScope


def _write(home: Home, text: str) -> None:
    home.config_file.parent.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text(text)


def test_fetch_timeout_default_config_and_environment(home: Home) -> None:
    assert load_settings(environ=home.env).fetch_timeout == DEFAULT_FETCH_TIMEOUT == 120.0
    _write(home, "fetch_timeout = 30\n")
    assert load_settings(environ=home.env).fetch_timeout == 30.0
    env = dict(home.env, WASSETTE_FETCH_TIMEOUT="7.5")
    assert load_settings(environ=env).fetch_timeout == 7.5


@pytest.mark.parametrize("value", ["0", "-1", '"soon"', "true", "1e9", "nan"])
def test_bad_fetch_timeout_is_refused(home: Home, value: str) -> None:
    _write(home, f"fetch_timeout = {value}\n")
    with pytest.raises(ConfigError, match="fetch_timeout"):
        load_settings(environ=home.env)


def test_reference_scopes(home: Home) -> None:
    _write(
        home,
        '[references.billing]\nvault = ["shared/db/", "/other"]\nenv = ["A"]\n'
        "[references.reports]\n",
    )
    scopes = load_settings(environ=home.env).references
    assert scopes == {
        "billing": ReferenceScope(vault=("shared/db", "other"), env=("A",)),
        "reports": ReferenceScope(),
    }


@pytest.mark.parametrize(
    "text",
    [
        "references = 1\n",
        '[references."bad id!"]\nvault = ["x"]\n',
        '[references.c]\nvault = "shared/db"\n',
        '[references.c]\nvault = [""]\n',
        "[references.c]\nenv = [1]\n",
        '[references.c]\nsecrets = ["x"]\n',
    ],
)
def test_bad_reference_tables_are_refused(home: Home, text: str) -> None:
    _write(home, text)
    with pytest.raises(ConfigError, match="references"):
        load_settings(environ=home.env)
