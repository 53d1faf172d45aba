"""Sealing values as ``ENC[AES256_GCM,...]`` tokens: the one place that joins key and cipher.

Kept apart the way getsops/sops keeps them apart:

- the **format** of the file that holds the values (the secrets YAML in ``yamlfile.py``, the
  history JSON in ``history.py``, the Vault outage snapshots in ``backends/outage_cache.py``)
  knows nothing about keys or ciphers: it stores strings;
- the **key source** (``keys.KeyCustody``: env key, passphrase, keyring or key file) knows
  nothing about values: it hands out a :class:`~wassette.secretstore.keys.KeySet`;
- the **cipher** (``crypto.py``: AES-256-GCM and the token syntax) knows nothing about where
  keys come from.

A :class:`Sealer` binds a key source to a *scope* (the component id, or ``vault-cache:<path>``
for an outage snapshot) and seals or opens values by name; the scope and name are the
authenticated data, so a token moved to another key, component or path does not open.

Cheap checks (:func:`is_sealed`, :func:`has_sealed`, :func:`plaintext_among_sealed`) never
import ``cryptography``: a plaintext file is read without loading it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wassette.secretstore.keys import KeySet

# crypto.PREFIX, repeated so that reading a plaintext file never imports the crypto module.
PREFIX = "ENC[AES256_GCM,"


def is_sealed(value: str) -> bool:
    """Whether ``value`` is a complete, well-formed ``ENC[...]`` token."""
    if not value.startswith(PREFIX):
        return False
    from wassette.secretstore.crypto import is_token

    return is_token(value)


def has_sealed(values: Mapping[str, str]) -> bool:
    """Whether any of ``values`` is a token (the file is, at least partly, encrypted)."""
    return any(is_sealed(v) for v in values.values())


def plaintext_among_sealed(values: Mapping[str, str]) -> list[str]:
    """Keys whose value is plaintext in a mapping that otherwise holds tokens, sorted.

    Such a value was most likely pasted into an encrypted file by hand: it sits on disk in the
    clear although the operator believes the file is encrypted. ``secret encrypt`` seals it.
    """
    if not has_sealed(values):
        return []
    return sorted(k for k, v in values.items() if not is_sealed(v))


class Sealer:
    """Seal and open values of one scope with keys from one key source.

    ``keys`` is called at most once, on first use (custody may prompt or touch the keyring, so
    a plaintext-only operation never asks for a key).
    """

    def __init__(self, keys: Callable[[], KeySet], scope: str) -> None:
        self._key_source = keys
        self._keys: KeySet | None = None
        self.scope = scope

    @property
    def keys(self) -> KeySet:
        """The key set, fetched on first use."""
        if self._keys is None:
            self._keys = self._key_source()
        return self._keys

    def seal(self, name: str, plaintext: str) -> str:
        """``plaintext`` as a token bound to this scope and ``name``."""
        from wassette.secretstore import crypto

        return crypto.encrypt(self.keys.encrypt_key, self.scope, name, plaintext)

    def open(self, name: str, token: str) -> str:
        """The plaintext of ``token``; raises :class:`~wassette.secretstore.crypto.TokenError`
        (never with the token or any plaintext in it)."""
        from wassette.secretstore import crypto

        return crypto.decrypt_with(self.keys.decrypt_keys, self.scope, name, token)

    def open_values(self, values: Mapping[str, str], where: str) -> dict[str, str]:
        """Every token of ``values`` opened, plaintext passed through; fails closed with a
        :class:`~wassette.errors.SecretsDecryptError` naming keys and ``where``."""
        from wassette.secretstore import crypto

        return crypto.decrypt_values(self.keys.decrypt_keys, self.scope, dict(values), where)

    def open_one(self, name: str, stored: str, where: str) -> str:
        """One stored value: opened if it is a token, else returned as it is."""
        if not is_sealed(stored):
            return stored
        return self.open_values({name: stored}, where)[name]
