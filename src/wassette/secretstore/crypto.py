"""Value encryption at rest, SOPS-style: each value on its own, keys left readable.

An encrypted value is the text ``ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:str]``
(the token format of getsops/sops). The cipher is AES-256-GCM with a fresh 96-bit nonce per
value, and the *authenticated data* binds the ciphertext to where it belongs::

    wassette:v1:<component id>:<key name>

so a value copied to another key or another component does not decrypt: GCM's tag check fails
and we say so. History entries use ``<key name>@history`` as the name, so an old value cannot be
pasted back into the live file either.

``cryptography`` is imported on first use only: reading a plaintext file never loads it. The
keys themselves come from :mod:`wassette.secretstore.keys`; this module only ever sees bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from typing import Any

from wassette.errors import SecretsDecryptError

PREFIX = "ENC[AES256_GCM,"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

_TOKEN = re.compile(
    r"ENC\[AES256_GCM,data:([A-Za-z0-9+/]*={0,2}),iv:([A-Za-z0-9+/]+={0,2}),"
    r"tag:([A-Za-z0-9+/]+={0,2}),type:str\]"
)


def _cipher_class() -> Any:
    # Imported here, not at module level: plaintext reads never load `cryptography`.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM


def is_token(value: str) -> bool:
    """Whether ``value`` is a well-formed ``ENC[AES256_GCM,...]`` token.

    Only a complete token counts: a plaintext secret that merely starts with ``ENC[`` stays
    plaintext (values round-trip exactly); a *complete* token given as a plaintext value is
    encrypted on write, so it can never be mistaken for ciphertext.
    """
    return value.startswith(PREFIX) and _TOKEN.fullmatch(value) is not None


def aad(component_id: str, name: str) -> bytes:
    """The authenticated data binding a ciphertext to its component and key."""
    return f"wassette:v1:{component_id}:{name}".encode()


def encrypt(key: bytes, component_id: str, name: str, plaintext: str) -> str:
    """Encrypt one value for ``component_id``/``name`` into an ``ENC[...]`` token."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher_class()(key).encrypt(nonce, plaintext.encode("utf-8"), aad(component_id, name))
    data, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    b64 = base64.b64encode
    return (
        f"ENC[AES256_GCM,data:{b64(data).decode()},iv:{b64(nonce).decode()},"
        f"tag:{b64(tag).decode()},type:str]"
    )


class TokenError(Exception):
    """Internal: why one token failed (``malformed`` or ``auth``); callers add the context."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def decrypt_with(keys: Sequence[bytes], component_id: str, name: str, token: str) -> str:
    """Decrypt ``token`` with the first of ``keys`` that authenticates it.

    Raises :class:`TokenError` (``malformed`` or ``auth``); never includes the token or any
    plaintext in what it raises.
    """
    cipher_class = _cipher_class()
    return _open([cipher_class(k) for k in keys], component_id, name, token)


def _open(ciphers: Sequence[Any], component_id: str, name: str, token: str) -> str:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise TokenError("malformed")
    groups = match.groups()
    try:
        data, nonce, tag = (binascii.a2b_base64(g, strict_mode=True) for g in groups)
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    # Canonical base64 only: otherwise a changed character in the unused low bits of the last
    # group would decode to the same bytes, and an edit to the file would go unnoticed.
    b2a = binascii.b2a_base64
    if (
        b2a(data, newline=False).decode() != groups[0]
        or b2a(nonce, newline=False).decode() != groups[1]
        or b2a(tag, newline=False).decode() != groups[2]
    ):
        raise TokenError("malformed")
    if len(nonce) != NONCE_BYTES or len(tag) != TAG_BYTES:
        raise TokenError("malformed")
    from cryptography.exceptions import InvalidTag

    associated = aad(component_id, name)
    for cipher in ciphers:
        try:
            raw = cipher.decrypt(nonce, data + tag, associated)
        except InvalidTag:
            continue
        try:
            return str(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise TokenError("malformed") from None
    raise TokenError("auth")


def decrypt_values(
    keys: Sequence[bytes], component_id: str, values: dict[str, str], where: str
) -> dict[str, str]:
    """Decrypt every ``ENC[...]`` value of a mapping (plaintext values pass through).

    Fails closed: one value that does not decrypt fails the whole read, with a message that
    tells a wrong key (no value decrypts) from a tampered or moved value (others do).
    """
    out: dict[str, str] = {}
    failed: list[str] = []
    malformed: list[str] = []
    encrypted = 0
    # In a file that holds real tokens, a value that starts like one but is not well formed is
    # a damaged token (fail closed); in a plaintext file it is just a value that looks odd.
    file_is_encrypted = any(is_token(v) for v in values.values())
    cipher_class = _cipher_class()
    ciphers = [cipher_class(k) for k in keys]  # one cipher object per key, not per value
    for name, value in values.items():
        if not value.startswith(PREFIX) or not (file_is_encrypted or is_token(value)):
            out[name] = value
            continue
        encrypted += 1
        try:
            out[name] = _open(ciphers, component_id, name, value)
        except TokenError as exc:
            (malformed if exc.kind == "malformed" else failed).append(name)
    if malformed:
        raise SecretsDecryptError(
            f"cannot decrypt {', '.join(malformed)} in {where}",
            why="the value is not a well-formed ENC[AES256_GCM,data:...,iv:...,tag:...] token "
            "(it was edited or truncated)",
            fix="restore the value with `wassette secret rollback` or set it again",
        )
    if failed:
        if (len(failed) == encrypted and encrypted > 1) or not keys:
            why = (
                f"none of its {encrypted} encrypted values authenticates with the active key: "
                "it was encrypted with a different key"
            )
            fix = (
                "make the right key available (WASSETTE_SECRETS_KEY, "
                "WASSETTE_SECRETS_PASSPHRASE, keyring or key file); "
                "`wassette secret key status` shows which one is in use"
            )
        else:
            why = (
                "the authentication tag does not match: wrong key, a modified value, or a "
                "value copied from another key or component"
            )
            fix = (
                "set the value again, or restore it with `wassette secret rollback`; "
                "`wassette secret key status` shows which key is in use"
            )
        raise SecretsDecryptError(
            f"cannot decrypt {', '.join(failed)} in {where}", why=why, fix=fix
        )
    return out


def derive_subkey(key: bytes, purpose: str) -> bytes:
    """An independent key for ``purpose`` (HMAC-SHA256 as a PRF), e.g. fingerprints."""
    return hmac.new(key, f"wassette:{purpose}".encode(), hashlib.sha256).digest()


def fingerprint(fp_key: bytes, component_id: str, name: str, value: str) -> str:
    """A keyed fingerprint of a value (HMAC-SHA256, 16 hex digits): comparable, not reversible.

    Keyed, because a plain hash of a short or guessable secret can be brute-forced offline.
    """
    msg = f"{component_id}\x00{name}\x00{value}".encode()
    return hmac.new(fp_key, msg, hashlib.sha256).hexdigest()[:16]


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)
