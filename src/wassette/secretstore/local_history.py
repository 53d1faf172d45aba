"""Per-key history kept by the local store (the file format is :mod:`history`).

:class:`KeptHistory` is mixed into the local store class (``store.py``): the
history half of the store (list versions, roll back, purge, and the staging that puts a new
history in place only once the value it records is stored). It implements
:class:`~wassette.secretstore.backend.KeyVersions`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wassette import fsutil
from wassette.errors import StorageError
from wassette.fsutil import make_private_dirs
from wassette.ids import validate_component_id, validate_secret_key
from wassette.secretstore import sealing
from wassette.secretstore.backend import Fingerprint
from wassette.secretstore.guards import check_owner

if TYPE_CHECKING:
    from wassette.secretstore.history import History, VersionInfo
    from wassette.secretstore.keys import KeySet
    from wassette.secretstore.sealing import Sealer


class KeptHistory:
    """The history half of the local store (see the module docstring)."""

    if TYPE_CHECKING:  # provided by the store class it is mixed into
        secrets_dir: Path
        history_limit: int

        def _keys(self, *, create: bool, refresh: bool = False) -> KeySet: ...
        def sealer(self, component_id: str, *, create: bool, refresh: bool = False) -> Sealer: ...
        def get_all(self, component_id: str) -> Mapping[str, str]: ...
        def get(self, component_id: str, key: str) -> str | None: ...
        def ensure_dir(self) -> None: ...
        def path_for(self, component_id: str) -> Path: ...
        def _acquire(self, path: Path) -> contextlib.AbstractContextManager[None]: ...
        def apply(
            self,
            component_id: str,
            changes: Mapping[str, str | None],
            *,
            op: str,
            create: bool = True,
            replace: bool = False,
            versions: Mapping[str, int] | None = None,
        ) -> list[str]: ...

    def history_path(self, component_id: str) -> Path:
        """The component's history file."""
        from wassette.secretstore.history import history_path

        return history_path(self.secrets_dir, validate_component_id(component_id))

    def _load_history(self, component_id: str) -> History:
        from wassette.secretstore.history import History

        path = self.history_path(component_id)
        for checked in (path.parent, path):
            try:
                st = os.stat(checked)
            except (FileNotFoundError, NotADirectoryError):
                break
            check_owner(checked, st)
        return History.load(path, component_id)

    def _history_error(self, hist_path: Path, exc: OSError) -> StorageError:
        return StorageError(
            f"cannot write history file {hist_path}",
            why=fsutil.os_reason(exc),
            fix=f"check free space and permissions of {hist_path.parent}; "
            "the previous file is unchanged",
        )

    def _stage_history(self, hist: History) -> Path:
        """Write the new history to a fsynced temp file beside it; not yet in place."""
        try:
            make_private_dirs(hist.path.parent)
            fsutil.remove_stale_temps(hist.path)
            return stage_file(hist.path, hist.dump())
        except OSError as exc:
            raise self._history_error(hist.path, exc) from None

    def _commit_history(self, staged: Path, component_id: str) -> None:
        path = self.history_path(component_id)
        try:
            os.replace(staged, path)
            fsutil.fsync_dir(path.parent)
        except OSError as exc:
            # The secrets file already holds the new value: say so rather than pretend.
            discard(staged)
            raise StorageError(
                f"the secret WAS changed, but its history file {path} could not be updated",
                why=fsutil.os_reason(exc),
                fix=f"check free space and permissions of {path.parent}; the previous "
                "value is not in the history, so it cannot be rolled back to",
            ) from None

    def _write_history(self, hist: History) -> None:
        if not hist.keys:
            # Nothing left (everything purged): no file, rather than an empty one.
            try:
                hist.path.unlink()
                fsutil.fsync_dir(hist.path.parent)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise self._history_error(hist.path, exc) from None
            return
        make_private_dirs(hist.path.parent)
        try:
            fsutil.write_atomic(hist.path, hist.dump())
        except OSError as exc:
            raise self._history_error(hist.path, exc) from None

    def _history_sealers(
        self, component_id: str, encrypt: bool
    ) -> tuple[Callable[[str, int, str], str], Callable[[str, int, str], str]]:
        from wassette.secretstore.history import sealed_name

        sealer = self.sealer(component_id, create=encrypt, refresh=True)
        where = f"history of {component_id}"

        def seal(key: str, version: int, value: str) -> str:
            if not encrypt and not sealing.is_sealed(value):
                return value
            return sealer.seal(sealed_name(key, version), value)

        def unseal(key: str, version: int, stored: str) -> str:
            return sealer.open_one(sealed_name(key, version), stored, where)

        return seal, unseal

    def fingerprinter(self, component_id: str) -> Fingerprint:
        """Keyed fingerprints of ``component_id``'s values with this store's key custody."""
        from wassette.secretstore import crypto

        fp_key = self._keys(create=True).fingerprint_key
        return lambda name, value: crypto.fingerprint(fp_key, component_id, name, value)

    def key_history(
        self,
        component_id: str,
        key: str | None = None,
        fingerprint: Fingerprint | None = None,
    ) -> dict[str, list[VersionInfo]]:
        """Versions per key (oldest first) with keyed fingerprints, never values."""
        from wassette.secretstore.history import VersionInfo

        hist = self._load_history(component_id)
        current = self.get_all(component_id)
        names = [key] if key is not None else sorted(hist.keys)
        _seal, unseal = self._history_sealers(component_id, False)
        fp = fingerprint or self.fingerprinter(component_id)
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
                        None if plain is None else fp(name, plain),
                        is_current,
                        entry.to,
                    )
                )
            out[name] = rows
        return out

    def rollback_key(self, component_id: str, key: str, version: int | None = None) -> int:
        """Restore ``key`` to ``version`` (default: the newest value differing from now).

        Returns the version restored. The value is never returned or printed.
        """
        from wassette.errors import NotFoundError

        validate_secret_key(key)
        hist = self._load_history(component_id)
        current = self.get(component_id, key)
        _seal, unseal = self._history_sealers(component_id, False)
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

    def purge_key_history(self, component_id: str, keys: Sequence[str] | None) -> list[str]:
        """Remove every recorded value of ``keys`` (None: all keys) from the history file.

        For a leaked value: afterwards no earlier value of those keys exists on disk in
        wassette's files (the live file keeps the current value, if any).
        """
        validate_component_id(component_id)
        for key in keys or ():
            validate_secret_key(key)
        path = self.path_for(component_id)
        if not self.history_path(component_id).exists():
            return []
        self.ensure_dir()
        with self._acquire(path):
            hist = self._load_history(component_id)
            names = sorted(hist.keys) if keys is None else [k for k in keys if k in hist.keys]
            purged = [k for k in names if hist.keys.get(k)]
            if not purged:
                return []
            for key in names:
                hist.keys.pop(key, None)
            fsutil.remove_stale_temps(hist.path)
            self._write_history(hist)
        return purged

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


def stage_file(path: Path, data: bytes) -> Path:
    """``data`` in a fsynced 0600 temp file beside ``path``; the caller renames or discards."""
    import tempfile

    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), fsutil.PRIVATE_FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp


def discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


def hist_encrypted(hist: History) -> bool:
    """Whether a history already stores encrypted values (new ones are then encrypted too)."""
    return any(
        e.value is not None and sealing.is_sealed(e.value)
        for entries in hist.keys.values()
        for e in entries
    )
