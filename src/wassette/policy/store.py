"""Per-component policy files: ``<component dir>/<id>.policy.yaml``.

* ``load(id)`` returns the :class:`Policy`, or ``None`` when there is no file, which means
  *deny everything*. A cache validated by (device, inode, size, mtime, ctime) makes a repeated
  load cost one ``stat``, while an edit (by us, another process or a person) is seen by the
  next call.
* Every change is a read-modify-write under a per-file lock (``.<id>.policy.yaml.lock`` beside
  it), so concurrent grants from several processes all land. The change is applied to the
  round-trip YAML document, so comments a person wrote survive, and the result is validated
  (it must read back as exactly the intended policy) before it replaces the file.
* Writes are atomic: a temp file created 0600 in the same directory, fsync, ``os.replace``,
  fsync of the directory. A reader sees the old file or the new one, never half of one.
* A change that changes nothing (a repeated grant, revoking what is not granted) writes
  nothing; a revoke on a component without a policy file does not create one.
* A storage grant that reaches a protected path (wassette's own files, ``/``, ``/proc``, ...:
  see :mod:`wassette.policy.protection`) is refused and nothing is written, whichever verb
  adds it (``grant_storage``, ``save``, ``install_text``). Entries already in a file are left
  to the call-time check, so a bad hand edit never blocks the revoke that removes it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from wassette import fsutil
from wassette.errors import PolicyError, StorageError
from wassette.ids import validate_component_id
from wassette.policy import grants, parser
from wassette.policy.model import Access, Policy
from wassette.policy.protection import Protection
from wassette.policy.view import policy_to_dict

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["POLICY_SUFFIX", "PolicyStore", "policy_to_dict", "write_atomic"]

POLICY_SUFFIX = ".policy.yaml"
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
LOCK_TIMEOUT_SECONDS = 30.0

_StatKey = tuple[int, int, int, int, int]


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _storage_error(what: str, exc: OSError) -> StorageError:
    return StorageError(
        what,
        why=fsutil.os_reason(exc),
        fix="check that the directory exists and that you own it and its files",
    )


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file 0600, fsync, rename, fsync dir)."""
    fsutil.write_atomic(path, text.encode("utf-8"))


