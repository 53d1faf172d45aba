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
import posixpath
import sys
from collections.abc import Mapping
from pathlib import Path

APP_NAME = "wassette"
CONFIG_FILE_ENV = "WASSETTE_CONFIG_FILE"

# Linux, with an absolute $XDG_*_HOME or $HOME, is computed here by platformdirs' own rules
# (an absolute XDG variable wins, else the default under $HOME; then the app name): importing
# platformdirs costs ~5 ms (it loads tempfile, shutil, random ...), a quarter of a short
# command's budget. Every other case (macOS, Windows, a relative or missing $HOME) asks
# platformdirs itself. tests/test_import_cost.py checks both agree.
_XDG_DEFAULTS = {
    "XDG_DATA_HOME": ".local/share",
    "XDG_CONFIG_HOME": ".config",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}


def _xdg(variable: str) -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    value = os.environ.get(variable, "")
    if posixpath.isabs(value):
        return os.path.join(value, APP_NAME)
    home = os.environ.get("HOME", "")
    if posixpath.isabs(home):
        return os.path.join(home, _XDG_DEFAULTS[variable], APP_NAME)
    return None


def data_dir() -> Path:
    """The per-user data directory: components and secrets live below it."""
    if fast := _xdg("XDG_DATA_HOME"):
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=True))


def config_dir() -> Path:
    """The per-user configuration directory (``config.toml``)."""
    if fast := _xdg("XDG_CONFIG_HOME"):
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True))


def state_dir() -> Path:
    """The per-user state directory (logs, audit trails)."""
    if fast := _xdg("XDG_STATE_HOME"):
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False, roaming=True))


def cache_dir() -> Path:
    """The per-user cache directory (rebuildable data only)."""
    if fast := _xdg("XDG_CACHE_HOME"):
        return Path(fast)
    import platformdirs

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
