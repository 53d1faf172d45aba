"""Settings, built once at start-up from four sources.

Precedence, highest first: command-line flag > ``WASSETTE_*`` environment variable > config file
(``$XDG_CONFIG_HOME/wassette/config.toml`` or ``$WASSETTE_CONFIG_FILE``) > platform default.
The result is frozen; library code receives it (or parts of it) as arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette import paths
from wassette.errors import ConfigError
from wassette.fsutil import os_reason

if TYPE_CHECKING:
    import logging

    from wassette.secretstore.references import ReferenceScope


# Config-file keys we understand. Unknown keys draw a warning, so a typo such as `secret_dir`
# does not silently fall back to the default location.
KNOWN_KEYS = frozenset(
    {
        "plugin_dir",
        "component_dir",
        "secrets_dir",
        "bind_address",
        "environment_vars",
        "secrets_backend",
        "vault",
        "encrypt_new",
        "history_limit",
        "catalogue_file",
        "mcp_grants",
        "http_max_sessions",
        "http_session_idle_timeout",
        "fetch_timeout",
        "references",
        "instance_pool_size",
    }
)

#: What the MCP server does when the (untrusted) client asks for a change of state:
#: ``ask`` the person through MCP elicitation when the client can (else allow, as Wassette),
#: ``require-approval`` (ask; refuse when the client cannot ask), ``allow`` (Wassette's
#: behaviour), ``deny`` (every state-changing built-in refused; use the CLI).
MCP_GRANTS_MODES = ("ask", "require-approval", "allow", "deny")
DEFAULT_MCP_GRANTS = "ask"
#: Streamable HTTP: open sessions at most (503 beyond), and idle seconds before one expires.
DEFAULT_HTTP_MAX_SESSIONS = 256
DEFAULT_HTTP_SESSION_IDLE_TIMEOUT = 900.0

#: Seconds one component fetch may take, all phases together (``fetch_timeout``).
DEFAULT_FETCH_TIMEOUT = 120.0
MAX_FETCH_TIMEOUT = 24 * 3600.0


DEFAULT_BIND_ADDRESS = "127.0.0.1:9001"


_SETTINGS_FIELDS = (
    "plugin_dir",
    "secrets_dir",
    "bind_address",
    "environment_vars",
    "secrets_backend",
    "config_file",
    "encrypt_new",
    "history_limit",
    "instance_pool_size",
    "config_dir",
    "state_dir",
    "fetch_timeout",
    "references",
    "raw",
    "mcp_grants",
    "http_max_sessions",
    "http_session_idle_timeout",
)


class Settings:
    """Everything wassette needs to know about where things are and how to serve.

    Immutable, compared and printed field by field, like a frozen dataclass; written out by
    hand because importing :mod:`dataclasses` (it loads :mod:`inspect`) and building the class
    would cost ``secret list`` about a sixth of its run. :meth:`replace` is
    ``dataclasses.replace``.
    """

    __slots__ = _SETTINGS_FIELDS

    plugin_dir: Path
    secrets_dir: Path
    bind_address: str
    environment_vars: Mapping[str, str]
    secrets_backend: str
    config_file: Path | None
    # Encrypt every value written from now on (`encrypt_new = true`); see secretstore/crypto.py.
    encrypt_new: bool
    # Previous values kept per secret key (`history_limit = 10`); 0 turns history off.
    history_limit: int
    # Warm instances kept ready per component (`instance_pool_size = 2`); 0 = fresh per call.
    instance_pool_size: int
    # Where the key file lives (config dir) and the audit log (state dir).
    config_dir: Path
    state_dir: Path
    # Seconds one component fetch may take, every phase included (`fetch_timeout = 120`).
    fetch_timeout: float
    # Per-component widening of where secret references may point (`[references.<id>]`).
    references: Mapping[str, ReferenceScope]
    # The whole parsed config table, for features that own keys of their own.
    raw: Mapping[str, Any]
    # How the MCP server treats state changes the client asks for (see MCP_GRANTS_MODES).
    mcp_grants: str
    http_max_sessions: int
    http_session_idle_timeout: float

    def __init__(
        self,
        plugin_dir: Path,
        secrets_dir: Path,
        *,
        bind_address: str = DEFAULT_BIND_ADDRESS,
        environment_vars: Mapping[str, str] | None = None,
        secrets_backend: str = "file",
        config_file: Path | None = None,
        encrypt_new: bool = False,
        history_limit: int = 10,
        instance_pool_size: int = 2,
        config_dir: Path | None = None,
        state_dir: Path | None = None,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        references: Mapping[str, ReferenceScope] | None = None,
        raw: Mapping[str, Any] | None = None,
        mcp_grants: str = DEFAULT_MCP_GRANTS,
        http_max_sessions: int = DEFAULT_HTTP_MAX_SESSIONS,
        http_session_idle_timeout: float = DEFAULT_HTTP_SESSION_IDLE_TIMEOUT,
    ) -> None:
        values = (
            plugin_dir,
            secrets_dir,
            bind_address,
            {} if environment_vars is None else environment_vars,
            secrets_backend,
            config_file,
            encrypt_new,
            history_limit,
            instance_pool_size,
            paths.config_dir() if config_dir is None else config_dir,
            paths.state_dir() if state_dir is None else state_dir,
            fetch_timeout,
            {} if references is None else references,
            {} if raw is None else raw,
            mcp_grants,
            http_max_sessions,
            http_session_idle_timeout,
        )
        for name, value in zip(_SETTINGS_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _SETTINGS_FIELDS)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (field name -> value), as ``dataclasses.replace``."""
        unknown = set(changes) - set(_SETTINGS_FIELDS)
        if unknown:
            raise TypeError(f"Settings has no field {sorted(unknown)[0]!r}")
        return Settings(**{name: getattr(self, name) for name in _SETTINGS_FIELDS} | changes)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Settings is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Settings is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        # What a frozen dataclass does (and, like it, TypeError for the mapping fields).
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _SETTINGS_FIELDS)
        return f"Settings({fields})"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}",
            why=os_reason(exc),
            fix="check the file's permissions, or point WASSETTE_CONFIG_FILE elsewhere",
        ) from None
    import tomllib  # only when a config file exists

    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not valid UTF-8", fix="re-save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages carry a position but no file content; keep only that.
        raise ConfigError(
            f"config file {path} is not valid TOML",
            why=str(exc),
            fix="correct the syntax at that position",
        ) from None
    unknown = sorted(set(parsed) - KNOWN_KEYS)
    for key in unknown:
        _log().warning("config file %s: unknown key %r is ignored", path, key)
    return parsed


