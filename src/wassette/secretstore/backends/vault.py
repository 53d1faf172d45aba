"""Secrets in HashiCorp Vault or OpenBao, KV version 2 (the only module that imports ``hvac``).

Layout: component ``<id>`` lives in one KV v2 secret at ``<mount>/data/<path_prefix>/<id>``;
each wassette secret key is one field of that secret. So ``bao kv get -mount=secret
wassette/weather`` shows exactly what ``wassette secret list weather --show-values`` shows.

Semantics are :class:`~wassette.secretstore.backend.SecretBackend`'s:

- writes are read-modify-write under KV v2 **check-and-set**: we read the current version
  ``n``, write with ``cas=n``, and if another writer got there first Vault refuses, we re-read
  and try again (bounded by ``cas_attempts``). No concurrent update is ever lost;
- ``delete_many`` writes a new version without the named keys, keeping the (possibly empty)
  secret, as the local store keeps an empty file; nothing is written when nothing changes;
- no secret at the path (never written, or its latest version deleted or destroyed with the
  ``bao`` CLI) means no keys, not an error;
- KV v2 keeps versions: :meth:`VaultBackend.history` and :meth:`VaultBackend.rollback`.

Resilience: lookups are cached in memory for ``cache_ttl`` seconds. If Vault cannot be
reached (refused, timed out, sealed, no leader), a lookup serves the last value fetched, logs
the outage once (address and paths, never values), and stops dialling Vault for
``retry_interval`` seconds so that a dead server does not cost a timeout per tool call. The
first successful request ends the outage; nothing needs restarting. Authorization failures are
*not* papered over with the cache: a revoked token or policy takes effect at once.
Every request has a timeout, and connection failures are retried at most ``retries`` times.

This module never reads ``os.environ``: :meth:`VaultBackend.from_config` takes the environment
as an argument, and the HTTP session ignores proxy variables and ``.netrc`` (``trust_env``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import hvac
import hvac.exceptions
import requests
import requests.exceptions

from wassette.errors import (
    ConfigError,
    NotFoundError,
    UsageError,
    VaultAuthError,
    VaultBackendError,
    VaultConflictError,
    VaultPermissionError,
    VaultUnreachableError,
)
from wassette.ids import ENV_KEY_PATTERN, validate_component_id, validate_secret_key
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.backends.outage_cache import OutageDiskCache

if TYPE_CHECKING:
    from wassette.secretstore.history import VersionInfo

log = logging.getLogger("wassette.secretstore.vault")

_T = TypeVar("_T")

DEFAULT_MOUNT = "secret"
DEFAULT_PATH_PREFIX = "wassette"
DEFAULT_CACHE_TTL = 60.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL = 5.0
DEFAULT_CAS_ATTEMPTS = 20
DEFAULT_APPROLE_MOUNT = "approle"

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

_CAS_MISMATCH = "check-and-set parameter did not match"


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


# --------------------------------------------------------------------------- authentication


class VaultAuth:
    """How the backend obtains a Vault token. Subclasses never put secrets in ``repr``."""

    #: may calling :meth:`login` again yield a fresh token (file re-read, AppRole re-login)?
    refreshable: bool = False

    def login(self, client: hvac.Client) -> str:
        """Return a token for ``client`` (may perform an HTTP login)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the credentials come from, for messages (never the credentials)."""
        raise NotImplementedError

    def fix_hint(self) -> str:
        """How to repair a rejected credential."""
        raise NotImplementedError


@dataclass(frozen=True)
class TokenAuth(VaultAuth):
    """A fixed token, typically from ``VAULT_TOKEN``."""

    token: str = field(repr=False)
    source: str = "the VAULT_TOKEN environment variable"

    def login(self, client: hvac.Client) -> str:
        """Return the fixed token."""
        return self.token

    def describe(self) -> str:
        """Where the token came from."""
        return self.source

    def fix_hint(self) -> str:
        """How to repair a rejected token."""
        return f"put a valid token in {self.source} (check it with `bao token lookup`)"


@dataclass(frozen=True)
class TokenFileAuth(VaultAuth):
    """A token read from a file at every login, so a Vault Agent sink can rotate it."""

    path: Path
    refreshable: bool = True

    def login(self, client: hvac.Client) -> str:
        """Read the token file."""
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Vault token file {self.path}",
                why=exc.strerror or type(exc).__name__,
                fix="check [vault] token_file in config.toml and the file's permissions",
            ) from None
        if not token:
            raise ConfigError(
                f"the Vault token file {self.path} is empty",
                fix="write a token into it (e.g. a Vault Agent token sink)",
            )
        return token

    def describe(self) -> str:
        """Where the token came from."""
        return f"the token file {self.path}"

    def fix_hint(self) -> str:
        """How to repair a rejected token."""
        return f"write a valid token to {self.path} (check it with `bao token lookup`)"


@dataclass(frozen=True)
class AppRoleAuth(VaultAuth):
    """AppRole: a role id (not secret) and a secret id read from a file at every login."""

    role_id: str
    secret_id_file: Path
    mount: str = DEFAULT_APPROLE_MOUNT
    refreshable: bool = True

    def login(self, client: hvac.Client) -> str:
        """Log in with AppRole and return the client token."""
        try:
            secret_id = self.secret_id_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the AppRole secret id file {self.secret_id_file}",
                why=exc.strerror or type(exc).__name__,
                fix="check [vault] secret_id_file in config.toml and the file's permissions",
            ) from None
        try:
            resp = client.auth.approle.login(
                role_id=self.role_id, secret_id=secret_id, use_token=False, mount_point=self.mount
            )
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden) as exc:
            # Vault's own words ("invalid role or secret ID") never contain the secret id.
            raise VaultAuthError(
                f"AppRole login at auth/{self.mount}/login was refused",
                why=", ".join(exc.errors or []) or "invalid role id or secret id",
                fix=self.fix_hint(),
            ) from None
        except hvac.exceptions.InvalidPath:
            raise VaultAuthError(
                f"no AppRole auth method is mounted at auth/{self.mount}",
                fix="enable it (`bao auth enable approle`) or set [vault] approle_mount",
            ) from None
        token = resp.get("auth", {}).get("client_token") if isinstance(resp, dict) else None
        if not isinstance(token, str) or not token:
            raise VaultAuthError(
                f"AppRole login at auth/{self.mount}/login returned no token",
                fix="check the role's token policies and TTLs",
            )
        return token

    def describe(self) -> str:
        """Where the credentials come from."""
        return f"AppRole role_id {self.role_id!r} with the secret id in {self.secret_id_file}"

    def fix_hint(self) -> str:
        """How to repair refused AppRole credentials."""
        return (
            f"check [vault] role_id and the secret id in {self.secret_id_file} "
            "(`bao write -f auth/approle/role/<role>/secret-id` makes a new one)"
        )


# --------------------------------------------------------------------------- versions


@dataclass(frozen=True)
class SecretVersion:
    """One KV v2 version of a component's secrets (metadata only: no keys, no values)."""

    version: int
    created_time: str
    deletion_time: str | None
    destroyed: bool
    current: bool


