"""Which components are installed in a component directory, and installing/removing them.

A component ``<id>`` is installed when ``<component dir>/<id>.wasm`` exists. The files beside
it are named in :mod:`wassette.layout` (policy, metadata, compiled artifact, source record,
pending policy proposal); secrets live in another directory and are never touched here.

:func:`install` is the only writer of ``<id>.wasm``: it stages the new bytes in a temp file in
the same directory, lets a caller-supplied ``validate`` hook (the runtime compiles the
component) inspect that file *before anything is replaced*, and only then renames it into
place. A failed validation leaves the previous version exactly as it was and no temp file.
With a ``source``, it records where the wasm came from (``<id>.source.json``, see
:mod:`wassette.components.provenance`) in the same locked step.

Permissions: every file written here is created 0600, and a directory we create is 0700. A
component list, its policies (host paths, hosts, env keys) and its compiled code describe what
one user runs and may reach, so nothing here needs to be readable by others; an operator who
shares a component directory can widen modes deliberately.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wassette import fsutil, layout
from wassette.errors import ComponentNotFoundError, SourceIntegrityError, StorageError
from wassette.ids import validate_component_id

if TYPE_CHECKING:
    from wassette.components.provenance import SourceName, SourceRecord

WASM_SUFFIX = layout.WASM
POLICY_SUFFIX = layout.POLICY
METADATA_SUFFIX = layout.METADATA
COMPILED_SUFFIX = layout.COMPILED
#: Derived artifacts of one wasm: stale as soon as the wasm changes.
DERIVED_SUFFIXES = layout.DERIVED
#: Everything ``uninstall`` removes. Secrets are deliberately absent.
COMPONENT_SUFFIXES = layout.ALL


def installed_ids(component_dir: Path) -> list[str]:
    """Ids of the installed components, sorted; empty if the directory does not exist."""
    try:
        entries = list(component_dir.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    ids = []
    for entry in entries:
        name = entry.name
        if name.endswith(WASM_SUFFIX) and not name.startswith(".") and entry.is_file():
            ids.append(name[: -len(WASM_SUFFIX)])
    return sorted(ids)


def is_installed(component_dir: Path, component_id: str) -> bool:
    """Whether ``<component_dir>/<component_id>.wasm`` exists."""
    return (component_dir / f"{validate_component_id(component_id)}{WASM_SUFFIX}").is_file()


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install` did.

    ``reloaded`` is true when a previous ``<id>.wasm`` was replaced. ``policy_path`` is the
    component's policy file if one exists after the install (a policy that came with the
    component replaces the old one; without one, an existing policy is kept). ``removed``
    lists the stale derived artifacts deleted. ``validation`` is whatever ``validate``
    returned (e.g. the compiled component), for the caller to write ``.compiled``/metadata from.
    """

    component_id: str
    wasm_path: Path
    reloaded: bool
    policy_path: Path | None = None
    policy_replaced: bool = False
    removed: tuple[Path, ...] = ()
    validation: object = field(default=None, repr=False)
    source: SourceRecord | None = None


def component_files(component_dir: Path, component_id: str) -> dict[str, Path]:
    """The paths of one component's files, by suffix (whether or not they exist)."""
    return layout.files(component_dir, component_id)


LOCK_DIR = ".locks"


def _lock(component_dir: Path, component_id: str) -> contextlib.AbstractContextManager[None]:
    # One lock per id, kept in a hidden subdirectory: lock files are never deleted (that would
    # race with a waiter), so they stay out of the way of anyone listing the directory.
    # No time limit: a holder is validating (compiling) a component, which may take a while.
    locks = component_dir / LOCK_DIR
    locks.mkdir(mode=0o700, exist_ok=True)
    return fsutil.file_lock(
        locks / f"{component_id}.lock",
        what=f"component '{component_id}'",
        timeout=-1,
        busy="another wassette process is installing or removing it",
    )


