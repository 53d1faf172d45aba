"""The ``[vault]`` config table (its keys, defaults and validation) and safe KV paths.

Nothing here talks to Vault or reads ``os.environ``: :func:`options_from_config` takes the
environment as an argument.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wassette.errors import ConfigError, UsageError
from wassette.secretstore.backends.vault.auth import (
    DEFAULT_APPROLE_MOUNT,
    AppRoleAuth,
    TokenAuth,
    TokenFileAuth,
    VaultAuth,
)

log = logging.getLogger("wassette.secretstore.vault")

DEFAULT_MOUNT = "secret"
DEFAULT_PATH_PREFIX = "wassette"
DEFAULT_CACHE_TTL = 60.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL = 5.0
DEFAULT_CAS_ATTEMPTS = 20

#: keys of the ``[vault]`` config table
CONFIG_KEYS = frozenset(
    {
        "address",
        "mount",
        "path_prefix",
        "namespace",
        "ca_cert",
        "token_file",
        "role_id",
        "secret_id_file",
        "approle_mount",
        "cache_ttl",
        "timeout",
        "retries",
        "retry_interval",
        "cas_attempts",
    }
)

# One path segment: the characters of a component id. Deliberately narrow: no spaces, no
# percent signs, no "..", so a path can never be re-interpreted by URL handling.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def validate_vault_path(path: str, what: str = "Vault path") -> str:
    """Return ``path`` if it is a plain relative path of safe segments, else raise UsageError.

    Segments are letters, digits, ``.``, ``_`` and ``-`` (not starting with ``.`` or ``-``),
    separated by single slashes, without leading or trailing slash.
    """
    segments = path.split("/")
    if path and all(_SEGMENT.fullmatch(s) for s in segments):
        return path
    raise UsageError(
        f"invalid {what} {path[:60]!a}",
        why="it must be segments of letters, digits, '.', '_' and '-' joined by single '/'",
        fix="write it like team/shared or wassette (no leading '/', no '..', no spaces)",
    )


def validate_address(address: str) -> str:
    """Return ``address`` without a trailing slash if it is an http(s) URL with a host."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid Vault address {address[:80]!a}",
            why="it must be an http:// or https:// URL with a host",
            fix='write it like "https://vault.example.com:8200"',
        )
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise UsageError(f"invalid port in Vault address {address[:80]!a}") from None
    return address.rstrip("/")


@dataclass(frozen=True)
class VaultOptions:
    """What the ``[vault]`` table and the environment say, checked for type and presence.

    Paths and the address are validated by the backend's constructor (which raises
    ``UsageError``, turned into ``ConfigError`` by the backend's ``from_config``).
    """

    address: str
    auth: VaultAuth = field(repr=False)
    mount: str
    path_prefix: str
    namespace: str | None
    ca_cert: str | None
    cache_ttl: float
    timeout: float
    retries: int
    retry_interval: float
    cas_attempts: int


def options_from_config(vault_table: Mapping[str, Any], environ: Mapping[str, str]) -> VaultOptions:
    """Read the ``[vault]`` table of config.toml and the environment.

    Keys: ``address`` (else ``VAULT_ADDR``), ``mount`` ("secret"), ``path_prefix``
    ("wassette"), ``namespace``, ``ca_cert``, ``cache_ttl`` (60 s), ``timeout`` (5 s),
    ``retries`` (2), ``retry_interval`` (5 s), ``cas_attempts`` (20). Authentication, first
    match wins: ``role_id`` + ``secret_id_file`` (AppRole, ``approle_mount`` "approle"),
    then ``token_file``, then ``VAULT_TOKEN`` from ``environ``. Explicit config beats an
    ambient environment variable, so a stray ``VAULT_TOKEN`` cannot silently change which
    identity a server uses.
    """
    table = dict(vault_table)
    for key in sorted(set(table) - CONFIG_KEYS):
        log.warning("config [vault]: unknown key %r is ignored", key)

    def text(key: str, default: str | None = None) -> str | None:
        value = table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(
                f"config [vault] {key} must be a string",
                fix=f'write it as {key} = "..."',
            )
        return value

    def number(key: str, default: float, *, integer: bool = False) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"config [vault] {key} must be a non-negative number",
                fix=f"write it as {key} = {int(default) if integer else default}",
            )
        if integer and not isinstance(value, int):
            raise ConfigError(f"config [vault] {key} must be a whole number", fix=f"e.g. {key} = 2")
        return float(value)

    address = text("address") or environ.get("VAULT_ADDR")
    if not address:
        raise ConfigError(
            "no Vault address configured",
            why='secrets_backend = "vault" needs [vault] address (or VAULT_ADDR)',
            fix='add address = "https://vault.example.com:8200" under [vault] in config.toml',
        )

    auth: VaultAuth
    role_id = text("role_id")
    secret_id_file = text("secret_id_file")
    token_file = text("token_file")
    if role_id or secret_id_file:
        if not (role_id and secret_id_file):
            raise ConfigError(
                "incomplete AppRole configuration",
                why="[vault] needs both role_id and secret_id_file",
                fix='add the missing one, e.g. secret_id_file = "/etc/wassette/secret-id"',
            )
        auth = AppRoleAuth(
            role_id=role_id,
            secret_id_file=Path(secret_id_file).expanduser(),
            mount=validate_vault_path(
                text("approle_mount", DEFAULT_APPROLE_MOUNT) or DEFAULT_APPROLE_MOUNT,
                "approle_mount",
            ),
        )
    elif token_file:
        auth = TokenFileAuth(Path(token_file).expanduser())
    elif environ.get("VAULT_TOKEN"):
        auth = TokenAuth(environ["VAULT_TOKEN"])
    else:
        raise ConfigError(
            "no Vault credentials configured",
            why="neither [vault] role_id/secret_id_file, token_file, nor VAULT_TOKEN is set",
            fix="set VAULT_TOKEN, or add token_file or role_id + secret_id_file under [vault]",
        )

    return VaultOptions(
        address=address,
        auth=auth,
        mount=text("mount", DEFAULT_MOUNT) or DEFAULT_MOUNT,
        path_prefix=text("path_prefix", DEFAULT_PATH_PREFIX) or "",
        namespace=text("namespace"),
        ca_cert=text("ca_cert"),
        cache_ttl=number("cache_ttl", DEFAULT_CACHE_TTL),
        timeout=number("timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT,
        retries=int(number("retries", DEFAULT_RETRIES, integer=True)),
        retry_interval=number("retry_interval", DEFAULT_RETRY_INTERVAL),
        cas_attempts=int(number("cas_attempts", DEFAULT_CAS_ATTEMPTS, integer=True)),
    )
