"""What every recorded change carries, and what a secret value may be.

The actor (``user@host`` of this process) and the time go into history rows and audit
records; :func:`validate_secret_value` is the one rule for values, applied before anything is
stored. Kept apart from the file store so the audit log and the operations layer use them
without loading the store.
"""

from __future__ import annotations

import os
import time

from wassette.errors import UsageError


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


def default_actor() -> str:
    """``user@host`` of this process (from the OS user database, not the environment)."""
    try:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        user = str(os.getpid())
    if hasattr(os, "uname"):  # POSIX: what gethostname() returns, without importing socket
        return f"{user}@{os.uname().nodename}"
    import socket

    return f"{user}@{socket.gethostname()}"


def now() -> str:
    """The current UTC time, ISO 8601 with milliseconds (``2026-01-02T03:04:05.678+00:00``).

    What ``datetime.now(UTC).isoformat(timespec="milliseconds")`` prints (both truncate),
    without importing datetime: every recorded injection of a ``tool invoke`` stamps one.
    """
    ns = time.time_ns()
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{rest // 1_000_000:03d}+00:00"