class PolicyStore:
    """The policies of the components in one component directory.

    Safe to share between threads; several processes may use the same directory at once.
    Methods that change a policy return the policy as it now is.
    """

    def __init__(self, component_dir: Path, protection: Protection | None = None) -> None:
        self.component_dir = Path(component_dir)
        # Without the full set (built from Settings by the composition root) a store still
        # refuses the fixed system paths and its own directory: the policy files live there,
        # and a component able to write one could grant itself anything.
        base = Protection.minimal() if protection is None else protection
        self.protection = base.with_component_dir(self.component_dir)
        self._cache: dict[str, tuple[_StatKey, Policy]] = {}
        self._cache_lock = threading.Lock()

    # --- paths ---------------------------------------------------------------------------

    def path_for(self, component_id: str) -> Path:
        """The policy file of ``component_id`` (validated, so it cannot leave the directory)."""
        validate_component_id(component_id)
        return self.component_dir / f"{component_id}{POLICY_SUFFIX}"

    def _lock_for(self, component_id: str) -> FileLock:
        from filelock import FileLock  # writers only: reading a policy never locks (~10 ms)

        lock_path = self.component_dir / f".{component_id}{POLICY_SUFFIX}.lock"
        return FileLock(str(lock_path), timeout=LOCK_TIMEOUT_SECONDS, mode=0o600)

    # --- reading -------------------------------------------------------------------------

    def exists(self, component_id: str) -> bool:
        """True if ``component_id`` has a policy file."""
        return self.path_for(component_id).is_file()

    def load(self, component_id: str) -> Policy | None:
        """The component's policy, or ``None`` if it has no policy file (= deny everything).

        Raises :class:`PolicyError` if the file is invalid, :class:`StorageError` if it
        cannot be read.
        """
        path = self.path_for(component_id)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.forget(component_id)
            return None
        except OSError as exc:
            raise _storage_error(f"cannot read policy {path}", exc) from None
        with self._cache_lock:
            hit = self._cache.get(component_id)
        if hit is not None and hit[0] == _stat_key(st):
            return hit[1]
        loaded = self._read(path)
        if loaded is None:
            self.forget(component_id)
            return None
        text, key = loaded
        policy = parser.parse_policy(text, source=str(path))
        with self._cache_lock:
            self._cache[component_id] = (key, policy)
        return policy

    def read_text(self, component_id: str) -> str | None:
        """The policy file's text as written (comments included), or ``None`` if absent."""
        loaded = self._read(self.path_for(component_id))
        return None if loaded is None else loaded[0].decode("utf-8", errors="replace")

    def _read(self, path: Path) -> tuple[bytes, _StatKey] | None:
        try:
            # O_NONBLOCK: a FIFO planted at the policy path must not hang the server.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise PolicyError(
                        f"policy {path} is not a regular file",
                        fix="replace it with a policy file, or `wassette permission reset` it",
                    )
                # One byte over the limit is enough for the parser to refuse the file.
                data = handle.read(parser.MAX_POLICY_BYTES + 1)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise PolicyError(
                f"policy {path} is a directory", fix="remove it, then grant permissions again"
            ) from None
        except OSError as exc:
            raise _storage_error(f"cannot read policy {path}", exc) from None
        return data, _stat_key(st)

    def forget(self, component_id: str) -> None:
        """Drop the cached policy of ``component_id`` (the next load reads the file)."""
        with self._cache_lock:
            self._cache.pop(component_id, None)

    # --- changing ------------------------------------------------------------------------

    def update(self, component_id: str, change: Callable[[Policy], Policy]) -> Policy:
        """Apply ``change`` to the component's policy under the file lock, and save it.

        A component without a policy file starts from the empty policy. The document is
        edited in place (comments survive), validated, then written atomically. If nothing
        changed, nothing is written.
        """
        path = self.path_for(component_id)
        try:
            self.component_dir.mkdir(parents=True, exist_ok=True)
            with self._lock_for(component_id):
                return self._update_locked(component_id, path, change)
        except _lock_timeout():
            raise StorageError(
                f"cannot lock policy {path}",
                why=f"another process held its lock for over {LOCK_TIMEOUT_SECONDS:.0f} s",
                fix="retry; if it persists, look for a stuck wassette process",
            ) from None
        except OSError as exc:
            raise _storage_error(f"cannot write policy {path}", exc) from None

    def _update_locked(
        self, component_id: str, path: Path, change: Callable[[Policy], Policy]
    ) -> Policy:
        source = str(path)
        loaded = self._read(path)
        if loaded is None:
            doc = None
            old = Policy()
        else:
            doc = parser.load_document(loaded[0], source=source)
            old = parser.document_to_policy(doc, source=source, warnings=False)
        new = change(old)
        if new == old:
            return new
        self._check_new_storage(component_id, old, new)
        text = parser.dump_document(parser.sync_document(doc, new))
        if doc is None and loaded is not None:
            # A file of comments only parses to nothing; keep the person's comments on top.
            kept = [
                line
                for line in loaded[0].decode("utf-8-sig").splitlines()
                if line.lstrip().startswith("#")
            ]
            text = "".join(f"{line}\n" for line in kept) + text
        check = parser.parse_policy(text, source=source, warnings=False)
        if check != new:
            # A bug of ours, never the user's input: refuse to write a file that would grant
            # something other than what was asked.
            raise PolicyError(
                f"refusing to save policy {path}",
                why="the edited file does not read back as the intended policy",
                fix="report this bug; the policy file was left unchanged",
            )
        write_atomic(path, text)
        try:
            key = _stat_key(os.stat(path))
        except OSError:
            self.forget(component_id)
        else:
            with self._cache_lock:
                self._cache[component_id] = (key, new)
        return new

    def _check_new_storage(self, component_id: str, old: Policy, new: Policy) -> None:
        """Refuse (PolicyError, nothing written) a storage entry ``new`` adds or widens that
        reaches a protected path."""
        for entry in new.storage:
            if entry not in old.storage:
                self.protection.check_grant(entry.path, to=f"component '{component_id}'")

    def check_storage_grant(
        self, component_id: str, uri: str, access: Iterable[str | Access]
    ) -> None:
        """Raise what :meth:`grant_storage` would raise for a malformed or protected grant,
        changing nothing (so a request is refused before anyone is asked to approve it)."""
        old = self.load(component_id) or Policy()
        self._check_new_storage(component_id, old, grants.grant_storage(old, uri, list(access)))

    def save(self, component_id: str, policy: Policy) -> Policy:
        """Make the component's policy exactly ``policy`` (keeping comments where it can)."""
        return self.update(component_id, lambda _old: policy)

    def install_text(self, component_id: str, text: str | bytes) -> Policy:
        """Validate policy YAML (e.g. shipped with a component) and save it verbatim."""
        path = self.path_for(component_id)
        policy = parser.parse_policy(text, source=str(path))
        self._check_new_storage(component_id, Policy(), policy)
        data = text if isinstance(text, str) else text.decode("utf-8-sig")
        try:
            self.component_dir.mkdir(parents=True, exist_ok=True)
            with self._lock_for(component_id):
                write_atomic(path, data)
        except _lock_timeout():
            raise StorageError(
                f"cannot lock policy {path}", fix="retry; look for a stuck wassette process"
            ) from None
        except OSError as exc:
            raise _storage_error(f"cannot write policy {path}", exc) from None
        self.forget(component_id)
        return policy

    def reset(self, component_id: str) -> None:
        """Delete the component's policy file: it is denied everything again."""
        path = self.path_for(component_id)
        try:
            if not self.component_dir.is_dir():
                return
            with self._lock_for(component_id):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                else:
                    fsutil.fsync_dir(self.component_dir)
        except _lock_timeout():
            raise StorageError(
                f"cannot lock policy {path}", fix="retry; look for a stuck wassette process"
            ) from None
        except OSError as exc:
            raise _storage_error(f"cannot delete policy {path}", exc) from None
        finally:
            self.forget(component_id)

    # --- the grant/revoke verbs (CLI `permission ...`, MCP built-in tools) ---------------

    def grant_storage(self, component_id: str, uri: str, access: Iterable[str | Access]) -> Policy:
        """Allow directory ``uri`` (``fs:///abs/path``) with ``access`` (read and/or write).

        Refused with a :class:`PolicyError` naming the protected path, and nothing written, if
        the directory's real path reaches one (see :mod:`wassette.policy.protection`).
        """
        modes = list(access)
        return self.update(component_id, lambda p: grants.grant_storage(p, uri, modes))

    def revoke_storage(
        self, component_id: str, uri: str, access: Iterable[str | Access] | None = None
    ) -> Policy:
        """Remove every entry for directory ``uri`` (or only the given access modes)."""
        modes = None if access is None else list(access)
        return self.update(component_id, lambda p: grants.revoke_storage(p, uri, modes))

    def grant_network(self, component_id: str, host: str) -> Policy:
        """Allow outgoing HTTP to ``host``."""
        return self.update(component_id, lambda p: grants.grant_network(p, host))

    def revoke_network(self, component_id: str, host: str) -> Policy:
        """Remove the network entry ``host``."""
        return self.update(component_id, lambda p: grants.revoke_network(p, host))

    def grant_environment_variable(
        self,
        component_id: str,
        key: str,
        value: str | None = None,
        *,
        required: bool | None = None,
        redact: bool | None = None,
    ) -> Policy:
        """Allow environment variable ``key`` (with a policy-defined ``value`` if given)."""
        return self.update(
            component_id,
            lambda p: grants.grant_environment_variable(
                p, key, value, required=required, redact=redact
            ),
        )

    def revoke_environment_variable(self, component_id: str, key: str) -> Policy:
        """Remove environment variable ``key`` from the allow list."""
        return self.update(component_id, lambda p: grants.revoke_environment_variable(p, key))

    def grant_memory(self, component_id: str, limit: str | int) -> Policy:
        """Set the memory limit (``512Mi``, ``1Gi``, bytes)."""
        return self.update(component_id, lambda p: grants.grant_memory(p, limit))

    def revoke_memory(self, component_id: str) -> Policy:
        """Remove the memory limit."""
        return self.update(component_id, grants.revoke_memory)

    def grant_timeout(self, component_id: str, timeout: str | float) -> Policy:
        """Set the per-call time limit (``30s``, ``500ms``, ``2m``)."""
        return self.update(component_id, lambda p: grants.grant_timeout(p, timeout))

    def revoke_timeout(self, component_id: str) -> Policy:
        """Remove the per-call time limit."""
        return self.update(component_id, grants.revoke_timeout)


def _lock_timeout() -> type[Exception]:
    """filelock's Timeout, imported only when an exception is being matched."""
    from filelock import Timeout

    return Timeout
