"""The interface every secrets backend implements (the local YAML store, Vault/OpenBao, ...).

Semantics are the specification's, whatever the backend:

- every component has its own, isolated set of secrets; ids are validated by the caller of
  the backend *and* by the backend (defence in depth);
- ``set_many`` adds or updates keys and is durable when it returns;
- ``delete_many`` removes only the named keys, silently ignores missing ones, and keeps the
  (possibly now empty) container;
- a component with no secrets at all lists no keys and is not an error;
- values are strings, and round-trip exactly.

A shared contract test suite (``tests/secretstore/contract.py``) runs against every backend.

Beyond storage, a backend may offer optional abilities, each a small protocol with one meaning
per method name, reached through an accessor that returns None when the backend lacks it (so
nothing outside the factory ever needs to know *which* backend it holds):

- :class:`KeyVersions` (``versions()``): per-key history, rollback and purging old values;
- :class:`LocalEncryption` (``local_encryption()``): values sealed at rest with our key custody;
- :class:`PathReader` (``reference_reader()``): reads ``vault:<path>#<key>`` references.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wassette.secretstore.history import VersionInfo

#: ``fingerprint(key, value)``: a keyed, non-reversible fingerprint shown instead of a value
Fingerprint = Callable[[str, str], str]


class KeyVersions(Protocol):
    """Per-key versions of a component's secrets."""

    def key_history(
        self, component_id: str, key: str | None, fingerprint: Fingerprint
    ) -> dict[str, list[VersionInfo]]:
        """Versions per key (oldest first), fingerprints instead of values; one key or all."""

    def rollback_key(self, component_id: str, key: str, version: int | None = None) -> int:
        """Restore ``key`` to ``version`` (default: the newest value differing from now)."""

    def purge_key_history(self, component_id: str, keys: Sequence[str] | None) -> list[str]:
        """Destroy every earlier value of ``keys`` (None: of every key); the current values
        stay. Returns the keys whose history held something that is now gone."""


class LocalEncryption(Protocol):
    """Values sealed at rest with wassette's own key custody (the local YAML store)."""

    encrypt_new: bool

    def all_component_ids(self) -> list[str]:
        """Every component with secrets or history on disk, sorted."""

    def is_encrypted(self, component_id: str) -> bool:
        """Whether any stored value of the component is sealed."""

    def plaintext_keys(self, component_id: str) -> list[str]:
        """Keys stored in the clear in a file that otherwise holds sealed values."""

    def encrypt(self, component_id: str) -> int:
        """Seal every plaintext value (file and history); return how many."""

    def decrypt(self, component_id: str) -> int:
        """Open every sealed value back to plaintext; return how many."""

    def reencrypt(self, component_id: str) -> int:
        """Re-seal every sealed value with the current key (rotation); return how many."""


class PathReader(Protocol):
    """Reads any path of a secrets tree (``vault:<path>#<key>`` references)."""

    mount: str

    def read_path(self, logical: str) -> Mapping[str, str]:
        """All fields at ``logical`` (empty if there is none)."""


class SecretBackend(ABC):
    """Storage of string secrets, one isolated namespace per component id."""

    #: short name shown to users, e.g. "file" or "vault"
    name: str = "abstract"

    @abstractmethod
    def get_all(self, component_id: str) -> Mapping[str, str]:
        """All secrets of ``component_id`` (empty if it has none). Must be cheap when cached."""

    def get(self, component_id: str, key: str) -> str | None:
        """One secret's value, or None."""
        return self.get_all(component_id).get(key)

    def list_keys(self, component_id: str) -> list[str]:
        """The component's secret keys, sorted."""
        return sorted(self.get_all(component_id))

    @abstractmethod
    def set_many(self, component_id: str, items: Mapping[str, str]) -> None:
        """Add or update ``items``; durable on return; never loses a concurrent update."""

    @abstractmethod
    def delete_many(self, component_id: str, keys: Iterable[str]) -> list[str]:
        """Remove ``keys`` (missing ones ignored); return the keys that were actually removed."""

    @abstractmethod
    def location(self, component_id: str) -> str:
        """Where this component's secrets live, for messages (a path or a URL; never values)."""

    def apply_changes(
        self,
        component_id: str,
        changes: Mapping[str, str | None],
        *,
        op: str = "set",
        replace: bool = False,
    ) -> list[str]:
        """Set (value) or delete (None) keys; ``replace`` deletes every other key too.

        Returns the keys changed. ``op`` names the operation where the backend records one.
        Backends that can do it in one atomic write override this.
        """
        current = self.get_all(component_id)
        sets = {k: v for k, v in changes.items() if v is not None and current.get(k) != v}
        drops = [k for k, v in changes.items() if v is None]
        if replace:
            drops += [k for k in current if k not in changes]
        if sets:
            self.set_many(component_id, sets)
        removed = self.delete_many(component_id, drops) if drops else []
        return sorted({*sets, *removed})

    def versions(self) -> KeyVersions | None:
        """Per-key history and rollback, if this backend keeps versions."""
        return None

    def local_encryption(self) -> LocalEncryption | None:
        """Encryption at rest with wassette's key custody, if this backend does it."""
        return None

    def reference_reader(self) -> PathReader | None:
        """The reader for ``vault:`` references, if this backend is a Vault."""
        return None