@dataclass
class _CacheEntry:
    data: Mapping[str, str]
    version: int
    fetched_at: float


class _CasMismatch(Exception):
    """Internal: Vault refused a write because the version moved on."""


# --------------------------------------------------------------------------- the backend


class VaultBackend(SecretBackend):
    """Per-component secrets in a Vault/OpenBao KV v2 mount."""

    name = "vault"

    def __init__(
        self,
        address: str,
        auth: VaultAuth,
        *,
        mount: str = DEFAULT_MOUNT,
        path_prefix: str = DEFAULT_PATH_PREFIX,
        namespace: str | None = None,
        ca_cert: str | None = None,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        cas_attempts: int = DEFAULT_CAS_ATTEMPTS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Build a backend; nothing is sent to Vault until the first operation."""
        self.address = _validate_address(address)
        self.mount = validate_vault_path(mount, "Vault mount")
        self.path_prefix = validate_vault_path(path_prefix, "path_prefix") if path_prefix else ""
        self.auth = auth
        self.cache_ttl = float(cache_ttl)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.retry_interval = float(retry_interval)
        self.cas_attempts = max(1, int(cas_attempts))
        self._clock = clock
        self._sleep = sleep

        session = requests.Session()
        # Library code does not consult the environment: no *_PROXY, no .netrc, no
        # REQUESTS_CA_BUNDLE. TLS trust comes from `ca_cert` (or the system store).
        session.trust_env = False
        session.verify = ca_cert if ca_cert else True
        # token="" (not None): hvac would otherwise read VAULT_TOKEN and ~/.vault-token itself.
        self._client = hvac.Client(
            url=self.address,
            token="",
            verify=session.verify,
            timeout=self.timeout,
            session=session,
            namespace=namespace,
        )
        self._token_ready = False
        self._auth_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: dict[str, _CacheEntry] = {}
        # Encrypted copy on disk for outages that span a restart (only with encryption at rest:
        # set by the factory); None keeps the outage cache in memory only.
        self.disk_cache: OutageDiskCache | None = None
        self._down_since: float | None = None
        self._next_probe = 0.0

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_config(
        cls, vault_table: Mapping[str, Any], environ: Mapping[str, str]
    ) -> VaultBackend:
        """Build a backend from the ``[vault]`` table of config.toml and the environment.

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
                raise ConfigError(
                    f"config [vault] {key} must be a whole number", fix=f"e.g. {key} = 2"
                )
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

        try:
            return cls(
                address,
                auth,
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
        except UsageError as exc:
            raise ConfigError(f"config [vault]: {exc.what}", why=exc.why, fix=exc.fix) from None

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.adapter.close()

    # ----------------------------------------------------------------- paths

    def logical_path(self, component_id: str) -> str:
        """The KV path (inside the mount) holding ``component_id``'s secrets."""
        validate_component_id(component_id)
        return f"{self.path_prefix}/{component_id}" if self.path_prefix else component_id

    def api_path(self, logical: str, kind: str = "data") -> str:
        """``<mount>/<kind>/<logical>``: the path policies are written against."""
        return f"{self.mount}/{kind}/{logical}"

    def location(self, component_id: str) -> str:
        """The URL of the component's secret, for messages."""
        return f"{self.address}/v1/{self.api_path(self.logical_path(component_id))}"

    # ----------------------------------------------------------------- SecretBackend

    def get_all(self, component_id: str) -> Mapping[str, str]:
        """All secrets of ``component_id``, from the cache when fresh.

        Fields whose names are not valid secret keys (written to Vault by other tools) are
        left out, with a warning: they could never be injected, and ``secret export`` must
        only write what ``secret import`` accepts.
        """
        data = self.read_path(self.logical_path(component_id))
        bad = [k for k in data if not re.fullmatch(ENV_KEY_PATTERN, k)]
        if not bad:
            return data
        log.warning(
            "Vault secret %s has %d field(s) whose names are not valid keys (%s); ignored: "
            "rename them to match %s",
            self.api_path(self.logical_path(component_id)),
            len(bad),
            ", ".join(ascii(k[:40]) for k in sorted(bad)[:5]),
            ENV_KEY_PATTERN,
        )
        return MappingProxyType({k: v for k, v in data.items() if k not in bad})

    def read_path(self, logical: str) -> Mapping[str, str]:
        """All fields of the KV v2 secret at ``logical`` (cached; empty if there is none).

        Used for components and for ``vault:<path>#<key>`` references alike.
        """
        validate_vault_path(logical)
        now = self._clock()
        with self._cache_lock:
            entry = self._cache.get(logical)
            fresh = entry is not None and now - entry.fetched_at < self.cache_ttl
            probing_allowed = self._down_since is None or now >= self._next_probe
        if entry is not None and fresh:
            return entry.data
        if not probing_allowed:
            # Inside an outage: answer at once instead of paying a timeout per lookup.
            if entry is not None:
                return entry.data
            saved = self._from_disk(logical, now)
            if saved is not None:
                return saved
            raise self._unreachable_error(
                "no answer at the last attempt",
                detail=f"retrying after {self.retry_interval:g} s; nothing cached for {logical}",
            )
        try:
            data, version = self._read(logical)
        except VaultUnreachableError as exc:
            self._note_outage(now, exc)
            if entry is not None:
                log.warning(
                    "Vault at %s unreachable: serving cached secrets of %s fetched %.1f s ago",
                    self.address,
                    logical,
                    now - entry.fetched_at,
                )
                return entry.data
            saved = self._from_disk(logical, now)
            if saved is not None:
                return saved
            raise
        self._note_recovery()
        return self._remember(logical, data, version)

    def _from_disk(self, logical: str, now: float) -> Mapping[str, str] | None:
        """During an outage, with nothing in memory: the encrypted on-disk copy, if any."""
        if self.disk_cache is None:
            return None
        loaded = self.disk_cache.load(logical)
        if loaded is None:
            return None
        data, saved_at = loaded
        log.warning(
            "Vault at %s unreachable: serving the secrets of %s saved on disk %.0f s ago",
            self.address,
            logical,
            max(0.0, time.time() - saved_at),
        )
        frozen = MappingProxyType(dict(data))
        with self._cache_lock:
            # Stale on purpose (fetched_at far in the past): the next probe replaces it.
            self._cache[logical] = _CacheEntry(frozen, 0, now - self.cache_ttl - 1)
        return frozen

    def set_many(self, component_id: str, items: Mapping[str, str]) -> None:
        """Add or update ``items`` under check-and-set; durable on return."""
        logical = self.logical_path(component_id)
        for key, value in items.items():
            validate_secret_key(key)
            if not isinstance(value, str):
                raise UsageError(f"secret {key} must be a string value")
        if not items:
            return
        update = dict(items)

        def mutate(current: dict[str, str]) -> dict[str, str] | None:
            merged = {**current, **update}
            return None if merged == current else merged

        self._modify(logical, mutate)

    def delete_many(self, component_id: str, keys: Iterable[str]) -> list[str]:
        """Remove ``keys`` (missing ones ignored), keeping the secret even if now empty."""
        logical = self.logical_path(component_id)
        wanted = list(dict.fromkeys(keys))
        removed: list[str] = []

        def mutate(current: dict[str, str]) -> dict[str, str] | None:
            removed.clear()
            removed.extend(k for k in wanted if k in current)
            if not removed:
                return None
            return {k: v for k, v in current.items() if k not in removed}

        if wanted:
            self._modify(logical, mutate)
        return list(removed)

    # ----------------------------------------------------------------- versions

    def versions(self) -> VaultBackend:
        """KV v2 keeps versions: per-key history and rollback are read from them."""
        return self

    def reference_reader(self) -> VaultBackend:
        """``vault:<path>#<key>`` references are read through this backend."""
        return self

    def secret_versions(self, component_id: str) -> list[SecretVersion]:
        """KV v2 versions of the component's secret, oldest first (metadata only)."""
        logical = self.logical_path(component_id)
        api = self.api_path(logical, "metadata")
        try:
            resp = self._call(
                lambda: self._client.adapter.get(f"/v1/{self.mount}/metadata/{quote(logical)}"),
                api_path=api,
                needs=("read",),
            )
        except hvac.exceptions.InvalidPath:
            return []
        meta = _dict(_dict(resp).get("data"))
        current = meta.get("current_version")
        out = []
        versions = _dict(meta.get("versions"))
        for num in sorted(versions, key=int):
            info = _dict(versions[num])
            out.append(
                SecretVersion(
                    version=int(num),
                    created_time=str(info.get("created_time", "")),
                    deletion_time=str(info.get("deletion_time") or "") or None,
                    destroyed=bool(info.get("destroyed", False)),
                    current=int(num) == current,
                )
            )
        return out

    def read_version(self, component_id: str, version: int) -> dict[str, str] | None:
        """The secrets as they were in KV v2 ``version``; None if deleted, destroyed or absent."""
        logical = self.logical_path(component_id)
        url = f"/v1/{self.mount}/data/{quote(logical)}"
        api = self.api_path(logical)
        try:
            resp = self._call(
                lambda: self._client.adapter.get(url, params={"version": int(version)}),
                api_path=api,
                needs=("read",),
            )
        except hvac.exceptions.InvalidPath:
            resp = None
        target = _dict(_dict(resp).get("data")).get("data") if resp is not None else None
        return _strings(target, api) if isinstance(target, dict) else None

    def restore_version(self, component_id: str, version: int) -> int:
        """Make ``version``'s content current again, as a new version; return its number."""
        logical = self.logical_path(component_id)
        restored = self.read_version(component_id, version)
        if restored is None:
            raise NotFoundError(
                f"version {version} of the secrets of {component_id} is not available",
                why="it does not exist, or it was deleted or destroyed",
                fix=f"pick a live version from `history` ({self.location(component_id)})",
            )
        return self._modify(logical, lambda _current: dict(restored))

    def key_history(
        self, component_id: str, key: str | None, fingerprint: Callable[[str, str], str]
    ) -> dict[str, list[VersionInfo]]:
        """Per-key history from KV v2 versions: the versions in which each key changed.

        ``fingerprint(key, value)`` is the keyed fingerprint to show instead of the value.
        Vault records no actor per version (its audit device does), so ``actor`` is empty.
        """
        from wassette.secretstore.history import VersionInfo

        out: dict[str, list[VersionInfo]] = {}
        last: dict[str, str | None] = {}
        versions = self.secret_versions(component_id)
        for meta in versions:
            data = (
                None
                if meta.destroyed or meta.deletion_time
                else self.read_version(component_id, meta.version)
            )
            if data is None:
                continue
            names = set(data) | set(last)
            for name in sorted(names if key is None else {key} & names):
                value = data.get(name)
                if name in last and last[name] == value:
                    continue
                last[name] = value
                out.setdefault(name, []).append(
                    VersionInfo(
                        meta.version,
                        meta.created_time,
                        "",
                        "write" if value is not None else "delete",
                        None if value is None else fingerprint(name, value),
                        False,
                    )
                )
        current = self.get_all(component_id)
        for name, rows in out.items():
            if rows and (rows[-1].fingerprint is None) == (name not in current):
                rows[-1] = dataclasses.replace(rows[-1], current=True)
        return out

    def rollback_key(self, component_id: str, key: str, version: int | None = None) -> int:
        """Restore ``key`` as it was in KV v2 ``version`` (default: its previous value)."""
        validate_secret_key(key)
        current = self.get_all(component_id).get(key)
        if version is None:
            for meta in reversed(self.secret_versions(component_id)):
                data = (
                    None
                    if meta.destroyed or meta.deletion_time
                    else self.read_version(component_id, meta.version)
                )
                if data is not None and data.get(key) != current:
                    version = meta.version
                    break
            else:
                raise NotFoundError(
                    f"no earlier value of {key} to roll back to in {component_id}",
                    why="no live KV v2 version holds a different value",
                    fix=f"see `wassette secret history {component_id} {key}`",
                )
        data = self.read_version(component_id, version)
        if data is None:
            raise NotFoundError(
                f"version {version} of the secrets of {component_id} is not available",
                why="it does not exist, or it was deleted or destroyed",
                fix=f"see `wassette secret history {component_id} {key}`",
            )
        value = data.get(key)
        if value is None:
            self.delete_many(component_id, [key])
        else:
            self.set_many(component_id, {key: value})
        return version

    def purge_key_history(self, component_id: str, keys: Sequence[str] | None) -> list[str]:
        """Destroy (KV v2 ``destroy``: data gone for good) every earlier version holding one of
        ``keys`` (None: every earlier version). KV v2 versions hold the whole secret, so the
        other keys' values in those versions go too; the current version is kept.
        """
        logical = self.logical_path(component_id)
        wanted = None if keys is None else set(keys)
        doomed: list[int] = []
        purged: set[str] = set()
        for meta in self.secret_versions(component_id):
            if meta.current or meta.destroyed:
                continue
            # A soft-deleted version still holds its data but cannot be read: destroy it too.
            data = None if meta.deletion_time else self.read_version(component_id, meta.version)
            held = set() if data is None else set(data)
            hit = held if wanted is None else held & wanted
            if hit or data is None:
                doomed.append(meta.version)
                purged |= hit
        if doomed:
            api = self.api_path(logical, "destroy")
            self._call(
                functools.partial(
                    self._client.adapter.post,
                    f"/v1/{self.mount}/destroy/{quote(logical)}",
                    json={"versions": doomed},
                ),
                api_path=api,
                needs=("update",),
            )
        return sorted(purged)

    # ----------------------------------------------------------------- internals

    def _remember(self, logical: str, data: dict[str, str], version: int) -> Mapping[str, str]:
        frozen = MappingProxyType(dict(data))
        with self._cache_lock:
            previous = self._cache.get(logical)
            self._cache[logical] = _CacheEntry(frozen, version, self._clock())
        if self.disk_cache is not None and (previous is None or previous.data != frozen):
            self.disk_cache.store(logical, data)  # only when the values changed
        return frozen

    def _note_outage(self, now: float, exc: VaultUnreachableError) -> None:
        with self._cache_lock:
            first = self._down_since is None
            if first:
                self._down_since = now
            self._next_probe = now + self.retry_interval
        if first:
            log.warning(
                "Vault at %s is unreachable (%s); serving cached secrets where available, "
                "retrying every %g s",
                self.address,
                exc.why or exc.what,
                self.retry_interval,
            )

    def _note_recovery(self) -> None:
        with self._cache_lock:
            since = self._down_since
            self._down_since = None
            self._next_probe = 0.0
        if since is not None:
            log.warning(
                "Vault at %s is reachable again after %.1f s", self.address, self._clock() - since
            )

    def _read(
        self, logical: str, *, needs: tuple[str, ...] = ("read",)
    ) -> tuple[dict[str, str], int]:
        """(fields, current version) of ``logical``; ({}, n) when absent, deleted or destroyed."""
        url = f"/v1/{self.mount}/data/{quote(logical)}"
        api = self.api_path(logical)
        try:
            resp = self._call(lambda: self._client.adapter.get(url), api_path=api, needs=needs)
        except hvac.exceptions.InvalidPath as exc:
            # 404: never written (no body), or latest version deleted/destroyed (body with
            # metadata). The version number matters: it is the next check-and-set value.
            meta = _dict(_dict(_dict(exc.json).get("data")).get("metadata"))
            return {}, int(meta.get("version") or 0)
        body = _dict(_dict(resp).get("data"))
        meta = _dict(body.get("metadata"))
        data = body.get("data")
        version = int(meta.get("version") or 0)
        if data is None:
            return {}, version
        if not isinstance(data, dict):
            raise VaultBackendError(
                f"the secret at {api} is not a KV v2 map of fields",
                fix=f"check that {self.mount}/ is a KV version 2 mount",
            )
        return _strings(data, api), version

    def _modify(
        self,
        logical: str,
        mutate: Callable[[dict[str, str]], dict[str, str] | None],
    ) -> int:
        """Read-modify-write under check-and-set; return the version written (or current)."""
        url = f"/v1/{self.mount}/data/{quote(logical)}"
        api = self.api_path(logical)
        for attempt in range(self.cas_attempts):
            current, version = self._read(logical, needs=("read", "create", "update"))
            new = mutate(dict(current))
            if new is None:
                self._remember(logical, current, version)
                return version
            payload = {"data": new, "options": {"cas": version}}
            try:
                resp = self._call(
                    functools.partial(self._client.adapter.post, url, json=payload),
                    api_path=api,
                    needs=("create", "update") if version == 0 else ("update",),
                )
            except _CasMismatch:
                # Someone else wrote between our read and our write. Back off with jitter
                # so two writers in lock-step do not collide forever.
                delay = min(0.005 * 2**attempt, 0.25) * (0.5 + random.random())  # noqa: S311
                self._sleep(delay)
                continue
            written = int(_dict(_dict(resp).get("data")).get("version") or version + 1)
            self._note_recovery()
            self._remember(logical, new, written)
            return written
        raise VaultConflictError(
            f"could not update {api}: {self.cas_attempts} check-and-set attempts lost to "
            "concurrent writers",
            why="other wassette instances kept changing the same component at the same moment",
            fix="retry the command; raise [vault] cas_attempts if this happens under normal load",
        )

    def _ensure_token(self) -> None:
        if self._token_ready:
            return
        self._login()

    def _login(self) -> None:
        with self._auth_lock:
            token = self._with_retries(lambda: self.auth.login(self._client))
            self._client.token = token
            self._token_ready = True

    def _with_retries(self, op: Callable[[], _T]) -> _T:
        """Run ``op``; retry transport failures at most ``retries`` times, with backoff."""
        attempt = 0
        while True:
            try:
                return op()
            except requests.exceptions.SSLError as exc:
                raise self._unreachable_error(
                    "the TLS handshake failed",
                    detail=type(exc).__name__,
                    fix="set [vault] ca_cert to the CA bundle that signed Vault's certificate",
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                hvac.exceptions.VaultDown,
                hvac.exceptions.BadGateway,
                hvac.exceptions.RateLimitExceeded,
            ) as exc:
                attempt += 1
                if attempt > self.retries:
                    raise self._unreachable_error(_describe_transport(exc, self.timeout)) from None
                self._sleep(min(0.1 * 2 ** (attempt - 1), 1.0))
            except requests.exceptions.RequestException as exc:
                raise self._unreachable_error(type(exc).__name__) from None

    def _call(self, op: Callable[[], _T], *, api_path: str, needs: tuple[str, ...]) -> _T:
        """One authenticated request with bounded retries, Vault errors made ours.

        ``hvac.exceptions.InvalidPath`` (404) is passed through for the caller to interpret,
        except for "no handler for route" (the mount does not exist).
        """
        self._ensure_token()
        reauthenticated = False
        while True:
            try:
                return self._with_retries(op)
            except hvac.exceptions.Forbidden:
                if self._token_is_valid():
                    raise self._permission_error(api_path, needs) from None
                if self.auth.refreshable and not reauthenticated:
                    # An expired AppRole token or a rotated token file: log in once more.
                    reauthenticated = True
                    self._token_ready = False
                    self._login()
                    continue
                raise VaultAuthError(
                    f"Vault at {self.address} rejected the token from {self.auth.describe()}",
                    why="it is invalid, expired or revoked",
                    fix=self.auth.fix_hint(),
                ) from None
            except hvac.exceptions.Unauthorized:
                raise VaultAuthError(
                    f"Vault at {self.address} requires authentication for {api_path}",
                    fix=self.auth.fix_hint(),
                ) from None
            except hvac.exceptions.InvalidPath as exc:
                if any("no handler for route" in str(e) for e in exc.errors or []):
                    raise VaultBackendError(
                        f"no secrets engine is mounted at {self.mount}/ on {self.address}",
                        fix=f"enable KV v2 there (`bao secrets enable -path={self.mount} kv-v2`) "
                        "or set [vault] mount",
                    ) from None
                raise
            except hvac.exceptions.InvalidRequest as exc:
                errors = [str(e) for e in exc.errors or []]
                if any(_CAS_MISMATCH in e for e in errors):
                    raise _CasMismatch from None
                raise VaultBackendError(
                    f"Vault at {self.address} refused the request on {api_path}",
                    why=", ".join(errors) or "HTTP 400",
                    fix=f"check that {self.mount}/ is a KV version 2 mount",
                ) from None
            except hvac.exceptions.VaultError as exc:
                raise VaultBackendError(
                    f"Vault at {self.address} failed on {api_path}",
                    why=", ".join(str(e) for e in exc.errors or []) or type(exc).__name__,
                    fix="check the Vault server's log",
                ) from None

    def _token_is_valid(self) -> bool:
        """Tell a bad token from a missing policy: both are HTTP 403 in Vault."""
        try:
            self._with_retries(lambda: self._client.adapter.get("/v1/auth/token/lookup-self"))
        except hvac.exceptions.Forbidden:
            return False
        except (hvac.exceptions.VaultError, VaultBackendError):
            return True  # cannot tell; report the permission problem we saw
        return True

    def _permission_error(self, api_path: str, needs: tuple[str, ...]) -> VaultPermissionError:
        granted: list[str] | None = None
        try:
            resp = self._with_retries(
                lambda: self._client.adapter.post(
                    "/v1/sys/capabilities-self", json={"paths": [api_path]}
                )
            )
            caps = _dict(resp).get(api_path, _dict(resp).get("capabilities"))
            if isinstance(caps, list):
                granted = [str(c) for c in caps]
        except (hvac.exceptions.VaultError, VaultBackendError):
            granted = None  # the token may not even be allowed to ask; say what we know
        missing = [c for c in needs if granted is None or c not in granted]
        has = "unknown" if granted is None else (", ".join(granted) or "none")
        quoted = ", ".join(f'"{c}"' for c in sorted(set(needs) | set(granted or []) - {"deny"}))
        return VaultPermissionError(
            f"Vault denied access to {api_path} on {self.address}",
            why=f"missing capability {' and '.join(missing or list(needs))} "
            f"(the token from {self.auth.describe()} has: {has})",
            fix=f'grant it in a policy of that token: path "{api_path}" '
            f"{{ capabilities = [{quoted}] }}",
        )

    def _unreachable_error(
        self, reason: str, *, detail: str | None = None, fix: str | None = None
    ) -> VaultUnreachableError:
        why = reason if detail is None else f"{reason} ({detail})"
        return VaultUnreachableError(
            f"Vault at {self.address} is unreachable",
            why=why,
            fix=fix
            or f"check that the server is up and unsealed (`bao status -address={self.address}`)"
            " and that [vault] address in config.toml is right",
        )


# --------------------------------------------------------------------------- helpers


def _validate_address(address: str) -> str:
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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(data: dict[str, Any], api_path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            # Name the key and the type; never the value.
            raise VaultBackendError(
                f"secret {key} at {api_path} is not a string",
                why=f"it is a JSON {type(value).__name__}",
                fix=f"rewrite it as a string (`bao kv patch -mount=... {key}=...`)",
            )
        out[str(key)] = value
    return out


def _describe_transport(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, hvac.exceptions.VaultDown):
        return "it is sealed, in maintenance, or has no active leader (HTTP 503)"
    if isinstance(exc, hvac.exceptions.BadGateway):
        return "a proxy in front of it answered 502 Bad Gateway"
    if isinstance(exc, hvac.exceptions.RateLimitExceeded):
        return "it is rate-limiting this client (HTTP 429)"
    return type(exc).__name__
