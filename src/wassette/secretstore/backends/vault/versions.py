"""KV v2 versions: per-key history, rollback and purge, read from the versions Vault keeps.

Vault keeps every version of a component's secret (the whole field map per version), so the
history of one key is derived: the versions in which that key's value changed. Vault records
no actor per version (its audit device does), so ``actor`` is always empty here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import hvac.exceptions

from wassette.errors import NotFoundError
from wassette.ids import validate_secret_key
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.backends.vault.client import VaultClient, as_dict, string_fields

if TYPE_CHECKING:
    from wassette.secretstore.history import VersionInfo


@dataclass(frozen=True)
class SecretVersion:
    """One KV v2 version of a component's secrets (metadata only: no keys, no values)."""

    version: int
    created_time: str
    deletion_time: str | None
    destroyed: bool
    current: bool


class KvVersions(SecretBackend):
    """The version operations of the Vault backend (mixed into it; not usable alone)."""

    # Provided by the backend class this is mixed into.
    mount: str
    _http: VaultClient

    def logical_path(self, component_id: str) -> str:
        """The KV path (inside the mount) holding ``component_id``'s secrets."""
        raise NotImplementedError

    def api_path(self, logical: str, kind: str = "data") -> str:
        """``<mount>/<kind>/<logical>``: the path policies are written against."""
        raise NotImplementedError

    def _modify(
        self, logical: str, mutate: Callable[[dict[str, str]], dict[str, str] | None]
    ) -> int:
        raise NotImplementedError

    def secret_versions(self, component_id: str) -> list[SecretVersion]:
        """KV v2 versions of the component's secret, oldest first (metadata only)."""
        logical = self.logical_path(component_id)
        api = self.api_path(logical, "metadata")
        try:
            resp = self._http.call(
                lambda: self._http.adapter.get(f"/v1/{self.mount}/metadata/{quote(logical)}"),
                api_path=api,
                needs=("read",),
            )
        except hvac.exceptions.InvalidPath:
            return []
        meta = as_dict(as_dict(resp).get("data"))
        current = meta.get("current_version")
        out = []
        versions = as_dict(meta.get("versions"))
        for num in sorted(versions, key=int):
            info = as_dict(versions[num])
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
            resp = self._http.call(
                lambda: self._http.adapter.get(url, params={"version": int(version)}),
                api_path=api,
                needs=("read",),
            )
        except hvac.exceptions.InvalidPath:
            resp = None
        target = as_dict(as_dict(resp).get("data")).get("data") if resp is not None else None
        return string_fields(target, api) if isinstance(target, dict) else None

    def _live_version(self, component_id: str, version: int, *, fix: str) -> dict[str, str]:
        """:meth:`read_version`, with a missing, deleted or destroyed version an error."""
        data = self.read_version(component_id, version)
        if data is None:
            raise NotFoundError(
                f"version {version} of the secrets of {component_id} is not available",
                why="it does not exist, or it was deleted or destroyed",
                fix=fix,
            )
        return data

    def restore_version(self, component_id: str, version: int) -> int:
        """Make ``version``'s content current again, as a new version; return its number."""
        logical = self.logical_path(component_id)
        restored = self._live_version(
            component_id,
            version,
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
        data = self._live_version(
            component_id, version, fix=f"see `wassette secret history {component_id} {key}`"
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
            self._http.call(
                functools.partial(
                    self._http.adapter.post,
                    f"/v1/{self.mount}/destroy/{quote(logical)}",
                    json={"versions": doomed},
                ),
                api_path=api,
                needs=("update",),
            )
        return sorted(purged)
