"""Validation of the names that become file names or environment variable names.

A component id becomes part of a file name (``<id>.secrets.yaml``, ``<id>.wasm``), so it must
never be able to name a path outside its directory: no separators, no ``..``, no NUL, bounded
length, and it must start with an alphanumeric (so ``.hidden`` or ``-flag`` are refused too).
"""

from __future__ import annotations

import re

from wassette.errors import InvalidComponentIdError, InvalidSecretKeyError

COMPONENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# fullmatch, not match: `$` in re.match would accept a trailing newline.
_COMPONENT_ID = re.compile(COMPONENT_ID_PATTERN[1:-1])
_ENV_KEY = re.compile(ENV_KEY_PATTERN[1:-1])


def _printable(text: str, limit: int = 40) -> str:
    """A short, escaped rendering of untrusted input for error messages."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return ascii(shown)


def validate_component_id(component_id: str) -> str:
    """Return ``component_id`` unchanged, or raise :class:`InvalidComponentIdError`."""
    if _COMPONENT_ID.fullmatch(component_id):
        return component_id
    if not component_id:
        why = "it is empty"
    elif len(component_id) > 128:
        why = f"it is {len(component_id)} characters long (at most 128)"
    elif "\x00" in component_id:
        why = "it contains a NUL character"
    elif "/" in component_id or "\\" in component_id:
        why = "it contains a path separator"
    elif not component_id[0].isascii() or not component_id[0].isalnum():
        why = "it must start with a letter or digit"
    else:
        why = "only letters, digits, '.', '_' and '-' are allowed"
    raise InvalidComponentIdError(
        f"invalid component id {_printable(component_id)}",
        why=why,
        fix=f"use an id matching {COMPONENT_ID_PATTERN}, as shown by `wassette component list`",
    )


def validate_secret_key(key: str) -> str:
    """Return ``key`` unchanged, or raise :class:`InvalidSecretKeyError`.

    Keys become environment variable names inside the component, so they follow the POSIX
    shape: a letter or underscore, then letters, digits and underscores.
    """
    if _ENV_KEY.fullmatch(key):
        return key
    why = "it is empty" if not key else "it is not a valid environment variable name"
    raise InvalidSecretKeyError(
        f"invalid secret key {_printable(key)}",
        why=why,
        fix=f"use a key matching {ENV_KEY_PATTERN}, e.g. API_KEY",
    )
