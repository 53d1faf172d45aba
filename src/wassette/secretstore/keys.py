"""Custody of the secrets encryption key: where the 256-bit key comes from.

The first source that works wins:

1. ``WASSETTE_SECRETS_KEY``: the key itself, base64 (32 bytes);
2. ``WASSETTE_SECRETS_PASSPHRASE``: scrypt(passphrase, salt), derived once per process; the salt
   is random, not secret, and kept beside the secrets (``<secrets_dir>/.key-salt``) so a copied
   secrets directory plus the passphrase is enough to read it elsewhere;
3. a key file that already exists (``<config dir>/secrets.key``, 0600): once a key was
   created there it stays the custody, so a keyring appearing later never orphans it (and we
   skip the keyring probe, which costs ~0.2 s);
4. the OS keyring through ``keyring``, only if it offers a *real* backend (not the ``fail``
   backend, not a plaintext file backend);
5. otherwise a new key file, created 0600 on first need, never inside the secrets directory.

The environment is passed in (``environ``); this module never reads ``os.environ``.

Rotation (``wassette secret key rotate``) is crash-safe because a *pending* key is stored
beside the active one (``secrets.key.next`` or the keyring entry ``secrets-key-next``) before
any file is re-encrypted, and every reader tries both keys. Only when every file carries the
new key does the pending key replace the active one. Keys given in the environment are not
rotated by us (we cannot change your environment): see :meth:`KeyCustody.begin_rotation`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wassette import fsutil
from wassette.errors import SecretsKeyError
from wassette.statcache import StatCache, file_stamp

ENV_KEY = "WASSETTE_SECRETS_KEY"
ENV_PASSPHRASE = "WASSETTE_SECRETS_PASSPHRASE"  # noqa: S105 - a variable name
KEY_FILE_NAME = "secrets.key"
SALT_FILE_NAME = ".key-salt"
KEYRING_SERVICE = "wassette"
KEYRING_USER = "secrets-key"
KEYRING_PENDING = "secrets-key-next"

# scrypt cost: ~64 MiB and ~0.1 s, paid once per process.
KEY_BYTES = 32  # crypto.KEY_BYTES (crypto is imported only when a key is used)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 1
_derived: dict[tuple[bytes, bytes], bytes] = {}


class KeySet:
    """The keys in force: ``encrypt_key`` for new ciphertexts, ``decrypt_keys`` to try."""

    __slots__ = ("custody", "decrypt_keys", "encrypt_key")

    def __init__(self, encrypt_key: bytes, decrypt_keys: tuple[bytes, ...], custody: str) -> None:
        self.encrypt_key = encrypt_key
        self.decrypt_keys = decrypt_keys
        self.custody = custody

    def __repr__(self) -> str:  # never the key bytes
        return f"KeySet(custody={self.custody!r}, keys={len(self.decrypt_keys)})"

    @property
    def fingerprint_key(self) -> bytes:
        """The HMAC key of value fingerprints (derived from the active key)."""
        from wassette.secretstore import crypto

        return crypto.derive_subkey(self.decrypt_keys[0], "fingerprint")


def _decode_key(text: str, source: str) -> bytes:
    import base64  # only when a key is read: a plaintext secrets file never needs it
    import binascii

    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretsKeyError(
            f"{source} is not valid base64", fix="generate a key with: openssl rand -base64 32"
        ) from None
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(
            f"{source} decodes to {len(key)} bytes, not {KEY_BYTES}",
            fix="generate a key with: openssl rand -base64 32",
        )
    return key


def _encode_key(key: bytes) -> str:
    import base64

    return base64.b64encode(key).decode("ascii")


def _real_keyring() -> Any:
    """The keyring backend if a real one exists (not fail/null/plaintext), else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring configuration means "no keyring"
        return None
    candidates = list(getattr(backend, "backends", [backend]))

    def real(b: Any) -> bool:
        name = f"{type(b).__module__}.{type(b).__name__}".lower()
        return not (
            isinstance(b, fail.Keyring)
            or "plaintext" in name
            or name.startswith("keyring.backends.null")
            or "chainer" in name
        )

    return backend if any(real(b) for b in candidates) else None


