"""An encrypted on-disk copy of the Vault secrets a server last fetched, for outages.

The in-memory cache already serves the last values while Vault is unreachable; this copy also
survives a restart of the server *during* the outage. It exists only when encryption at rest is
on (``encrypt_new``): every field is sealed with the same key custody and AES-256-GCM as the
local secrets files, bound (AAD) to ``vault-cache:<path>`` and the field name, so a value cannot
be moved between paths or fields. Files are private (0600 in a 0700 directory under the state
dir), named by a hash of the path, written atomically. A copy that cannot be read or decrypted
(wrong key, tampering, corruption) is ignored with a warning: it can only ever be a fallback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from wassette import fsutil
from wassette.errors import WassetteError
from wassette.secretstore.sealing import Sealer

if TYPE_CHECKING:
    from wassette.secretstore.keys import KeySet

log = logging.getLogger(__name__)

_FORMAT = 1


class OutageDiskCache:
    """Encrypted snapshots of Vault paths, one file per path."""

    def __init__(self, directory: Path, keys: Callable[[], KeySet]) -> None:
        self.directory = Path(directory)
        self._keys = keys  # resolved lazily: custody may prompt or do I/O

    def _path(self, logical: str) -> Path:
        return self.directory / (hashlib.sha256(logical.encode()).hexdigest()[:32] + ".json")

    def _sealer(self, logical: str) -> Sealer:
        # The same sealing as the local secrets files, scoped to this path.
        return Sealer(self._keys, f"vault-cache:{logical}")

    def store(self, logical: str, data: Mapping[str, str]) -> None:
        """Replace the snapshot of ``logical`` (failures are logged, never raised)."""
        try:
            sealer = self._sealer(logical)
            sealed = {name: sealer.seal(name, value) for name, value in data.items()}
            doc = {"format": _FORMAT, "path": logical, "saved_at": time.time(), "fields": sealed}
            fsutil.make_private_dirs(self.directory)
            fsutil.write_atomic(self._path(logical), json.dumps(doc).encode("utf-8"))
        except (OSError, WassetteError) as exc:
            log.warning("cannot save the outage copy of %s: %s", logical, _why(exc))

    def load(self, logical: str) -> tuple[dict[str, str], float] | None:
        """(fields, saved_at) of ``logical``'s snapshot, or None if there is no usable one."""
        from wassette.secretstore import crypto

        path = self._path(logical)
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable outage copy %s: %s", path, _why(exc))
            return None
        try:
            if doc.get("format") != _FORMAT or doc.get("path") != logical:
                raise ValueError("not a snapshot of this path")
            sealer = self._sealer(logical)
            fields = {
                str(name): sealer.open(name, tok) for name, tok in dict(doc["fields"]).items()
            }
            return fields, float(doc["saved_at"])
        except (
            crypto.TokenError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            WassetteError,
        ) as exc:
            log.warning(
                "ignoring the outage copy %s: it cannot be decrypted or is damaged (%s)",
                path,
                type(exc).__name__,
            )
            return None

    def forget(self, logical: str) -> None:
        """Drop the snapshot of ``logical`` (e.g. after a write: it is stale)."""
        try:
            self._path(logical).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the outage copy of %s: %s", logical, _why(exc))


def _why(exc: BaseException) -> str:
    if isinstance(exc, WassetteError):
        return exc.message
    if isinstance(exc, OSError):
        return fsutil.os_reason(exc)
    return type(exc).__name__
