"""Per-component secrets: the store facade, its on-disk format and (later) other backends.

Named ``secretstore`` rather than ``secrets`` so it never shadows the standard library module.
"""

from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.store import SecretStore

__all__ = ["SecretBackend", "SecretStore"]
