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
``encrypt_new`` is on (sealing itself: :mod:`~wassette.secretstore.sealing`). Every change
also records the previous value in the component's history (:mod:`~wassette.secretstore.history`)
under the same lock; the history is put in place only after the secrets file was written, so
it never holds a value that was not stored.

Reads refuse a secrets directory or file owned by another user (its owner could change or plant
values whatever the mode says), and writes refuse, before touching anything, a file that would
be too large to read back.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from wassette import fsutil
from wassette.errors import (
    SecretsDecryptError,
    SecretsKeyError,
    StorageError,
)
from wassette.fsutil import make_private_dirs
from wassette.ids import validate_component_id, validate_secret_key
from wassette.secretstore import sealing, yamlfile
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.guards import check_owner, check_size
from wassette.secretstore.local_history import KeptHistory, discard, hist_encrypted
from wassette.secretstore.records import default_actor, validate_secret_value
from wassette.secretstore.records import now as _now
from wassette.secretstore.sealing import Sealer
from wassette.statcache import StatCache, stamp_of

if TYPE_CHECKING:
    from wassette.secretstore.keys import KeyCustody, KeySet


SUFFIX = ".secrets.yaml"
DIR_MODE = 0o700  # also fsutil.PRIVATE_DIR_MODE
LOCK_TIMEOUT_SECONDS = 30.0

_EMPTY: Mapping[str, str] = MappingProxyType({})