def _log() -> logging.Logger:
    # logging is imported when something is logged, not by every command that reads settings.
    import logging

    return logging.getLogger(__name__)


def _config_path(value: Any, key: str, config_path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"config file {config_path}: {key} must be a non-empty string path",
            fix=f'write it as {key} = "/some/dir"',
        )
    path = Path(value).expanduser()
    # Relative paths in a config file are relative to that file, not to the caller's cwd.
    return path if path.is_absolute() else config_path.parent / path


def parse_mcp_grants(value: object, where: str) -> str:
    """One of :data:`MCP_GRANTS_MODES`, or a ConfigError naming ``where`` it came from."""
    if isinstance(value, str) and value.strip().lower() in MCP_GRANTS_MODES:
        return value.strip().lower()
    raise ConfigError(
        f"{where}: mcp_grants must be one of {', '.join(MCP_GRANTS_MODES)}",
        why=f"got {value!r}" if isinstance(value, str) and len(value) < 40 else None,
        fix='e.g. mcp_grants = "ask" (ask the person through the MCP client) or "deny"',
    )


def _positive_number(value: object, key: str, where: str, *, integer: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    if integer:
        ok = ok and isinstance(value, int)
    if not ok:
        kind = "a whole number" if integer else "a number of seconds"
        raise ConfigError(f"{where}: {key} must be {kind} greater than 0", fix=f"e.g. {key} = 60")
    return float(value)  # type: ignore[arg-type]


def _instance_pool_size(cfg: Mapping[str, Any], env: Mapping[str, str], cfg_path: Path) -> int:
    """``instance_pool_size`` (config) or ``WASSETTE_INSTANCE_POOL_SIZE``: 0..64."""
    pool_size: Any = cfg.get("instance_pool_size", 2)
    env_pool = env.get("WASSETTE_INSTANCE_POOL_SIZE")
    if env_pool:
        try:
            pool_size = int(env_pool)
        except ValueError:
            raise ConfigError(
                "WASSETTE_INSTANCE_POOL_SIZE must be a whole number",
                fix="set it to 0 (off) .. 64, e.g. WASSETTE_INSTANCE_POOL_SIZE=2",
            ) from None
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 0 <= pool_size <= 64:
        raise ConfigError(
            f"config file {cfg_path}: instance_pool_size must be a whole number from 0 to 64",
            why="it is how many warm instances are kept ready per component",
            fix="write it as instance_pool_size = 2 (0 builds a fresh instance per call)",
        )
    return int(pool_size)


def load_settings(
    *,
    plugin_dir: Path | str | None = None,
    secrets_dir: Path | str | None = None,
    bind_address: str | None = None,
    environ: Mapping[str, str] | None = None,
    mcp_grants: str | None = None,
) -> Settings:
    """Build :class:`Settings` from flags (the keyword arguments), environment and config."""
    env = os.environ if environ is None else environ
    cfg_path = paths.config_file(env)
    cfg = _read_config(cfg_path)

    def pick_dir(
        flag: Path | str | None, env_names: tuple[str, ...], keys: tuple[str, ...], default: Path
    ) -> Path:
        if flag is not None and str(flag) != "":
            return Path(flag).expanduser().absolute()
        for name in env_names:
            if env.get(name):
                return Path(env[name]).expanduser().absolute()
        for key in keys:
            if key in cfg:
                return _config_path(cfg[key], key, cfg_path)
        return default

    plugin = pick_dir(
        plugin_dir,
        ("WASSETTE_PLUGIN_DIR", "WASSETTE_COMPONENT_DIR"),
        ("plugin_dir", "component_dir"),
        paths.default_component_dir(),
    )
    secrets = pick_dir(
        secrets_dir, ("WASSETTE_SECRETS_DIR",), ("secrets_dir",), paths.default_secrets_dir()
    )

    bind = bind_address or env.get("WASSETTE_BIND_ADDRESS") or cfg.get("bind_address")
    if bind is None:
        bind = DEFAULT_BIND_ADDRESS
    if not isinstance(bind, str):
        raise ConfigError(
            f"config file {cfg_path}: bind_address must be a string",
            fix='write it as bind_address = "127.0.0.1:9001"',
        )

    env_vars = cfg.get("environment_vars", {})
    if not isinstance(env_vars, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()
    ):
        raise ConfigError(
            f"config file {cfg_path}: [environment_vars] must map names to string values",
            fix='write entries as NAME = "value" under [environment_vars]',
        )

    backend = env.get("WASSETTE_SECRETS_BACKEND") or cfg.get("secrets_backend", "file")
    if backend not in ("file", "vault"):
        raise ConfigError(
            f"unknown secrets backend {backend!r}",
            why='secrets_backend (or WASSETTE_SECRETS_BACKEND) must be "file" or "vault"',
            fix='use secrets_backend = "file" (default) or "vault" with a [vault] table',
        )

    encrypt_new = cfg.get("encrypt_new", False)
    env_encrypt = env.get("WASSETTE_ENCRYPT_NEW")
    if env_encrypt:
        encrypt_new = env_encrypt.strip().lower() in ("1", "true", "yes", "on")
    if not isinstance(encrypt_new, bool):
        raise ConfigError(
            f"config file {cfg_path}: encrypt_new must be true or false",
            fix="write it as encrypt_new = true",
        )
    history_limit = cfg.get("history_limit", 10)
    if (
        isinstance(history_limit, bool)
        or not isinstance(history_limit, int)
        or not (0 <= history_limit <= 1000)
    ):
        raise ConfigError(
            f"config file {cfg_path}: history_limit must be a whole number from 0 to 1000",
            fix="write it as history_limit = 10 (0 keeps no history)",
        )

    if mcp_grants is not None:
        grants_mode = parse_mcp_grants(mcp_grants, "--mcp-grants")
    elif env.get("WASSETTE_MCP_GRANTS"):
        grants_mode = parse_mcp_grants(env["WASSETTE_MCP_GRANTS"], "WASSETTE_MCP_GRANTS")
    else:
        grants_mode = parse_mcp_grants(
            cfg.get("mcp_grants", DEFAULT_MCP_GRANTS), f"config file {cfg_path}"
        )
    max_sessions = int(
        _positive_number(
            cfg.get("http_max_sessions", DEFAULT_HTTP_MAX_SESSIONS),
            "http_max_sessions",
            f"config file {cfg_path}",
            integer=True,
        )
    )
    idle_timeout = _positive_number(
        cfg.get("http_session_idle_timeout", DEFAULT_HTTP_SESSION_IDLE_TIMEOUT),
        "http_session_idle_timeout",
        f"config file {cfg_path}",
        integer=False,
    )
    fetch_timeout = parse_fetch_timeout(
        env.get("WASSETTE_FETCH_TIMEOUT") or cfg.get("fetch_timeout", DEFAULT_FETCH_TIMEOUT),
        f"config file {cfg_path}: fetch_timeout"
        if not env.get("WASSETTE_FETCH_TIMEOUT")
        else "WASSETTE_FETCH_TIMEOUT",
    )
    references = _reference_scopes(cfg.get("references", {}), cfg_path)

    pool_size = _instance_pool_size(cfg, env, cfg_path)

    return Settings(
        instance_pool_size=pool_size,
        mcp_grants=grants_mode,
        http_max_sessions=max_sessions,
        http_session_idle_timeout=idle_timeout,
        plugin_dir=plugin,
        fetch_timeout=fetch_timeout,
        references=references,
        encrypt_new=encrypt_new,
        history_limit=history_limit,
        config_dir=paths.config_dir(),
        state_dir=paths.state_dir(),
        secrets_backend=backend,
        secrets_dir=secrets,
        bind_address=bind,
        environment_vars=dict(env_vars),
        config_file=cfg_path if cfg_path.exists() else None,
        raw=cfg,
    )


def parse_fetch_timeout(value: object, where: str) -> float:
    """A fetch deadline in seconds (number or numeric string), 0 < t <= one day."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not (0 < number <= MAX_FETCH_TIMEOUT):
        raise ConfigError(
            f"{where} must be a number of seconds above 0 and at most {int(MAX_FETCH_TIMEOUT)}",
            why=f"got {str(value)[:40]!a}",
            fix="e.g. fetch_timeout = 120 in the config, WASSETTE_FETCH_TIMEOUT=120, or "
            "--timeout 120",
        )
    return number


def _reference_scopes(raw: object, cfg_path: Path) -> dict[str, ReferenceScope]:
    import re

    from wassette.ids import COMPONENT_ID_PATTERN

    fix = '[references.<component-id>] with vault = ["shared/db"] and env = ["SHARED_TOKEN"]'
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {cfg_path}: [references] must be a table", fix=fix)
    if not raw:
        return {}
    from wassette.secretstore.references import ReferenceScope  # only with [references]

    scopes: dict[str, ReferenceScope] = {}
    for cid, table in raw.items():
        if not isinstance(cid, str) or not re.match(COMPONENT_ID_PATTERN, cid):
            raise ConfigError(
                f"config file {cfg_path}: [references.{str(cid)[:60]!a}] is not a component id",
                fix=fix,
            )
        if not isinstance(table, dict) or set(table) - {"vault", "env"}:
            raise ConfigError(
                f"config file {cfg_path}: [references.{cid}] may only hold vault and env",
                fix=fix,
            )
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("vault", "env"):
            items = table.get(key, [])
            if not isinstance(items, list) or not all(
                isinstance(i, str) and i.strip("/") for i in items
            ):
                raise ConfigError(
                    f"config file {cfg_path}: [references.{cid}] {key} must be a list of "
                    "non-empty strings",
                    fix=fix,
                )
            lists[key] = tuple(i.strip("/") if key == "vault" else i for i in items)
        scopes[cid] = ReferenceScope(vault=lists["vault"], env=lists["env"])
    return scopes
