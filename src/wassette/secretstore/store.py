"""The local secrets store: one YAML file per component under the secrets directory.

Reads are lock-free (writers replace files atomically, so a reader always sees a whole file) and
cached in memory; the cache entry is trusted only while the file's identity is unchanged, so a
``wassette secret set`` from another process is seen by the very next lookup, with no restart.

Writes (``set_many``/``delete_many``) take a per-component lock file, re-read the current file
under the lock, apply the change and replace the file atomically: concurrent writers from any
number of processes never lose each other's updates.

Encryption at rest (:mod:`~wassette.secretstore.crypto`) is transparent: values that are
``ENC[AES256_GCM,...]`` tokens are decrypted once per file change and the cache holds the
plaintext, so a cached lookup costs the same whether the file is encrypted or not. A write
encrypts the values it writes when the file already holds encrypted values, or when
``encrypt_new`` is on. Every change also records the previous value in the component's history
(:mod:`~wassette.secretstore.history`) under the same lock, written before the secrets file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from wassette import fsutil
from wassette.errors import SecretsDecryptError, SecretsKeyError, StorageError, UsageError
from wassette.fsutil import make_private_dirs
from wassette.ids import validate_component_id, validate_secret_key
from wassette.secretstore import yamlfile
from wassette.secretstore.backend import SecretBackend

if TYPE_CHECKING:
    from wassette.secretstore.history import History, VersionInfo
    from wassette.secretstore.keys import KeyCustody, KeySet

log = logging.getLogger(__name__)

SUFFIX = ".secrets.yaml"
DIR_MODE = 0o700  # also fsutil.PRIVATE_DIR_MODE
LOCK_TIMEOUT_SECONDS = 30.0

_EMPTY: Mapping[str, str] = MappingProxyType({})

# crypto.PREFIX, repeated here so that reading a plaintext file never imports the crypto module.
_ENC_PREFIX = "ENC[AES256_GCM,"

# (mtime_ns, ctime_ns, size, inode, device): a writer's atomic rename always yields a new inode,
# and an in-place edit changes mtime/ctime, so an unchanged stamp means unchanged content.
_Stamp = tuple[int, int, int, int, int]


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


def validate_secret_value(key: str, value: str) -> str:
    """Values become environment variable values: text, without NUL. Never echoes the value."""
    if "\x00" in value:
        raise UsageError(
            f"the value for {key} contains a NUL character",
            why="environment variable values cannot contain NUL",
            fix="remove the NUL character from the value",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"the value for {key} is not valid text",
            why="it contains bytes that are not valid UTF-8",
            fix="pass the value as UTF-8 text",
        ) from None
    return value


def default_actor() -> str:
    """``user@host`` of this process (from the OS user database, not the environment)."""
    import socket

    try:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        user = str(os.getpid())
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class SecretStore(SecretBackend):
    """Per-component secrets in ``<secrets_dir>/<component-id>.secrets.yaml``."""

    name = "file"

    def __init__(
        self,
        secrets_dir: Path,
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        custody: KeyCustody | None = None,
        encrypt_new: bool = False,
        history_limit: int = 10,
        actor: str | None = None,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.secrets_dir = Path(secrets_dir)
        self.lock_timeout = lock_timeout
        self.custody = custody
        self.encrypt_new = encrypt_new
        self.history_limit = history_limit
        self._actor = actor
        self._clock = clock
        self._cache: dict[str, tuple[_Stamp, Mapping[str, str]]] = {}
        self._paths: dict[str, str] = {}  # component id -> validated file path (hot path)
        self._warned: set[Path] = set()
        self._warn_lock = threading.Lock()

    # ----------------------------------------------------------------- paths and permissions

    def path_for(self, component_id: str) -> Path:
        """The secrets file of ``component_id`` (validated: it can never escape the dir)."""
        return self.secrets_dir / f"{validate_component_id(component_id)}{SUFFIX}"

    def location(self, component_id: str) -> str:
        """Where this component's secrets live."""
        return str(self.path_for(component_id))

    def _warn_mode(self, path: Path, st: os.stat_result, wanted: int) -> None:
        if not st.st_mode & 0o077:
            return
        with self._warn_lock:
            if path in self._warned:
                return
            self._warned.add(path)
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
        log.warning(
            "secrets %s %s is accessible by group or others (mode %04o); fix it with: chmod %o %s",
            kind,
            path,
            stat.S_IMODE(st.st_mode),
            wanted,
            path,
        )

    def _check_dir(self) -> None:
        try:
            st = os.stat(self.secrets_dir)
        except FileNotFoundError:
            return
        self._warn_mode(self.secrets_dir, st, DIR_MODE)

    def ensure_dir(self) -> None:
        """Create the secrets directory (0700, whatever the umask) if it does not exist."""
        if self.secrets_dir.is_dir():
            self._check_dir()
            return
        try:
            make_private_dirs(self.secrets_dir)
        except OSError as exc:
            raise StorageError(
                f"cannot create the secrets directory {self.secrets_dir}",
                why=exc.strerror or type(exc).__name__,
                fix="check permissions of its parent, or set secrets_dir / "
                "WASSETTE_SECRETS_DIR to a writable location",
            ) from None

    # ------------------------------------------------------------------------------- reads

    def get_all(self, component_id: str) -> Mapping[str, str]:
        """All secrets of a component, read-only; one ``stat`` when the cache is valid."""
        path_str = self._paths.get(component_id)
        if path_str is None:
            path_str = self._paths[component_id] = str(self.path_for(component_id))
        try:
            st = os.stat(path_str)
        except FileNotFoundError:
            self._cache.pop(component_id, None)
            return _EMPTY
        except NotADirectoryError:
            return _EMPTY
        stamp = _stamp(st)
        cached = self._cache.get(component_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        path = Path(path_str)
        self._check_dir()
        self._warn_mode(path, st, yamlfile.FILE_MODE)
        doc = yamlfile.read_document(path)
        raw = {} if doc is None else doc.as_dict()
        if any(v.startswith(_ENC_PREFIX) for v in raw.values()) and _has_token(raw):
            raw = self._decrypt(component_id, raw, str(path))
        values: Mapping[str, str] = MappingProxyType(raw) if raw else _EMPTY
        self._cache[component_id] = (stamp, values)
        return values

    # ------------------------------------------------------------------------- encryption

    def _keys(self, *, create: bool, refresh: bool = False) -> KeySet:
        if self.custody is None:
            raise SecretsKeyError(
                "encryption needs a key, but this store was opened without key custody",
                fix="open the store with a KeyCustody (the CLI and server do)",
            )
        return self.custody.keys(create=create, refresh=refresh)

    def _decrypt(self, component_id: str, raw: dict[str, str], where: str) -> dict[str, str]:
        from wassette.secretstore import crypto

        keys = self._keys(create=False)
        try:
            return crypto.decrypt_values(keys.decrypt_keys, component_id, raw, where)
        except SecretsDecryptError:
            # Another process may have rotated the key since we loaded it: look again, once.
            keys = self._keys(create=False, refresh=True)
            return crypto.decrypt_values(keys.decrypt_keys, component_id, raw, where)

    def is_encrypted(self, component_id: str) -> bool:
        """Whether any value in the component's file is encrypted."""
        doc = yamlfile.read_document(self.path_for(component_id))
        return doc is not None and _has_token(doc.as_dict())

    def get(self, component_id: str, key: str) -> str | None:
        """One secret, or None: a dict lookup after one ``stat``."""
        return self.get_all(component_id).get(key)

    def exists(self, component_id: str) -> bool:
        """Whether the component has a secrets file (possibly empty)."""
        return self.path_for(component_id).is_file()

    def component_ids(self) -> list[str]:
        """Ids of every component that has a secrets file, sorted."""
        if not self.secrets_dir.is_dir():
            return []
        ids = []
        for entry in self.secrets_dir.iterdir():
            name = entry.name
            if name.endswith(SUFFIX) and not name.startswith("."):
                ids.append(name[: -len(SUFFIX)])
        return sorted(ids)

    # ------------------------------------------------------------------------------ writes

    def set_many(self, component_id: str, items: Mapping[str, str]) -> None:
        """Add or update ``items``; on disk (fsynced) before this returns."""
        for key, value in items.items():
            validate_secret_key(key)
            validate_secret_value(key, value)
        self.path_for(component_id)
        self.ensure_dir()
        self.apply(component_id, dict(items), op="set")

    def delete_many(self, component_id: str, keys: Iterable[str]) -> list[str]:
        """Remove ``keys``; missing keys are ignored and the file is kept even if empty."""
        path = self.path_for(component_id)
        wanted = list(dict.fromkeys(keys))
        if not path.exists():
            return []
        return self.apply(component_id, dict.fromkeys(wanted), op="delete", create=False)

    def apply(  # noqa: PLR0912 - one lock, one read-modify-write, kept together
        self,
        component_id: str,
        changes: Mapping[str, str | None],
        *,
        op: str,
        create: bool = True,
        replace: bool = False,
        versions: Mapping[str, int] | None = None,
    ) -> list[str]:
        """Set (value) or delete (None) keys in one atomic write; return the keys changed.

        ``replace`` also deletes every key not in ``changes`` (import --replace). ``op`` names
        the operation in the history; ``versions`` the restored version per key (rollback).
        Values must already be validated.
        """
        path = self.path_for(component_id)
        with self._acquire(path):
            doc = yamlfile.read_document(path)
            if doc is None:
                if not create:
                    return []
                doc = yamlfile.SecretsDocument(path)
            raw = doc.as_dict()
            encrypted = _has_token(raw)
            current = self._decrypt(component_id, raw, str(path)) if encrypted else raw
            wanted: dict[str, str | None] = dict(changes)
            if replace:
                for key in current:
                    wanted.setdefault(key, None)
            # A value that is itself a complete token forces encryption of the whole write, so
            # that no plaintext value in the file can be mistaken for (or as) ciphertext.
            seal_new = (
                encrypted
                or self.encrypt_new
                or any(v is not None and _is_token(v) for v in wanted.values())
            )
            keyset = None
            changed: list[str] = []
            for key, value in wanted.items():
                if value is None:
                    if key in current and doc.delete(key):
                        changed.append(key)
                    continue
                if value != current.get(key):
                    changed.append(key)
                if seal_new:
                    # A plaintext value that merely looks like a token is encrypted too, so it
                    # can never be mistaken for one when read back.
                    from wassette.secretstore import crypto

                    keyset = keyset or self._keys(create=True, refresh=True)
                    doc.set(key, crypto.encrypt(keyset.encrypt_key, component_id, key, value))
                else:
                    doc.set(key, value)
            if op == "delete" and not changed:
                return []  # nothing to remove: leave the file byte-for-byte as it was
            if changed and self.history_limit > 0:
                hist = self._load_history(component_id)
                sealer = self._sealers(component_id, seal_new or hist_encrypted(hist))
                for key in changed:
                    hist.record(
                        key,
                        old=current.get(key),
                        new=wanted[key],
                        op=op,
                        time=self._clock(),
                        actor=self.actor,
                        limit=self.history_limit,
                        seal=sealer[0],
                        unseal=sealer[1],
                        to=(versions or {}).get(key),
                    )
                self._write_history(hist)
            self._write(path, doc)
        self._cache.pop(component_id, None)
        return changed

    @property
    def actor(self) -> str:
        """Who is making changes, for the history (``user@host``)."""
        if self._actor is None:
            self._actor = default_actor()
        return self._actor

    # ---------------------------------------------------------------------------- history

    def history_path(self, component_id: str) -> Path:
        """The component's history file."""
        from wassette.secretstore.history import history_path

        return history_path(self.secrets_dir, validate_component_id(component_id))

    def _load_history(self, component_id: str) -> History:
        from wassette.secretstore.history import History

        return History.load(self.history_path(component_id), component_id)

    def _write_history(self, hist: History) -> None:
        make_private_dirs(hist.path.parent)
        try:
            fsutil.write_atomic(hist.path, hist.dump())
        except OSError as exc:
            raise StorageError(
                f"cannot write history file {hist.path}",
                why=exc.strerror or type(exc).__name__,
                fix=f"check free space and permissions of {hist.path.parent}; "
                "the previous file is unchanged",
            ) from None

    def _sealers(
        self, component_id: str, encrypt: bool
    ) -> tuple[Callable[[str, int, str], str], Callable[[str, int, str], str]]:
        from wassette.secretstore import crypto
        from wassette.secretstore.history import sealed_name

        keyset: list[KeySet] = []

        def keys() -> KeySet:
            if not keyset:
                keyset.append(self._keys(create=encrypt, refresh=True))
            return keyset[0]

        def seal(key: str, version: int, value: str) -> str:
            if not encrypt and not _is_token(value):
                return value
            name = sealed_name(key, version)
            return crypto.encrypt(keys().encrypt_key, component_id, name, value)

        def unseal(key: str, version: int, stored: str) -> str:
            if not _is_token(stored):
                return stored
            where = f"history of {component_id}"
            name = sealed_name(key, version)
            return crypto.decrypt_values(keys().decrypt_keys, component_id, {name: stored}, where)[
                name
            ]

        return seal, unseal

    def history(self, component_id: str, key: str | None = None) -> dict[str, list[VersionInfo]]:
        """Versions per key (oldest first) with keyed fingerprints, never values."""
        from wassette.secretstore import crypto
        from wassette.secretstore.history import VersionInfo

        hist = self._load_history(component_id)
        current = self.get_all(component_id)
        names = [key] if key is not None else sorted(hist.keys)
        _seal, unseal = self._sealers(component_id, False)
        fp_key = self._keys(create=True).fingerprint_key
        out: dict[str, list[VersionInfo]] = {}
        for name in names:
            entries = hist.keys.get(name, [])
            rows = []
            for i, entry in enumerate(entries):
                plain = None if entry.value is None else unseal(name, entry.v, entry.value)
                is_current = i == len(entries) - 1 and plain == current.get(name)
                rows.append(
                    VersionInfo(
                        entry.v,
                        entry.time,
                        entry.actor,
                        entry.op,
                        None
                        if plain is None
                        else crypto.fingerprint(fp_key, component_id, name, plain),
                        is_current,
                        entry.to,
                    )
                )
            out[name] = rows
        return out

    def rollback(self, component_id: str, key: str, version: int | None = None) -> int:
        """Restore ``key`` to ``version`` (default: the newest value differing from now).

        Returns the version restored. The value is never returned or printed.
        """
        from wassette.errors import NotFoundError

        validate_secret_key(key)
        hist = self._load_history(component_id)
        current = self.get(component_id, key)
        _seal, unseal = self._sealers(component_id, False)
        entries = hist.keys.get(key, [])
        if version is None:
            for entry in reversed(entries):
                plain = None if entry.value is None else unseal(key, entry.v, entry.value)
                if plain != current:
                    version = entry.v
                    break
            else:
                raise NotFoundError(
                    f"no earlier value of {key} to roll back to in {component_id}",
                    why="the history holds no version that differs from the current value",
                    fix=f"see `wassette secret history {component_id} {key}`",
                )
        entry = hist.find(key, version)
        target = None if entry.value is None else unseal(key, entry.v, entry.value)
        self.ensure_dir()
        self.apply(component_id, {key: target}, op="rollback", versions={key: version})
        return version

    # ------------------------------------------------------------------- encrypt / decrypt

    def encrypt(self, component_id: str) -> int:
        """Encrypt every plaintext value of the component (file and history); return count."""
        return self._reseal(component_id, "encrypt")

    def decrypt(self, component_id: str) -> int:
        """Decrypt every value of the component back to plaintext; return count."""
        return self._reseal(component_id, "decrypt")

    def reencrypt(self, component_id: str) -> int:
        """Re-encrypt every encrypted value with the current encryption key (rotation)."""
        return self._reseal(component_id, "reencrypt")

    def _reseal(self, component_id: str, mode: str) -> int:
        from wassette.secretstore import crypto
        from wassette.secretstore.history import sealed_name

        path = self.path_for(component_id)
        hist_path = self.history_path(component_id)
        if not path.exists() and not hist_path.exists():
            return 0
        loaded: list[KeySet] = []
        count = 0

        def keys() -> KeySet:
            # Fetched lazily, under the component's lock: plaintext needs no key to stay
            # plaintext, and a rotation that started meanwhile is seen (its pending key is used).
            if not loaded:
                loaded.append(self._keys(create=mode == "encrypt", refresh=True))
            return loaded[0]

        def transform(name: str, stored: str, where: str) -> str:
            nonlocal count
            is_enc = _is_token(stored)
            if mode == "encrypt" and is_enc:
                return stored
            if mode != "encrypt" and not is_enc:
                return stored
            plain = (
                crypto.decrypt_values(keys().decrypt_keys, component_id, {name: stored}, where)[
                    name
                ]
                if is_enc
                else stored
            )
            if mode == "decrypt" and plain.startswith(_ENC_PREFIX):
                return stored  # plaintext that looks like a token must stay sealed
            count += 1
            if mode == "decrypt":
                return plain
            return crypto.encrypt(keys().encrypt_key, component_id, name, plain)

        with self._acquire(path):
            doc = yamlfile.read_document(path)
            hist = self._load_history(component_id)
            hist.reseal(
                lambda k, v, s: transform(sealed_name(k, v), s, f"history of {component_id}")
            )
            if hist.keys and count:
                self._write_history(hist)
            before = count
            if doc is not None:
                for key, stored in doc.as_dict().items():
                    new = transform(key, stored, str(path))
                    if new != stored:
                        doc.set(key, new)
                if count > before:
                    self._write(path, doc)
        self._cache.pop(component_id, None)
        return count

    def history_component_ids(self) -> list[str]:
        """Ids that have a history file (possibly without a secrets file any more)."""
        from wassette.secretstore.history import DIR_NAME, SUFFIX

        directory = self.secrets_dir / DIR_NAME
        if not directory.is_dir():
            return []
        return sorted(
            e.name[: -len(SUFFIX)]
            for e in directory.iterdir()
            if e.name.endswith(SUFFIX) and not e.name.startswith(".")
        )

    @contextlib.contextmanager
    def _acquire(self, path: Path) -> Iterator[None]:
        import filelock  # only writers lock: `secret list` never pays for this import

        lock = filelock.FileLock(
            path.parent / f".{path.name}.lock", timeout=self.lock_timeout, mode=0o600
        )
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StorageError(
                f"timed out after {self.lock_timeout:.0f}s waiting for the lock on {path}",
                why="another wassette process is writing this component's secrets",
                fix="retry; if no other wassette is running, delete the stale lock file "
                f"{lock.lock_file}",
            ) from None
        except OSError as exc:
            raise StorageError(
                f"cannot lock {path}",
                why=exc.strerror or type(exc).__name__,
                fix=f"check permissions of {path.parent}",
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _write(self, path: Path, doc: yamlfile.SecretsDocument) -> None:
        data = doc.dump()
        fsutil.remove_stale_temps(path)
        try:
            fsutil.write_atomic(path, data)
        except OSError as exc:
            raise StorageError(
                f"cannot write secrets file {path}",
                why=exc.strerror or type(exc).__name__,
                fix=f"check free space and permissions of {path.parent}; "
                "the previous file is unchanged",
            ) from None


def hist_encrypted(hist: History) -> bool:
    """Whether a history already stores encrypted values (new ones are then encrypted too)."""
    return any(
        e.value is not None and _is_token(e.value)
        for entries in hist.keys.values()
        for e in entries
    )


def _is_token(value: str) -> bool:
    if not value.startswith(_ENC_PREFIX):
        return False
    from wassette.secretstore.crypto import is_token

    return is_token(value)


def _has_token(values: Mapping[str, str]) -> bool:
    return any(_is_token(v) for v in values.values())
