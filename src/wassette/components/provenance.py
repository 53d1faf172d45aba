"""Where an installed component came from: ``<id>.source.json`` beside its wasm.

A component's policy and secrets are bound to its id, and its id is derived from a URI: two
different publishers can yield the same id (``file:///elsewhere/victim.wasm`` and
``oci://ghcr.io/acme/victim`` both give ``victim``). So every install records the *source*
and the sha256 of the installed bytes, and a load compares the new source with the recorded
one before anything is replaced:

- **same source** (same file path, same https URL, same OCI registry and repository): a
  reload; with a different digest it is an *upgrade* (a moved tag, a rebuilt file), allowed,
  and the result names the old and new digests;
- **different source**: a *replacement*, which hands the old component's policy and secrets to
  another publisher's binary: refused unless the operator approves it;
- **unknown source** (a component installed before sources were recorded, or a wasm copied in
  by hand, so no record matches the file): the same bytes again are adopted (nothing changes
  about which code gets the secrets); different bytes count as a replacement.

What "the same source" means per scheme: a file is its absolute path; an https component is
its URL without query or fragment (those may carry signed-URL tokens, so they are never
recorded either); an OCI component is its registry and repository, and a tag or digest names
a version of it (only someone who can push to that repository can move its tags).

The record carries the wasm's size and mtime so checking that it still describes the file
costs one ``stat``; when they differ the file is hashed, and a record whose digest does not
match the file is ignored (the source is then unknown), never trusted.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wassette import fsutil, layout
from wassette.components.sources import FetchOptions, source_for
from wassette.errors import StorageError

FORMAT = 1


@dataclass(frozen=True)
class SourceName:
    """A component URI as recorded: ``uri`` to show, ``identity`` to compare."""

    uri: str
    identity: str


def name_source(uri: str, options: FetchOptions | None = None) -> SourceName:
    """The canonical form of ``uri`` and what "the same source" means for it (see module doc).

    Raises the source's :class:`~wassette.errors.UsageError` for a URI no source accepts.
    """
    source = source_for(uri)
    if source.scheme == "file":
        from wassette.components.sources.file import FileSource

        assert isinstance(source, FileSource)
        path = Path(os.path.abspath(source.resolved(options or FetchOptions())))
        text = path.as_uri()
        return SourceName(text, text)
    if source.scheme == "https":
        parts = urlsplit(uri)
        netloc = (parts.hostname or "").lower()
        if parts.port is not None:
            netloc += f":{parts.port}"
        text = f"https://{netloc}{parts.path}"
        return SourceName(text, text)
    from wassette.components.sources.oci import OciReference

    ref = OciReference.parse(uri)
    return SourceName(str(ref), f"oci://{ref.registry}/{ref.repository}")


@dataclass(frozen=True)
class SourceRecord:
    """What ``<id>.source.json`` says: the source, the installed bytes, and when."""

    uri: str
    identity: str
    digest: str  # sha256:<hex> of the installed wasm
    size: int
    mtime_ns: int
    loaded_at: str
    manifest_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The sidecar's content."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "uri": self.uri,
            "identity": self.identity,
            "digest": self.digest,
            "wasm": {"size": self.size, "mtime_ns": self.mtime_ns},
            "loaded_at": self.loaded_at,
        }
        if self.manifest_digest is not None:
            data["manifest_digest"] = self.manifest_digest
        return data

    @classmethod
    def from_json(cls, data: object) -> SourceRecord | None:
        """Parse a sidecar; None for anything malformed (treated as an unknown source)."""
        try:
            assert isinstance(data, dict) and data.get("format") == FORMAT
            wasm = data["wasm"]
            record = cls(
                uri=str(data["uri"]),
                identity=str(data["identity"]),
                digest=str(data["digest"]),
                size=int(wasm["size"]),
                mtime_ns=int(wasm["mtime_ns"]),
                loaded_at=str(data["loaded_at"]),
                manifest_digest=(
                    None if data.get("manifest_digest") is None else str(data["manifest_digest"])
                ),
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            return None
        if not record.digest.startswith("sha256:") or not record.identity:
            return None
        return record

    def shown(self) -> dict[str, Any]:
        """The record for ``component list``, ``inspect`` and ``list-components``."""
        out: dict[str, Any] = {"uri": self.uri, "digest": self.digest}
        if self.manifest_digest is not None:
            out["manifest_digest"] = self.manifest_digest
        out["loaded_at"] = self.loaded_at
        return out


#: How an unknown source is shown (no record, or a record that no longer matches the file).
UNKNOWN = {
    "uri": None,
    "digest": None,
    "note": "unknown source: installed before sources were recorded, or the wasm was replaced "
    "by hand; loading it again from its source records it",
}


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file."""
    return f"sha256:{fsutil.sha256_file(path)}"


def read_small(path: Path, limit: int = 64 * 1024) -> bytes:
    """At most ``limit`` bytes of a small regular file we own.

    ``O_NONBLOCK`` and the regular-file check: a FIFO or device planted at the path must not
    hang or flood the reader. Raises ``FileNotFoundError`` (and other ``OSError``) as open does.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise IsADirectoryError(f"{path} is not a regular file")
        return fh.read(limit + 1)


def read_record(component_dir: Path, component_id: str) -> SourceRecord | None:
    """The recorded source of an installed component, if a record exists *and* still
    describes the installed wasm; None otherwise (unknown source)."""
    sidecar = layout.path(component_dir, component_id, layout.SOURCE)
    wasm = layout.path(component_dir, component_id, layout.WASM)
    absent = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
    try:
        with fsutil.os_errors(
            StorageError,
            f"cannot read {sidecar}",
            fix="check the component directory's permissions",
            passing=absent,
        ):
            raw = read_small(sidecar)
            st = wasm.stat()
    except absent:
        return None
    try:
        record = SourceRecord.from_json(json.loads(raw))
    except ValueError:
        return None
    if record is None:
        return None
    if (st.st_size, st.st_mtime_ns) == (record.size, record.mtime_ns):
        return record
    # Size or mtime moved (a copy without -p, a touch): trust the record only if the bytes
    # are still the ones it names.
    try:
        actual = sha256_file(wasm)
    except OSError:
        return None
    return record if actual == record.digest else None


def new_record(
    name: SourceName, wasm: Path, digest: str, manifest_digest: str | None
) -> SourceRecord:
    """A record for ``wasm`` (its size and mtime taken now), loaded from ``name``."""
    st = wasm.stat()
    return SourceRecord(
        uri=name.uri,
        identity=name.identity,
        digest=digest,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        loaded_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        manifest_digest=manifest_digest,
    )


def write_record(component_dir: Path, component_id: str, record: SourceRecord) -> None:
    """Write ``<id>.source.json`` atomically (0600)."""
    sidecar = layout.path(component_dir, component_id, layout.SOURCE)
    fix = "check free space and the component directory's permissions"
    with fsutil.os_errors(StorageError, f"cannot write {sidecar}", fix=fix):
        fsutil.write_atomic(sidecar, json.dumps(record.to_json(), indent=2).encode("utf-8"))
