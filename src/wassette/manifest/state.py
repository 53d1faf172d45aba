"""The provisioning state file: which components a manifest put in the component dir."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wassette import fsutil

STATE_FILE = ".manifest-state.json"
"""Which components a manifest provisioned (id -> uri, digest, name), in the component dir:
re-applying a manifest unloads only what an earlier manifest put there, never a component
the operator loaded by hand; ``manifest export`` reads the source URIs from it."""


def read_state(component_dir: Path) -> dict[str, dict[str, Any]]:
    """What earlier manifests provisioned: ``{id: {"uri", "digest", "name"}}`` (empty if none)."""
    try:
        data = json.loads((component_dir / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    comps = data.get("components") if isinstance(data, dict) else None
    if not isinstance(comps, dict):
        return {}
    return {k: v for k, v in comps.items() if isinstance(k, str) and isinstance(v, dict)}


def write_state(component_dir: Path, state: Mapping[str, Mapping[str, Any]]) -> None:
    """Record what the manifest provisioned (atomically)."""
    body = json.dumps({"format": 1, "components": dict(sorted(state.items()))}, indent=2)
    fsutil.write_atomic(component_dir / STATE_FILE, body.encode("utf-8"), mode=0o644)


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return "sha256:" + fsutil.sha256_file(path)
