"""The catalogue of known components: what ``registry search/get`` and the ``search-components``
tool look through.

It ships with the package (``data/catalogue.json``: the same eleven entries as Wassette
0.8.0's built-in registry) and can be extended by the operator with a file named by
``catalogue_file`` in config.toml, in the same JSON shape::

    {"components": [{"name": "...", "description": "...", "uri": "oci://..."}]}

Entries of the operator's file come first and win over shipped entries with the same name.
The catalogue only *names* components: loading one still fetches it, verifies it and asks
for its policy like any other load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from wassette.errors import ConfigError, NotFoundError
from wassette.fsutil import os_reason

MAX_CATALOGUE_BYTES = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One known component."""

    name: str
    description: str
    uri: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description, "uri": self.uri}

    def matches(self, query: str) -> bool:
        """Case-insensitive substring match on name, description or URI (Wassette's rule)."""
        q = query.lower()
        return q in self.name.lower() or q in self.description.lower() or q in self.uri.lower()


def _entries(data: Any, source: str) -> list[Entry]:
    items = data.get("components") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(
            f"catalogue {source} has no components list",
            fix='write {"components": [{"name": ..., "description": ..., "uri": ...}]}',
        )
    out = []
    for i, item in enumerate(items):
        ok = isinstance(item, dict) and all(
            isinstance(item.get(k), str) and item.get(k) for k in ("name", "uri")
        )
        if not ok or not isinstance(item.get("description", ""), str):
            raise ConfigError(
                f"catalogue {source}: components[{i}] is not valid",
                why="each entry needs a name and a uri (strings) and may have a description",
            )
        out.append(Entry(item["name"], item.get("description", ""), item["uri"]))
    return out


def shipped() -> list[Entry]:
    """The catalogue that ships with the package."""
    text = resources.files("wassette").joinpath("data/catalogue.json").read_text("utf-8")
    return _entries(json.loads(text), "(built in)")


def load_catalogue(extra: Path | None = None) -> list[Entry]:
    """The shipped catalogue, with the operator's file (if any) in front of it."""
    entries = shipped()
    if extra is None:
        return entries
    try:
        data = extra.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read catalogue {extra}",
            why=os_reason(exc),
            fix="check catalogue_file in config.toml",
        ) from None
    if len(data) > MAX_CATALOGUE_BYTES:
        raise ConfigError(f"catalogue {extra} is larger than {MAX_CATALOGUE_BYTES} bytes")
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"catalogue {extra} is not valid JSON", why=str(exc)) from None
    own = _entries(parsed, str(extra))
    names = {e.name.lower() for e in own}
    return own + [e for e in entries if e.name.lower() not in names]


def search(entries: list[Entry], query: str | None) -> list[Entry]:
    """The entries matching ``query`` (all of them when it is empty)."""
    return [e for e in entries if not query or e.matches(query)]


def find(entries: list[Entry], name_or_uri: str) -> Entry:
    """The entry called ``name_or_uri`` (name case-insensitively, or exact URI)."""
    for e in entries:
        if e.uri == name_or_uri or e.name.lower() == name_or_uri.lower():
            return e
    raise NotFoundError(
        f"component {name_or_uri!r} is not in the catalogue",
        fix="list what is there with `wassette registry search`",
    )


def catalogue_path(raw_config: Any, config_file: Path | None) -> Path | None:
    """The operator's catalogue file from the config table (relative to the config file)."""
    value = raw_config.get("catalogue_file") if hasattr(raw_config, "get") else None
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            "config: catalogue_file must be a non-empty string path",
            fix='write it as catalogue_file = "/etc/wassette/catalogue.json"',
        )
    path = Path(value).expanduser()
    if not path.is_absolute() and config_file is not None:
        path = config_file.parent / path
    return path
