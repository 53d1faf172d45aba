"""Crash-safe file primitives shared by every store that owns files.

One implementation of "replace a file atomically and durably" and "create private
directories", so the secrets store, the policy store and the component artifact caches all
get the same guarantees: a crash at any point leaves either the old file or the new one, never
a torn one, and nothing we create is readable by other users whatever the umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from wassette.errors import StorageError, WassetteError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

_HASH_BLOCK = 1 << 20


def os_reason(exc: OSError) -> str:
    """The ``why`` of an error built from an ``OSError``: its message, else its class name.

    ``strerror`` ("Permission denied") rather than ``str(exc)``: the latter repeats the path,
    which the error's own message already names, and is empty for some OSError subclasses.
    """
    return exc.strerror or type(exc).__name__


@contextlib.contextmanager
def os_errors(
    kind: type[WassetteError],
    what: str,
    *,
    fix: str,
    passing: tuple[type[OSError], ...] = (),
) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into ``kind(what, why=<the OS's reason>, fix)``.

    The one way an ``OSError`` becomes ours. The OSError itself is dropped (``from None``): its
    text repeats the path, which ``what`` already names, and its traceback says nothing an
    operator can act on. ``passing`` lists the OSError subclasses the caller handles itself
    (``FileNotFoundError`` meaning "absent", say); they leave the block unchanged.
    """
    try:
        yield
    except passing:
        raise
    except OSError as exc:
        raise kind(what, why=os_reason(exc), fix=fix) from None


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's content, read in 1 MiB blocks (memory stays flat).

    Callers that record digests in ``sha256:<hex>`` form add the prefix themselves.
    """
    import hashlib  # loads OpenSSL (~2 ms): only the commands that hash pay for it

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable.

    Some platforms (Windows) cannot open a directory; the rename is then as durable as that
    platform makes it. A real I/O error is raised.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``data``: temp file in the same dir, fsync, rename, fsync dir.

    The file gets exactly ``mode`` (set with fchmod, so the umask cannot change it). On any
    failure the temp file is removed and the previous ``path`` is untouched.
    """
    import tempfile  # writers only: keeps read-only commands' start-up lean

    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> None:
    """Delete temp files that writers of ``path`` left when they died mid-write.

    Call it only while holding the lock that serialises writers of ``path``: then no live
    writer can own one of these files.
    """
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700, whatever the umask.

    ``os.makedirs(mode=...)`` applies the mode to the leaf only, and through the umask: with
    umask 000 the parents would be world-writable, letting another user swap a directory out
    from under us. Each directory we create is chmod-ed explicitly; existing ones are left
    alone.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # created concurrently by another process: fine
        os.chmod(directory, PRIVATE_DIR_MODE)


# --------------------------------------------------------------------------- file locks

LOCK_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for another process's lock before giving up (a timeout < 0: ever)."""

_LOCK_POLL_SECONDS = 0.05


@contextlib.contextmanager
def file_lock(
    lock_path: Path,
    *,
    what: str,
    timeout: float = LOCK_TIMEOUT_SECONDS,
    busy: str = "another wassette process is changing it",
    error: type[WassetteError] | None = None,
) -> Iterator[None]:
    """Hold the inter-process lock file ``lock_path`` for the duration of the block.

    The one way every store serialises read-modify-write across processes (and threads: an
    ``flock`` belongs to an open file, so two holders in one process exclude each other too).
    The lock file is created 0600 and never deleted (deleting it would race with a waiter);
    the kernel releases the lock when its holder dies, so no lock is ever stale. The caller
    creates the directory. ``what`` names what is locked in messages; a timeout or an OS
    error raises ``error`` (default :class:`~wassette.errors.StorageError`) with ``busy`` as
    the reason for a timeout.

    On POSIX this is the ``flock`` filelock's Unix lock takes (the two interlock), without
    importing filelock: its import costs ~25 ms, more than a one-shot ``tool invoke`` should
    pay for the artifact-cache and audit locks. A planted symlink is not followed.
    """
    kind = error or StorageError

    def timed_out() -> WassetteError:
        return kind(
            f"timed out after {timeout:g} s waiting for the lock on {what}",
            why=busy,
            fix="retry once the other process has finished; if it seems stuck, look for a "
            f"hung wassette process (the lock is {lock_path})",
        )

    def failed(exc: OSError) -> WassetteError:
        return kind(
            f"cannot lock {what}",
            why=os_reason(exc),
            fix=f"check that {lock_path.parent} exists and that you can write to it",
        )

    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: filelock does the same job
        import filelock

        lock = filelock.FileLock(str(lock_path), timeout=timeout, mode=PRIVATE_FILE_MODE)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise timed_out() from None
        except OSError as exc:
            raise failed(exc) from None
        try:
            yield
        finally:
            lock.release()
        return
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_path, flags, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise failed(exc) from None
    try:
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise timed_out() from None
                time.sleep(_LOCK_POLL_SECONDS)
            except OSError as exc:
                raise failed(exc) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
