"""Where wassette keeps its files, per platform.

One of the two modules allowed to read the process environment (with ``config.py``); library
layers receive the resulting paths as arguments.

Secrets live where the specification says: ``$XDG_DATA_HOME/wassette/secrets`` on Linux/BSD
(default ``~/.local/share/wassette/secrets``), ``~/Library/Application Support/wassette/secrets``
on macOS and ``%APPDATA%\\wassette\\secrets`` on Windows. ``platformdirs`` implements exactly
those rules (``roaming=True`` selects ``%APPDATA%`` rather than ``%LOCALAPPDATA%``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP_NAME = "wassette"
CONFIG_FILE_ENV = "WASSETTE_CONFIG_FILE"


def data_dir() -> Path:
    """The per-user data directory: components and secrets live below it."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def config_dir() -> Path:
    """The per-user configuration directory (``config.toml``)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True))


def state_dir() -> Path:
    """The per-user state directory (logs, audit trails)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False, roaming=True))


def cache_dir() -> Path:
    """The per-user cache directory (rebuildable data only)."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def default_component_dir() -> Path:
    """Default plugin (component) directory: ``<data dir>/components``."""
    return data_dir() / "components"


def default_secrets_dir() -> Path:
    """Default secrets directory: ``<data dir>/secrets``, as the specification says."""
    return data_dir() / "secrets"


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``$WASSETTE_CONFIG_FILE`` if set, else ``<config dir>/config.toml``."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_FILE_ENV)
    if override:
        return Path(override).expanduser()
    return config_dir() / "config.toml"
