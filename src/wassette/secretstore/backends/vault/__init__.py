"""Secrets in HashiCorp Vault or OpenBao, KV version 2 (this package alone imports ``hvac``).

``from wassette.secretstore.backends.vault import VaultBackend`` is the public entry point;
see :mod:`.backend` for the semantics.
"""

from wassette.secretstore.backends.vault.auth import (
    AppRoleAuth,
    TokenAuth,
    TokenFileAuth,
    VaultAuth,
)
from wassette.secretstore.backends.vault.backend import VaultBackend
from wassette.secretstore.backends.vault.config import CONFIG_KEYS, validate_vault_path
from wassette.secretstore.backends.vault.versions import SecretVersion

__all__ = [
    "CONFIG_KEYS",
    "AppRoleAuth",
    "SecretVersion",
    "TokenAuth",
    "TokenFileAuth",
    "VaultAuth",
    "VaultBackend",
    "validate_vault_path",
]