def _stage(component_dir: Path, name: str, content: bytes | Path) -> tuple[Path, str]:
    """Write ``content`` to a new 0600 temp file in ``component_dir``.

    Returns the path and the ``sha256:<hex>`` of exactly the bytes written.
    """
    import hashlib  # writers only (a tool call never stages): OpenSSL and tempfile cost ms
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=component_dir)
    path = Path(tmp)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(content, bytes):
                out.write(content)
                digest.update(content)
            else:
                with content.open("rb") as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        out.write(block)
                        digest.update(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, f"sha256:{digest.hexdigest()}"


def install(
    component_dir: Path,
    component_id: str,
    wasm: bytes | Path,
    policy_bytes: bytes | None = None,
    validate: Callable[[Path], object] | None = None,
    *,
    validate_policy: Callable[[bytes], object] | None = None,
    expected_digest: str | None = None,
    source: SourceName | None = None,
    manifest_digest: str | None = None,
    precondition: Callable[[], None] | None = None,
) -> InstallResult:
    """Install (or replace) component ``component_id`` from wasm bytes or a file.

    Order, so that a failure at any step leaves the previous version in place: stage the wasm
    (and policy) in temp files in ``component_dir``; call ``validate_policy(policy_bytes)`` and
    ``validate(staged_wasm_path)`` (any exception aborts the install, is re-raised unchanged,
    and the temp files are removed); delete the old version's stale ``.compiled`` and
    ``.tools.json``; rename the wasm, then the policy, into place. ``expected_digest``
    (``sha256:<hex>``, e.g. ``Fetched.digest``) is checked against the bytes actually copied,
    so a file changed between fetch and install is refused. ``validate`` must not
    keep the staged path (it is renamed right after) nor write into ``component_dir``: write
    derived artifacts after this returns, from :attr:`InstallResult.validation`.

    ``source`` (with the OCI ``manifest_digest``, if any) is recorded in ``<id>.source.json``
    right after the wasm is renamed into place; an install without one removes any previous
    record (its bytes are then of unknown source). ``precondition`` runs under the
    component's lock just before anything is replaced: it re-checks what the caller decided
    on (e.g. the recorded source it asked the operator about) and raises to abort.
    """
    cid = validate_component_id(component_id)
    with fsutil.os_errors(
        StorageError,
        f"cannot create the component directory {component_dir}",
        fix="check the permissions of its parent, or choose another --plugin-dir",
    ):
        component_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = component_files(component_dir, cid)
    with _lock(component_dir, cid):
        staged: list[Path] = []
        try:
            with fsutil.os_errors(
                StorageError,
                f"cannot write component {cid} into {component_dir}",
                fix="check free space and the directory's permissions",
            ):
                wasm_tmp, staged_digest = _stage(component_dir, f"{cid}{WASM_SUFFIX}", wasm)
                staged.append(wasm_tmp)
                policy_tmp = None
                if policy_bytes is not None:
                    policy_tmp, _ = _stage(component_dir, f"{cid}{POLICY_SUFFIX}", policy_bytes)
                    staged.append(policy_tmp)
            if expected_digest is not None and staged_digest != expected_digest.lower():
                raise SourceIntegrityError(
                    f"component {cid} changed between fetching and installing",
                    why=f"expected {expected_digest}, copied {staged_digest}",
                    fix="load it again; if the file keeps changing, find out what writes it",
                )
            if policy_bytes is not None and validate_policy is not None:
                validate_policy(policy_bytes)
            validation = validate(wasm_tmp) if validate is not None else None
            if precondition is not None:
                precondition()

            reloaded = files[WASM_SUFFIX].exists()
            removed = []
            for suffix in DERIVED_SUFFIXES:
                stale = files[suffix]
                try:
                    stale.unlink()
                    removed.append(stale)
                except FileNotFoundError:
                    pass
            os.replace(wasm_tmp, files[WASM_SUFFIX])
            staged.remove(wasm_tmp)
            if policy_tmp is not None:
                os.replace(policy_tmp, files[POLICY_SUFFIX])
                staged.remove(policy_tmp)
            # The record names the new bytes; a crash before it is written leaves the old
            # record, which no longer matches the wasm and so reads as "unknown source".
            record = _record_source(component_dir, cid, source, staged_digest, manifest_digest)
            fsutil.fsync_dir(component_dir)
        finally:
            for leftover in staged:
                leftover.unlink(missing_ok=True)
    policy_path = files[POLICY_SUFFIX]
    return InstallResult(
        component_id=cid,
        wasm_path=files[WASM_SUFFIX],
        reloaded=reloaded,
        policy_path=policy_path if policy_path.exists() else None,
        policy_replaced=policy_bytes is not None,
        removed=tuple(removed),
        validation=validation,
        source=record,
    )


def _record_source(
    component_dir: Path,
    cid: str,
    source: SourceName | None,
    digest: str,
    manifest_digest: str | None,
) -> SourceRecord | None:
    from wassette.components.provenance import new_record, write_record

    if source is None:
        layout.path(component_dir, cid, layout.SOURCE).unlink(missing_ok=True)
        return None
    wasm = layout.path(component_dir, cid, layout.WASM)
    record = new_record(source, wasm, digest, manifest_digest)
    write_record(component_dir, cid, record)
    return record


def uninstall(component_dir: Path, component_id: str) -> list[Path]:
    """Remove a component's wasm, compiled artifact, metadata and policy; return what went.

    Secrets are never touched (they live elsewhere, and the spec deletes them separately). An
    id with none of those files is a :class:`~wassette.errors.ComponentNotFoundError` that
    lists the installed ids.
    """
    cid = validate_component_id(component_id)
    files = component_files(component_dir, cid)
    removed: list[Path] = []
    if not component_dir.is_dir():
        raise not_loaded_error(component_dir, cid)
    with _lock(component_dir, cid):
        for suffix in COMPONENT_SUFFIXES:
            with (
                contextlib.suppress(FileNotFoundError),
                fsutil.os_errors(
                    StorageError,
                    f"cannot remove {files[suffix]}",
                    fix="check the component directory's permissions",
                    passing=(FileNotFoundError,),
                ),
            ):
                files[suffix].unlink()
                removed.append(files[suffix])
        if removed:
            fsutil.fsync_dir(component_dir)
    if not removed:
        raise not_loaded_error(component_dir, cid)
    return removed


def not_loaded_error(component_dir: Path, component_id: str) -> ComponentNotFoundError:
    """The one "component not loaded" error: names what is loaded and how to load it."""
    ids = installed_ids(component_dir)
    shown = ", ".join(ids[:20]) + (f" (and {len(ids) - 20} more)" if len(ids) > 20 else "")
    return ComponentNotFoundError(
        f"component '{component_id}' is not loaded",
        why=f"there is no {component_id}.wasm in {component_dir} (loaded: {shown})"
        if ids
        else f"there is no {component_id}.wasm: no components are installed in {component_dir}",
        fix="check the id with `wassette component list`, or load it with "
        "`wassette component load <uri>`",
    )


def require_installed(component_dir: Path, component_id: str) -> Path:
    """The wasm path of an installed component, or :func:`not_loaded_error`."""
    if not is_installed(component_dir, component_id):
        raise not_loaded_error(component_dir, component_id)
    return component_dir / f"{component_id}{WASM_SUFFIX}"
