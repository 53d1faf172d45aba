"""Per-component secrets: the store facade, its on-disk format and other backends.

Named ``secretstore`` rather than ``secrets`` so it never shadows the standard library module.

The package exports are resolved on first use (PEP 562): importing a light submodule such as
``wassette.secretstore.references`` (the settings need it) must not load the file store and
its YAML parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wassette.secretstore.backend import SecretBackend
    from wassette.secretstore.store import SecretStore

__all__ = ["SecretBackend", "SecretStore"]


def __getattr__(name: str) -> Any:
    if name == "SecretBackend":
        from wassette.secretstore.backend import SecretBackend

        return SecretBackend
    if name == "SecretStore":
        from wassette.secretstore.store import SecretStore

        return SecretStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