class KeyCustody:
    """Finds, creates and rotates the encryption key. One instance per process is typical."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        config_dir: Path,
        secrets_dir: Path,
        use_keyring: bool = True,
    ) -> None:
        self._env_key = environ.get(ENV_KEY) or None
        self._passphrase = environ.get(ENV_PASSPHRASE) or None
        self.config_dir = Path(config_dir)
        self.secrets_dir = Path(secrets_dir)
        self.key_file = self.config_dir / KEY_FILE_NAME
        self.pending_file = self.config_dir / f"{KEY_FILE_NAME}.next"
        self._use_keyring = use_keyring
        self._keyring: Any = None
        self._keyring_probed = False
        self._cached: StatCache[str, KeySet] = StatCache()  # one entry: the key set

    # --------------------------------------------------------------------------- selection

    def _keyring_backend(self) -> Any:
        if not self._keyring_probed:
            self._keyring_probed = True
            self._keyring = _real_keyring() if self._use_keyring else None
        return self._keyring

    def kind(self) -> str:
        """Which custody is (or would be) used: env-key, env-passphrase, key-file, keyring."""
        if self._env_key:
            return "env-key"
        if self._passphrase:
            return "env-passphrase"
        if self.key_file.exists():
            return "key-file"
        if self._keyring_backend() is not None:
            return "keyring"
        return "key-file"

    def status(self) -> dict[str, object]:
        """Which custody is active and where; never the key. Creates nothing."""
        kind = self.kind()
        out: dict[str, object] = {"custody": kind}
        if kind == "env-key":
            out["source"] = f"environment variable {ENV_KEY}"
        elif kind == "env-passphrase":
            out["source"] = f"environment variable {ENV_PASSPHRASE} (scrypt)"
            out["salt_file"] = str(self.secrets_dir / SALT_FILE_NAME)
        elif kind == "keyring":
            backend = self._keyring_backend()
            out["source"] = f"OS keyring ({type(backend).__name__}), service {KEYRING_SERVICE!r}"
            out["key_exists"] = self._keyring_get(KEYRING_USER) is not None
        else:
            out["source"] = f"key file {self.key_file}"
            out["key_exists"] = self.key_file.exists()
        out["rotation_pending"] = self._pending() is not None
        return out

    # ------------------------------------------------------------------------------- keys

    def keys(self, *, create: bool = True, refresh: bool = False) -> KeySet:
        """The key set in force; creates a key file/keyring entry on first need if ``create``.

        ``refresh`` re-reads stored keys (writers do, so a rotation by another process is seen).
        """
        hit = None if refresh else self._cached.get("keys", self._stamp())
        if hit is not None:
            return hit
        kind = self.kind()
        if kind == "env-key":
            assert self._env_key is not None
            key = _decode_key(self._env_key, f"environment variable {ENV_KEY}")
            result = KeySet(key, (key,), kind)
        elif kind == "env-passphrase":
            assert self._passphrase is not None
            key = self._derive(self._passphrase, create)
            result = KeySet(key, (key,), kind)
        else:
            active = self._load_active(kind, create)
            pending = self._pending()
            if pending is not None and pending != active:
                # Mid-rotation: new ciphertexts use the new key; both keys decrypt.
                result = KeySet(pending, (active, pending), kind)
            else:
                result = KeySet(active, (active,), kind)
        # Stamped after reading: a key file this call created is part of what it read.
        return self._cached.put("keys", self._stamp(), result)

    def _stamp(self) -> object:
        if self._env_key or self._passphrase:
            return "env"
        return (file_stamp(self.key_file), file_stamp(self.pending_file))

    def _derive(self, passphrase: str, create: bool) -> bytes:
        salt_path = self.secrets_dir / SALT_FILE_NAME
        try:
            salt = salt_path.read_bytes()
        except FileNotFoundError:
            if not create:
                raise SecretsKeyError(
                    f"no passphrase salt in {salt_path}",
                    why="nothing was encrypted with a passphrase here yet",
                    fix="encrypt something first (`wassette secret encrypt <id>`)",
                ) from None
            from wassette.fsutil import make_private_dirs

            make_private_dirs(self.secrets_dir)
            salt = os.urandom(16)
            with contextlib.suppress(FileExistsError):
                fd = os.open(salt_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(salt)
                    os.fsync(fh.fileno())
                fsutil.fsync_dir(self.secrets_dir)
            salt = salt_path.read_bytes()  # whoever created it first wins
        if len(salt) < 16:
            raise SecretsKeyError(
                f"passphrase salt {salt_path} is damaged",
                fix="restore it from a backup; without it the passphrase cannot derive the key",
            )
        import hashlib

        cache_key = (hashlib.sha256(passphrase.encode()).digest(), salt)
        key = _derived.get(cache_key)
        if key is None:
            key = hashlib.scrypt(
                passphrase.encode("utf-8"),
                salt=salt,
                n=SCRYPT_N,
                r=SCRYPT_R,
                p=SCRYPT_P,
                maxmem=2**27,
                dklen=KEY_BYTES,
            )
            _derived[cache_key] = key
        return key

    def _check_location(self) -> None:
        secrets = self.secrets_dir.absolute()
        if self.key_file.absolute().is_relative_to(secrets):
            raise SecretsKeyError(
                f"refusing to keep the encryption key in {self.key_file}",
                why="it is inside the secrets directory, next to what it protects",
                fix="move secrets_dir out of the config directory, or use "
                f"{ENV_KEY} / {ENV_PASSPHRASE}",
            )

    def _load_active(self, kind: str, create: bool) -> bytes:
        if kind == "keyring":
            text = self._keyring_get(KEYRING_USER)
            if text is None:
                if not create:
                    raise self._no_key()
                self._keyring_set(KEYRING_USER, _encode_key(os.urandom(KEY_BYTES)))
                text = self._keyring_get(KEYRING_USER)
                assert text is not None
            return _decode_key(text, f"the keyring entry {KEYRING_SERVICE}/{KEYRING_USER}")
        self._check_location()
        try:
            return self._read_key_file(self.key_file)
        except FileNotFoundError:
            if not create:
                raise self._no_key() from None
        self._create_key_file()
        return self._read_key_file(self.key_file)

    def _no_key(self) -> SecretsKeyError:
        return SecretsKeyError(
            "no secrets encryption key exists yet",
            why=f"custody is {self.kind()} and it holds no key",
            fix="encrypt something (`wassette secret encrypt <id>`) to create one, or set "
            f"{ENV_KEY}",
        )

    def _read_key_file(self, path: Path) -> bytes:
        try:
            st = os.stat(path)
            text = path.read_text("ascii")
        except UnicodeDecodeError:
            raise SecretsKeyError(f"key file {path} is damaged", fix="restore it") from None
        except PermissionError:
            raise SecretsKeyError(
                f"cannot read key file {path}", why="permission denied", fix=f"chmod 600 {path}"
            ) from None
        from wassette.secretstore.guards import check_owner

        # A key planted by another user is a key that user knows.
        check_owner(path, st, what="the encryption key", error=SecretsKeyError)
        if st.st_mode & 0o077:
            import logging  # imported when something is logged

            logging.getLogger(__name__).warning(
                "key file %s is accessible by group or others (mode %04o); fix it with: "
                "chmod 600 %s",
                path,
                stat.S_IMODE(st.st_mode),
                path,
            )
        return _decode_key(text, f"key file {path}")

    def _create_key_file(self) -> None:
        from wassette.fsutil import make_private_dirs

        make_private_dirs(self.config_dir)
        # O_EXCL: two processes creating the key at once must not end up with two keys.
        tmp = self.config_dir / f".{KEY_FILE_NAME}.{os.getpid()}.new"
        fsutil.write_atomic(tmp, (_encode_key(os.urandom(KEY_BYTES)) + "\n").encode())
        try:
            os.link(tmp, self.key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsutil.fsync_dir(self.config_dir)

    # ---------------------------------------------------------------------------- keyring

    def _keyring_get(self, user: str) -> str | None:
        backend = self._keyring_backend()
        try:
            value = backend.get_password(KEYRING_SERVICE, user)
        except Exception as exc:  # noqa: BLE001 - third-party backends raise anything
            raise SecretsKeyError(
                "cannot read the encryption key from the OS keyring",
                why=type(exc).__name__,
                fix=f"unlock the keyring, or set {ENV_KEY}",
            ) from None
        return value if isinstance(value, str) else None

    def _keyring_set(self, user: str, value: str) -> None:
        try:
            self._keyring_backend().set_password(KEYRING_SERVICE, user, value)
        except Exception as exc:  # noqa: BLE001 - third-party backends raise anything
            raise SecretsKeyError(
                "cannot store the encryption key in the OS keyring",
                why=type(exc).__name__,
                fix=f"unlock the keyring, or set {ENV_KEY}",
            ) from None

    def _keyring_delete(self, user: str) -> None:
        with contextlib.suppress(Exception):
            self._keyring_backend().delete_password(KEYRING_SERVICE, user)

    # ---------------------------------------------------------------------------- rotation

    def _pending(self) -> bytes | None:
        kind = self.kind()
        if kind in ("env-key", "env-passphrase"):
            return None
        if kind == "keyring":
            text = self._keyring_get(KEYRING_PENDING)
            return None if text is None else _decode_key(text, "the pending keyring entry")
        try:
            return self._read_key_file(self.pending_file)
        except FileNotFoundError:
            return None

    def rotatable(self) -> None:
        """Raise unless we hold the key ourselves (key file or keyring) and can replace it."""
        kind = self.kind()
        if kind in ("env-key", "env-passphrase"):
            var = ENV_KEY if kind == "env-key" else ENV_PASSPHRASE
            raise SecretsKeyError(
                "cannot rotate a key that comes from the environment",
                why=f"the key is supplied by {var}, which wassette cannot change",
                fix="run `wassette secret decrypt --all`, change the variable, then "
                "`wassette secret encrypt --all`",
            )

    def begin_rotation(self) -> bytes:
        """Store a pending key (or reuse one left by an interrupted rotation) and return it."""
        self.rotatable()
        self.keys(create=True)
        pending = self._pending()
        if pending is not None:
            return pending
        key = os.urandom(KEY_BYTES)
        if self.kind() == "keyring":
            self._keyring_set(KEYRING_PENDING, _encode_key(key))
        else:
            fsutil.write_atomic(self.pending_file, (_encode_key(key) + "\n").encode())
        self._cached.clear()
        return key

    def commit_rotation(self, new_key: bytes) -> None:
        """Make ``new_key`` the active key and forget the old one (every file carries it)."""
        encoded = _encode_key(new_key)
        if self.kind() == "keyring":
            self._keyring_set(KEYRING_USER, encoded)
            self._keyring_delete(KEYRING_PENDING)
        else:
            fsutil.write_atomic(self.key_file, (encoded + "\n").encode())
            with contextlib.suppress(FileNotFoundError):
                self.pending_file.unlink()
            fsutil.fsync_dir(self.config_dir)
        self._cached.clear()

    def rotation_lock(self, timeout: float = 60.0) -> contextlib.AbstractContextManager[None]:
        """Serialise rotations across processes."""
        from wassette.fsutil import make_private_dirs

        make_private_dirs(self.config_dir)
        return fsutil.file_lock(
            self.config_dir / f".{KEY_FILE_NAME}.lock",
            what="the secrets key",
            timeout=timeout,
            busy="another key rotation is running",
            error=SecretsKeyError,
        )
