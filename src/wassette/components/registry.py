"""Which components are installed in a component directory.

A component ``<id>`` is installed when ``<component dir>/<id>.wasm`` exists. This module only
looks at names; loading, compiling and metadata live elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from wassette.ids import validate_component_id

WASM_SUFFIX = ".wasm"


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
