"""Version history of each secret: the values a key held, so a change can be rolled back.

One JSON file per component, ``<secrets_dir>/.history/<id>.history.json`` (0600, directory
0700, atomic writes under the component's lock), shaped like::

    {"format": 1, "component_id": "c",
     "keys": {"API_KEY": [{"v": 1, "time": "...", "actor": "me@host", "op": "set",
                           "value": "ENC[AES256_GCM,...]"}, ...]}}

Each entry is a *state* of the key: the value it took (``null`` when the operation deleted
it), when, by whom and through which operation. Before recording a change we make sure the
value being replaced is itself in the history (an entry with op ``previous`` when the key
predates history or was edited by hand), so "every change keeps the previous value" holds
whatever happened to the file in between. The newest ``limit + 1`` states are kept: the current
one and ``limit`` previous values.

Values are stored exactly like the live file stores them: ``ENC[...]`` tokens when the
component's secrets are encrypted (with ``<KEY>@history:<v>`` as the authenticated name, so an
old ciphertext cannot be pasted into the live file or under another version), plaintext
otherwise. Values never appear in anything this module raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wassette.errors import NotFoundError, SecretsFileError

DIR_NAME = ".history"
SUFFIX = ".history.json"
FORMAT = 1
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class VersionInfo:
    """One version of a key, for display: never the value, only its keyed fingerprint."""

    version: int
    time: str
    actor: str
    operation: str
    fingerprint: str | None  # None: the key was absent (deleted) in this version
    current: bool
    restored_version: int | None = None


def history_path(secrets_dir: Path, component_id: str) -> Path:
    """Where a component's history lives (the id is validated by the caller)."""
    return secrets_dir / DIR_NAME / f"{component_id}{SUFFIX}"


def sealed_name(key: str, version: int) -> str:
    """The authenticated name of a history value (differs from the live key's)."""
    return f"{key}@history:{version}"


@dataclass
class Entry:
    """One state of a key. ``value`` is as stored (maybe an ``ENC[...]`` token); None=deleted."""

    v: int
    time: str
    actor: str
    op: str
    value: str | None
    to: int | None = None  # for rollbacks: the version restored

    def to_json(self) -> dict[str, Any]:
        """The entry as stored."""
        out: dict[str, Any] = {
            "v": self.v,
            "time": self.time,
            "actor": self.actor,
            "op": self.op,
            "value": self.value,
        }
        if self.to is not None:
            out["to"] = self.to
        return out


class History:
    """A component's history file, loaded; edit, then :meth:`dump` and write atomically."""

    def __init__(self, path: Path, component_id: str, keys: dict[str, list[Entry]]) -> None:
        self.path = path
        self.component_id = component_id
        self.keys = keys

    @classmethod
    def load(cls, path: Path, component_id: str) -> History:
        """Read ``path`` (an empty history if it does not exist)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, component_id, {})
        bad = SecretsFileError(
            f"history file {path} is damaged",
            why="it is not the JSON wassette writes",
            fix="move it aside (history restarts empty); the secrets themselves are unaffected",
        )
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise bad
        keys: dict[str, list[Entry]] = {}
        for key, entries in data["keys"].items():
            if not isinstance(entries, list):
                raise bad
            parsed = []
            for item in entries:
                if not isinstance(item, dict):
                    raise bad
                value = item.get("value")
                to = item.get("to")
                if not (
                    isinstance(item.get("v"), int)
                    and (value is None or isinstance(value, str))
                    and (to is None or isinstance(to, int))
                ):
                    raise bad
                parsed.append(
                    Entry(
                        item["v"],
                        str(item.get("time", "")),
                        str(item.get("actor", "")),
                        str(item.get("op", "")),
                        value,
                        to,
                    )
                )
            keys[str(key)] = parsed
        return cls(path, component_id, keys)

    def dump(self) -> bytes:
        """The file content."""
        data = {
            "format": FORMAT,
            "component_id": self.component_id,
            "keys": {k: [e.to_json() for e in v] for k, v in sorted(self.keys.items()) if v},
        }
        return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    def record(
        self,
        key: str,
        *,
        old: str | None,
        new: str | None,
        op: str,
        time: str,
        actor: str,
        limit: int,
        seal: Callable[[str, int, str], str],
        unseal: Callable[[str, int, str], str],
        to: int | None = None,
    ) -> None:
        """Record that ``key`` went from ``old`` to ``new`` (plaintext; None = absent).

        ``seal(key, version, plaintext)`` returns what to store (a token or the plaintext);
        ``unseal`` reverses it, to compare the newest state with ``old``.
        """
        entries = self.keys.setdefault(key, [])
        last = entries[-1] if entries else None
        last_plain = None if last is None or last.value is None else unseal(key, last.v, last.value)
        next_v = (last.v + 1) if last else 1
        if (last is None and old is not None) or (last is not None and last_plain != old):
            # The value being replaced is not the newest recorded state: keep it first.
            entries.append(
                Entry(
                    next_v,
                    "",
                    "",
                    "previous",
                    None if old is None else seal(key, next_v, old),
                )
            )
            next_v += 1
        entries.append(
            Entry(next_v, time, actor, op, None if new is None else seal(key, next_v, new), to)
        )
        del entries[: max(0, len(entries) - (limit + 1))]

    def find(self, key: str, version: int) -> Entry:
        """The entry ``version`` of ``key``, or NotFoundError naming the versions kept."""
        for entry in self.keys.get(key, []):
            if entry.v == version:
                return entry
        kept = [str(e.v) for e in self.keys.get(key, [])]
        raise NotFoundError(
            f"version {version} of {key} is not in the history of {self.component_id}",
            why=f"versions kept: {', '.join(kept) if kept else 'none'}",
            fix=f"see `wassette secret history {self.component_id} {key}`",
        )

    def reseal(self, transform: Callable[[str, int, str], str]) -> None:
        """Apply ``transform(key, version, stored)`` to every stored value (encrypt/decrypt)."""
        for key, entries in self.keys.items():
            for entry in entries:
                if entry.value is not None:
                    entry.value = transform(key, entry.v, entry.value)
