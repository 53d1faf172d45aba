"""The local secrets store: one YAML file per component under the secrets directory.

Reads are lock-free (writers replace files atomically, so a reader always sees a whole file) and
cached in memory; the cache entry is trusted only while the file's identity is unchanged, so a
``wassette secret set`` from another process is seen by the very next lookup, with no restart.

Writes (``set_many``/``delete_many``) take a per-component lock file, re-read the current file
under the lock, apply the change and replace the file atomically: concurrent writers from any
number of processes never lose each other's updates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from wassette.errors import StorageError, UsageError
from wassette.fsutil import make_private_dirs
from wassette.ids import validate_component_id, validate_secret_key
from wassette.secretstore import yamlfile
from wassette.secretstore.backend import SecretBackend

log = logging.getLogger(__name__)

SUFFIX = ".secrets.yaml"
DIR_MODE = 0o700  # also fsutil.PRIVATE_DIR_MODE
LOCK_TIMEOUT_SECONDS = 30.0

_EMPTY: Mapping[str, str] = MappingProxyType({})

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


class SecretStore(SecretBackend):
    """Per-component secrets in ``<secrets_dir>/<component-id>.secrets.yaml``."""

    name = "file"

    def __init__(self, secrets_dir: Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.secrets_dir = Path(secrets_dir)
        self.lock_timeout = lock_timeout
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
        values: Mapping[str, str] = _EMPTY if doc is None else MappingProxyType(doc.as_dict())
        self._cache[component_id] = (stamp, values)
        return values

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
        path = self.path_for(component_id)
        for key, value in items.items():
            validate_secret_key(key)
            validate_secret_value(key, value)
        self.ensure_dir()
        with self._acquire(path):
            doc = yamlfile.read_document(path) or yamlfile.SecretsDocument(path)
            for key, value in items.items():
                doc.set(key, value)
            self._write(path, doc)
        self._cache.pop(component_id, None)

    def delete_many(self, component_id: str, keys: Iterable[str]) -> list[str]:
        """Remove ``keys``; missing keys are ignored and the file is kept even if empty."""
        path = self.path_for(component_id)
        wanted = list(dict.fromkeys(keys))
        if not path.exists():
            return []
        with self._acquire(path):
            doc = yamlfile.read_document(path)
            if doc is None:
                return []
            removed = [key for key in wanted if doc.delete(key)]
            if removed:  # nothing to remove: leave the file byte-for-byte as it was
                self._write(path, doc)
        self._cache.pop(component_id, None)
        return removed

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
        yamlfile.remove_stale_temps(path)
        try:
            yamlfile.write_atomic(path, data)
        except OSError as exc:
            raise StorageError(
                f"cannot write secrets file {path}",
                why=exc.strerror or type(exc).__name__,
                fix=f"check free space and permissions of {path.parent}; "
                "the previous file is unchanged",
            ) from None
