"""Build the test components from their sources in ``tests/fixtures/components/<name>/``.

Real components, built with the real guest toolchains, cached by a hash of their sources (and
the toolchain version) so a rebuild happens only when a source changes. Layout of a fixture:

    tests/fixtures/components/<name>/wit/*.wit   exactly one `world`
    tests/fixtures/components/<name>/app.py      componentize-py guest

The cache lives in ``$WASSETTE_TEST_CACHE`` or ``<repo>/.cache/test-components`` and is safe
to share between parallel test processes (a lock per artifact, atomic rename).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "components"
_WORLD = re.compile(r"^\s*world\s+([A-Za-z0-9-]+)\s*\{", re.MULTILINE)


def cache_dir() -> Path:
    path = Path(os.environ.get("WASSETTE_TEST_CACHE") or REPO / ".cache" / "test-components")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tool(name: str) -> str:
    # Prefer the tool installed beside the running interpreter (the project venv).
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _sources(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _digest(src: Path, toolchain: str) -> str:
    h = hashlib.sha256(toolchain.encode())
    for path in _sources(src):
        h.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def world_of(src: Path) -> str:
    worlds = {
        m.group(1) for wit in (src / "wit").rglob("*.wit") for m in _WORLD.finditer(wit.read_text())
    }
    if len(worlds) != 1:
        raise RuntimeError(f"fixture {src} must define exactly one world, found {sorted(worlds)}")
    return worlds.pop()


def build_component(name: str) -> Path:
    """Return the path of the built ``<name>`` component, building it if its sources changed."""
    src = FIXTURES / name
    if not (src / "app.py").exists():
        raise FileNotFoundError(f"no fixture sources at {src}")
    tool = _tool("componentize-py")
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    out = cache_dir() / f"{name}-{_digest(src, version)}.wasm"
    with FileLock(str(out) + ".lock"):
        if out.exists():
            return out
        tmp = out.with_suffix(".tmp.wasm")
        print(f"building test component {name} ...", file=sys.stderr)
        subprocess.run(
            [tool, "-d", "wit", "-w", world_of(src), "componentize", "app", "-o", str(tmp)],
            cwd=src,
            check=True,
            capture_output=True,
        )
        os.replace(tmp, out)
    return out


def install_component(name: str, plugin_dir: Path, component_id: str | None = None) -> Path:
    """Copy the built component into ``plugin_dir`` as ``<component_id>.wasm``."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    dest = plugin_dir / f"{component_id or name}.wasm"
    shutil.copyfile(build_component(name), dest)
    return dest
