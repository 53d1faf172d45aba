"""Checks the local store makes before it reads or writes: who owns a file, how big it gets.

Both refuse with a message that names paths, users and sizes, never a value.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from wassette.errors import ConfigError, SecretsFileError, StorageError, UsageError
from wassette.secretstore import yamlfile


def check_size(path: Path, data: bytes, wanted: Mapping[str, str | None]) -> None:
    """Refuse, before writing, a file that could not be read back (over the read limit).

    The message states the real sizes (the file as it would be, and the largest value being
    written), never a value.
    """
    limit = yamlfile.MAX_FILE_BYTES
    if len(data) <= limit:
        return
    sizes = {k: len(v.encode("utf-8")) for k, v in wanted.items() if v is not None}
    biggest = max(sizes, key=lambda k: sizes[k]) if sizes else None
    why = f"the file would be {len(data):,} bytes; secrets files are read up to {limit:,} bytes"
    if biggest is not None:
        why += f" (the value of {biggest} alone is {sizes[biggest]:,} bytes)"
    raise UsageError(
        f"refusing to write {path}: it would be too large to read back",
        why=why,
        fix="store large material in a file the component may read (a policy storage "
        "permission) and keep only its path or a reference in the secret; nothing was changed",
    )


def check_owner(
    path: Path,
    st: os.stat_result,
    *,
    what: str = "secrets",
    error: type[StorageError | ConfigError] = SecretsFileError,
) -> None:
    """Refuse a secrets file or directory owned by another user than the one running us.

    Another user who owns it can change the values (or plant them) whatever its mode says.
    ``what`` and ``error`` adapt the refusal (the key file is refused as a key problem).
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # not POSIX: ownership is the ACL's business
        return
    me = geteuid()
    if st.st_uid == me:
        return
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    raise error(
        f"refusing to read {what} from {path}",
        why=f"the {kind} is owned by {_user_name(st.st_uid)} (uid {st.st_uid}), not by "
        f"{_user_name(me)} (uid {me}) who runs wassette: its owner can change or plant values",
        fix=f"if you trust its content, take it over: chown {_user_name(me)} {path}"
        + (" (and the files in it)" if kind == "directory" else ""),
    )


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)
