"""Secrets in HashiCorp Vault or OpenBao, KV version 2 (this package alone imports ``hvac``).

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
- KV v2 keeps versions: :meth:`~KvVersions.key_history` and :meth:`~KvVersions.rollback_key`.

Resilience: lookups are cached in memory for ``cache_ttl`` seconds. If Vault cannot be
reached (refused, timed out, sealed, no leader), a lookup serves the last value fetched, logs
the outage once (address and paths, never values), and stops dialling Vault for
``retry_interval`` seconds so that a dead server does not cost a timeout per tool call. The
first successful request ends the outage; nothing needs restarting. Authorization failures are
*not* papered over with the cache: a revoked token or policy takes effect at once.
Every request has a timeout, and connection failures are retried at most ``retries`` times.

This package never reads ``os.environ``: :meth:`VaultBackend.from_config` takes the environment
as an argument, and the HTTP session ignores proxy variables and ``.netrc`` (``trust_env``).

Layout of this package: :mod:`.config` (the ``[vault]`` table, safe paths), :mod:`.auth`
(token, token file, AppRole), :mod:`.client` (login, retries, errors), :mod:`.versions`
(history and rollback from KV v2 versions) and this module (reads, writes, caching).
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import hvac.exceptions

from wassette.errors import (
    ConfigError,
    UsageError,
    VaultBackendError,
    VaultConflictError,
    VaultUnreachableError,
)
from wassette.ids import ENV_KEY_PATTERN, validate_component_id, validate_secret_key
from wassette.secretstore.backends.outage_cache import OutageDiskCache
from wassette.secretstore.backends.vault.auth import VaultAuth
from wassette.secretstore.backends.vault.client import (
    CasMismatch,
    VaultClient,
    as_dict,
    string_fields,
)
from wassette.secretstore.backends.vault.config import (
    DEFAULT_CACHE_TTL,
    DEFAULT_CAS_ATTEMPTS,
    DEFAULT_MOUNT,
    DEFAULT_PATH_PREFIX,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    DEFAULT_TIMEOUT,
    options_from_config,
    validate_address,
    validate_vault_path,
)
from wassette.secretstore.backends.vault.versions import KvVersions

log = logging.getLogger("wassette.secretstore.vault")


@dataclass
class _CacheEntry:
    data: Mapping[str, str]
    version: int
    fetched_at: float


class VaultBackend(KvVersions):
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
        self.address = validate_address(address)
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
        self._http = VaultClient(
            self.address,
            auth,
            mount=self.mount,
            namespace=namespace,
            ca_cert=ca_cert,
            timeout=self.timeout,
            retries=self.retries,
            sleep=sleep,
        )
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

        See :func:`~wassette.secretstore.backends.vault.config.options_from_config` for the
        keys, their defaults and how credentials are chosen.
        """
        opts = options_from_config(vault_table, environ)
        try:
            return cls(
                opts.address,
                opts.auth,
                mount=opts.mount,
                path_prefix=opts.path_prefix,
                namespace=opts.namespace,
                ca_cert=opts.ca_cert,
                cache_ttl=opts.cache_ttl,
                timeout=opts.timeout,
                retries=opts.retries,
                retry_interval=opts.retry_interval,
                cas_attempts=opts.cas_attempts,
            )
        except UsageError as exc:
            raise ConfigError(f"config [vault]: {exc.what}", why=exc.why, fix=exc.fix) from None

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

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
            raise self._http.unreachable_error(
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
            resp = self._http.call(lambda: self._http.adapter.get(url), api_path=api, needs=needs)
        except hvac.exceptions.InvalidPath as exc:
            # 404: never written (no body), or latest version deleted/destroyed (body with
            # metadata). The version number matters: it is the next check-and-set value.
            meta = as_dict(as_dict(as_dict(exc.json).get("data")).get("metadata"))
            return {}, int(meta.get("version") or 0)
        body = as_dict(as_dict(resp).get("data"))
        meta = as_dict(body.get("metadata"))
        data = body.get("data")
        version = int(meta.get("version") or 0)
        if data is None:
            return {}, version
        if not isinstance(data, dict):
            raise VaultBackendError(
                f"the secret at {api} is not a KV v2 map of fields",
                fix=f"check that {self.mount}/ is a KV version 2 mount",
            )
        return string_fields(data, api), version

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
                resp = self._http.call(
                    functools.partial(self._http.adapter.post, url, json=payload),
                    api_path=api,
                    needs=("create", "update") if version == 0 else ("update",),
                )
            except CasMismatch:
                # Someone else wrote between our read and our write. Back off with jitter
                # so two writers in lock-step do not collide forever.
                delay = min(0.005 * 2**attempt, 0.25) * (0.5 + random.random())  # noqa: S311
                self._sleep(delay)
                continue
            written = int(as_dict(as_dict(resp).get("data")).get("version") or version + 1)
            self._note_recovery()
            self._remember(logical, new, written)
            return written
        raise VaultConflictError(
            f"could not update {api}: {self.cas_attempts} check-and-set attempts lost to "
            "concurrent writers",
            why="other wassette instances kept changing the same component at the same moment",
            fix="retry the command; raise [vault] cas_attempts if this happens under normal load",
        )
