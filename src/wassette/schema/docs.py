"""WIT doc comments from a component's ``package-docs`` custom section.

wit-component (and Wassette's ``wit-docs-inject``) store WIT documentation in a custom section
named ``package-docs``: one version byte (0 or 1) followed by JSON::

    {"package": "ns:pkg@1.0.0", "docs": "...",
     "worlds": {"w": {"docs": "...", "func_exports": {"f": {"docs": "..."}},
                      "funcs": {"f": "..." | {"docs": "..."}}, ...}},
     "interfaces": {"api": {"docs": "...", "funcs": {"f": {"docs": "..."}}}}}

This reader walks only the top-level sections of the component binary, never executes or
decompresses anything, caps what it reads, and returns no docs (never raises) on anything
malformed. componentize-py does not emit this section; Wassette's build tooling injects it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

SECTION_NAME: Final = "package-docs"
#: Component binary preamble: magic, then version 0x0d and layer 1.
_COMPONENT_PREAMBLE: Final = b"\x00asm\x0d\x00\x01\x00"
_MAX_SECTIONS: Final = 100_000
_MAX_DOCS_BYTES: Final = 4 * 1024 * 1024
_MAX_DOC_CHARS: Final = 4096


@dataclass(frozen=True)
class ComponentDocs:
    """Doc strings found in a component, keyed the way tool enumeration looks them up."""

    #: world-level exported function name -> docs
    world_funcs: dict[str, str] = field(default_factory=dict)
    #: (package name without version, or "" if unknown, interface name, function) -> docs
    interface_funcs: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def for_export(self, export_path: tuple[str, ...]) -> str | None:
        """The doc string of a world-level function or a function inside an interface."""
        if len(export_path) == 1:
            return self.world_funcs.get(export_path[0])
        if len(export_path) != 2:
            return None
        instance, func = export_path
        package, _, iface = instance.partition("/")
        if not iface:
            return None
        iface = iface.split("@", 1)[0]
        package = package.split("@", 1)[0]
        found = self.interface_funcs.get((package, iface, func))
        return found if found is not None else self.interface_funcs.get(("", iface, func))


def read_component_docs(wasm: bytes) -> ComponentDocs:
    """Collect docs from every top-level ``package-docs`` section of a component binary."""
    world_funcs: dict[str, str] = {}
    interface_funcs: dict[tuple[str, str, str], str] = {}
    for payload in _custom_sections(wasm, SECTION_NAME):
        _merge(_decode(payload), world_funcs, interface_funcs)
    return ComponentDocs(world_funcs, interface_funcs)


def _leb_u32(data: bytes, pos: int) -> tuple[int, int] | None:
    """Decode an unsigned LEB128 u32 at ``pos``; ``None`` if malformed or truncated."""
    result = 0
    for i in range(5):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return (result, pos + i + 1) if result < 2**32 else None
    return None


def _custom_sections(wasm: bytes, wanted: str) -> list[bytes]:
    if not wasm.startswith(_COMPONENT_PREAMBLE):
        return []
    found: list[bytes] = []
    pos = len(_COMPONENT_PREAMBLE)
    for _ in range(_MAX_SECTIONS):
        if pos >= len(wasm):
            break
        section_id = wasm[pos]
        size_and_pos = _leb_u32(wasm, pos + 1)
        if size_and_pos is None:
            break
        size, start = size_and_pos
        end = start + size
        if end > len(wasm):
            break
        if section_id == 0:
            name_and_pos = _leb_u32(wasm, start)
            if name_and_pos is not None:
                name_len, name_start = name_and_pos
                name_end = name_start + name_len
                if name_end <= end and wasm[name_start:name_end] == wanted.encode():
                    body = wasm[name_end:end]
                    if len(body) <= _MAX_DOCS_BYTES:
                        found.append(body)
        pos = end
    return found


def _decode(payload: bytes) -> dict[str, Any]:
    if not payload or payload[0] not in (0, 1):
        return {}
    try:
        data = json.loads(payload[1:].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str | None:
    """A doc entry: a string (v0) or ``{"docs": string}`` (v1)."""
    if isinstance(value, dict):
        value = value.get("docs")
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_DOC_CHARS]
    return None


def _funcs(table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        return {}
    out = {}
    for name, entry in table.items():
        text = _text(entry)
        if isinstance(name, str) and text is not None:
            out[name] = text
    return out


def _merge(
    data: dict[str, Any],
    world_funcs: dict[str, str],
    interface_funcs: dict[tuple[str, str, str], str],
) -> None:
    package = data.get("package")
    package = package.split("@", 1)[0] if isinstance(package, str) else ""
    worlds = data.get("worlds")
    if isinstance(worlds, dict):
        for world in worlds.values():
            if isinstance(world, dict):
                # v0 kept exports in "funcs"; v1 puts them in "func_exports" when an import of
                # the same name exists, so the export-only table wins.
                world_funcs.update(_funcs(world.get("funcs")))
                world_funcs.update(_funcs(world.get("func_exports")))
    interfaces = data.get("interfaces")
    if isinstance(interfaces, dict):
        for iface_name, iface in interfaces.items():
            if isinstance(iface_name, str) and isinstance(iface, dict):
                for func, text in _funcs(iface.get("funcs")).items():
                    interface_funcs[(package, iface_name, func)] = text
                    interface_funcs.setdefault(("", iface_name, func), text)