class SecretStore(KeptHistory, SecretBackend):
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
        self._cache: StatCache[str, Mapping[str, str]] = StatCache()
        self._paths: dict[str, str] = {}  # component id -> validated file path (hot path)
        self._warned: set[Path] = set()
        self._warn_lock = threading.Lock()

    # ------------------------------------------------------------------- optional abilities

    def versions(self) -> SecretStore:
        """The store keeps per-key history itself."""
        return self

    def local_encryption(self) -> SecretStore:
        """The store seals values at rest with the key custody."""
        return self

    # ----------------------------------------------------------------- paths and permissions

    def path_for(self, component_id: str) -> Path:
        """The secrets file of ``component_id`` (validated: it can never escape the dir)."""
        return self.secrets_dir / f"{validate_component_id(component_id)}{SUFFIX}"

    def location(self, component_id: str) -> str:
        """Where this component's secrets live."""
        return str(self.path_for(component_id))

    def _warn_once(self, path: Path, fmt: str, *args: object) -> None:
        with self._warn_lock:
            if path in self._warned:
                return
            self._warned.add(path)
        import logging  # imported when something is logged, not by every read

        logging.getLogger(__name__).warning(fmt, *args)

    def _warn_mode(self, path: Path, st: os.stat_result, wanted: int) -> None:
        if not st.st_mode & 0o077:
            return
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
        self._warn_once(
            path,
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
        check_owner(self.secrets_dir, st)
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
                why=fsutil.os_reason(exc),
                fix="check permissions of its parent, or set secrets_dir / "
                "WASSETTE_SECRETS_DIR to a writable location",
            ) from None

    def _read_checked(self, path: Path) -> yamlfile.SecretsDocument | None:
        """The document at ``path`` after the owner and mode checks (None: no file)."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        self._check_dir()
        check_owner(path, st)
        self._warn_mode(path, st, yamlfile.FILE_MODE)
        return yamlfile.read_document(path)

    # ------------------------------------------------------------------------------- reads

    def get_all(self, component_id: str) -> Mapping[str, str]:
        """All secrets of a component, read-only; one ``stat`` when the cache is valid."""
        path_str = self._paths.get(component_id)
        if path_str is None:
            path_str = self._paths[component_id] = str(self.path_for(component_id))
        try:
            st = os.stat(path_str)
        except FileNotFoundError:
            self._cache.forget(component_id)
            return _EMPTY
        except NotADirectoryError:
            return _EMPTY
        cached = self._cache.get_stat(component_id, st)
        if cached is not None:
            return cached
        stamp = stamp_of(st)
        path = Path(path_str)
        self._check_dir()
        # Checked on every cache miss; a chown changes ctime, so it always causes one.
        check_owner(path, st)
        self._warn_mode(path, st, yamlfile.FILE_MODE)
        doc = yamlfile.read_document(path)
        raw = {} if doc is None else doc.as_dict()
        if any(v.startswith(sealing.PREFIX) for v in raw.values()) and sealing.has_sealed(raw):
            clear = sealing.plaintext_among_sealed(raw)
            if clear:
                self._warn_once(
                    path,
                    "secrets file %s is encrypted but holds %d plaintext value(s) (%s); "
                    "seal them with: wassette secret encrypt %s",
                    path,
                    len(clear),
                    ", ".join(clear),
                    component_id,
                )
            raw = self._open_values(component_id, raw, str(path))
        values: Mapping[str, str] = MappingProxyType(raw) if raw else _EMPTY
        self._cache.put(component_id, stamp, values)
        return values

    def plaintext_keys(self, component_id: str) -> list[str]:
        """Keys stored in the clear in an otherwise encrypted secrets file (never values)."""
        doc = self._read_checked(self.path_for(component_id))
        return [] if doc is None else sealing.plaintext_among_sealed(doc.as_dict())

    # ------------------------------------------------------------------------- encryption

    def _keys(self, *, create: bool, refresh: bool = False) -> KeySet:
        if self.custody is None:
            raise SecretsKeyError(
                "encryption needs a key, but this store was opened without key custody",
                fix="open the store with a KeyCustody (the CLI and server do)",
            )
        return self.custody.keys(create=create, refresh=refresh)

    def sealer(self, component_id: str, *, create: bool, refresh: bool = False) -> Sealer:
        """A sealer for ``component_id``'s values with this store's key custody."""
        return Sealer(lambda: self._keys(create=create, refresh=refresh), component_id)

    def _open_values(self, component_id: str, raw: dict[str, str], where: str) -> dict[str, str]:
        try:
            return self.sealer(component_id, create=False).open_values(raw, where)
        except SecretsDecryptError:
            # Another process may have rotated the key since we loaded it: look again, once.
            return self.sealer(component_id, create=False, refresh=True).open_values(raw, where)

    def is_encrypted(self, component_id: str) -> bool:
        """Whether any value in the component's file is encrypted."""
        doc = yamlfile.read_document(self.path_for(component_id))
        return doc is not None and sealing.has_sealed(doc.as_dict())

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

    def all_component_ids(self) -> list[str]:
        """Ids with a secrets file or a history file (or both), sorted."""
        return sorted({*self.component_ids(), *self.history_component_ids()})

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

    def apply_changes(
        self,
        component_id: str,
        changes: Mapping[str, str | None],
        *,
        op: str = "set",
        replace: bool = False,
    ) -> list[str]:
        """Set/delete keys in one atomic write (``replace``: every other key is deleted)."""
        for key, value in changes.items():
            validate_secret_key(key)
            if value is not None:
                validate_secret_value(key, value)
        self.ensure_dir()
        return sorted(self.apply(component_id, changes, op=op, replace=replace))

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

        Order, so that the history only ever records values that were stored: the new file
        content is built and size-checked, the new history is written to a temp file, the
        secrets file is replaced, and only then does the history temp file replace the old
        history. A failure before the last step leaves both files byte-for-byte as they were.
        """
        path = self.path_for(component_id)
        with self._acquire(path):
            doc = self._read_checked(path)
            if doc is None:
                if not create:
                    return []
                doc = yamlfile.SecretsDocument(path)
            raw = doc.as_dict()
            encrypted = sealing.has_sealed(raw)
            current = self._open_values(component_id, raw, str(path)) if encrypted else raw
            wanted: dict[str, str | None] = dict(changes)
            if replace:
                for key in current:
                    wanted.setdefault(key, None)
            # A value that is itself a complete token forces encryption of the whole write, so
            # that no plaintext value in the file can be mistaken for (or as) ciphertext.
            seal_new = (
                encrypted
                or self.encrypt_new
                or any(v is not None and sealing.is_sealed(v) for v in wanted.values())
            )
            sealer = self.sealer(component_id, create=True, refresh=True)
            changed: list[str] = []
            for key, value in wanted.items():
                if value is None:
                    if key in current and doc.delete(key):
                        changed.append(key)
                    continue
                if value != current.get(key):
                    changed.append(key)
                # A plaintext value that merely looks like a token is encrypted too, so it can
                # never be mistaken for one when read back.
                doc.set(key, sealer.seal(key, value) if seal_new else value)
            if op == "delete" and not changed:
                return []  # nothing to remove: leave the file byte-for-byte as it was
            data = doc.dump()
            check_size(path, data, wanted)
            staged: Path | None = None
            if changed and self.history_limit > 0:
                hist = self._load_history(component_id)
                seal, unseal = self._history_sealers(component_id, seal_new or hist_encrypted(hist))
                for key in changed:
                    hist.record(
                        key,
                        old=current.get(key),
                        new=wanted[key],
                        op=op,
                        time=self._clock(),
                        actor=self.actor,
                        limit=self.history_limit,
                        seal=seal,
                        unseal=unseal,
                        to=(versions or {}).get(key),
                    )
                staged = self._stage_history(hist)
            try:
                self._write_bytes(path, data)
            except BaseException:
                if staged is not None:
                    discard(staged)
                raise
            if staged is not None:
                self._commit_history(staged, component_id)
        self._cache.forget(component_id)
        return changed

    @property
    def actor(self) -> str:
        """Who is making changes, for the history (``user@host``)."""
        if self._actor is None:
            self._actor = default_actor()
        return self._actor

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
        from wassette.secretstore.history import sealed_name

        path = self.path_for(component_id)
        hist_path = self.history_path(component_id)
        if not path.exists() and not hist_path.exists():
            return 0
        count = 0
        # Keys are fetched lazily, under the component's lock: plaintext needs no key to stay
        # plaintext, and a rotation that started meanwhile is seen (its pending key is used).
        sealer = self.sealer(component_id, create=mode == "encrypt", refresh=True)

        def transform(name: str, stored: str, where: str) -> str:
            nonlocal count
            is_enc = sealing.is_sealed(stored)
            if mode == "encrypt" and is_enc:
                return stored
            if mode != "encrypt" and not is_enc:
                return stored
            plain = sealer.open_one(name, stored, where)
            if mode == "decrypt" and plain.startswith(sealing.PREFIX):
                return stored  # plaintext that looks like a token must stay sealed
            count += 1
            if mode == "decrypt":
                return plain
            return sealer.seal(name, plain)

        with self._acquire(path):
            doc = self._read_checked(path)
            data = None
            if doc is not None:
                for key, stored in doc.as_dict().items():
                    new = transform(key, stored, str(path))
                    if new != stored:
                        doc.set(key, new)
                if count:
                    data = doc.dump()
                    # Sealed values are longer: refuse before either file changes.
                    check_size(path, data, {})
            in_file = count
            hist = self._load_history(component_id)
            hist.reseal(
                lambda k, v, s: transform(sealed_name(k, v), s, f"history of {component_id}")
            )
            if hist.keys and count > in_file:
                self._write_history(hist)
            if data is not None:
                self._write_bytes(path, data)
        self._cache.forget(component_id)
        return count

    def _acquire(self, path: Path) -> contextlib.AbstractContextManager[None]:
        return fsutil.file_lock(
            path.parent / f".{path.name}.lock",
            what=f"the secrets file {path}",
            timeout=self.lock_timeout,
            busy="another wassette process is writing this component's secrets",
        )

    def _write_bytes(self, path: Path, data: bytes) -> None:
        fsutil.remove_stale_temps(path)
        try:
            fsutil.write_atomic(path, data)
        except OSError as exc:
            raise StorageError(
                f"cannot write secrets file {path}",
                why=fsutil.os_reason(exc),
                fix=f"check free space and permissions of {path.parent}; "
                "the previous file is unchanged",
            ) from None
