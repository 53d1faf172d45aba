"""``file://`` URIs and bare paths: a component already on this machine.

``file:///abs/x.wasm``, ``file://relative/x.wasm``, ``file://localhost/abs/x.wasm`` and a bare
``path/x.wasm`` are all accepted; ``file://`` forms are percent-decoded, bare paths are taken
literally. Relative paths resolve against ``FetchOptions.base_dir`` (default: the current
directory). The file is not copied here: :func:`wassette.components.registry.install` copies it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote

from wassette.components.sources.base import (
    WASM_MAGIC,
    DerivedId,
    Fetched,
    FetchOptions,
    Source,
    check_wasm_magic,
    sanitize_component_id,
    size_error,
    verify_pin,
)
from wassette.errors import ComponentSourceError, SourceNotFoundError, UsageError
from wassette.fsutil import os_reason

_PREFIX = "file://"


class FileSource(Source):
    """A component file on the local filesystem."""

    scheme = "file"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        if uri[: len(_PREFIX)].lower() == _PREFIX:
            rest = uri[len(_PREFIX) :]
            if rest.lower().startswith("localhost/"):
                rest = rest[len("localhost") :]
            text = unquote(rest)
        else:
            text = uri
        if not text or "\x00" in text:
            raise UsageError(
                f"invalid file URI {uri[:80]!a}",
                why="it names no file" if not text else "it contains a NUL character",
                fix="give a path to a .wasm file, e.g. file:///path/to/component.wasm",
            )
        self.path = Path(text)
        self._derived = sanitize_component_id(_stem(self.path), uri=uri)

    @property
    def derived_id(self) -> DerivedId:
        """The file name without its ``.wasm`` extension (docs/spec.md section 4)."""
        return self._derived

    def resolved(self, options: FetchOptions) -> Path:
        """The absolute path this source names."""
        base = options.base_dir if options.base_dir is not None else Path.cwd()
        return self.path if self.path.is_absolute() else base / self.path

    def fetch(self, options: FetchOptions) -> Fetched:
        """Check the file (exists, size, wasm magic, pin) and hash it; no copy is made."""
        path = self.resolved(options)
        try:
            size = path.stat().st_size
            if not path.is_file():
                kind = "a directory" if path.is_dir() else "not a regular file"
                raise ComponentSourceError(
                    f"{path} is {kind}",
                    fix="give the path of a .wasm component file",
                )
            if size > options.max_size:
                raise size_error(str(path), options.max_size, size)
            h = hashlib.sha256()
            with path.open("rb") as f:
                head = f.read(len(WASM_MAGIC))
                check_wasm_magic(head, what=str(path))
                h.update(head)
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except FileNotFoundError:
            raise SourceNotFoundError(
                f"component file {path} does not exist",
                fix="check the path (relative paths are relative to the current directory)",
            ) from None
        except PermissionError:
            raise ComponentSourceError(
                f"cannot read component file {path}",
                why="permission denied",
                fix="make the file readable by this user",
            ) from None
        except IsADirectoryError:
            raise ComponentSourceError(
                f"{path} is a directory", fix="give the path of a .wasm component file"
            ) from None
        except OSError as exc:
            # ENAMETOOLONG, ELOOP, ENOTDIR...: a clean error, never "internal error (OSError)".
            raise ComponentSourceError(
                f"cannot read component file {str(path)[:200]!a}",
                why=os_reason(exc),
                fix="give the path of a readable .wasm component file",
            ) from None
        digest = f"sha256:{h.hexdigest()}"
        verify_pin(digest, options.digest, what=str(path), path=path)
        return Fetched(
            component_id=self.component_id,
            source_uri=self.uri,
            wasm_path=path,
            digest=digest,
            size=size,
            id_note=self._derived.note,
            owned=False,
        )


def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(".wasm")] if name.lower().endswith(".wasm") else name
