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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping


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
