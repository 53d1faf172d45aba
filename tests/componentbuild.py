"""Build the test components from their sources in ``tests/fixtures/components/<name>/``.

Real components, built with the real guest toolchains, cached by a hash of their sources (and
the toolchain version) so a rebuild happens only when a source changes. Layout of a fixture:

    tests/fixtures/components/<name>/wit/*.wit   exactly one `world` (deps in wit/deps/)
    tests/fixtures/components/<name>/app.py      componentize-py guest, or
    tests/fixtures/components/<name>/app.js      componentize-js guest (npm toolchain installed
                                                 by `make js-toolchain` into tests/toolchain/)

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
JS_TOOLCHAIN = REPO / "tests" / "toolchain"
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
    # Only the fixture's own WIT files: vendored packages in wit/deps/ define worlds of their own.
    worlds = {
        m.group(1) for wit in (src / "wit").glob("*.wit") for m in _WORLD.finditer(wit.read_text())
    }
    if len(worlds) != 1:
        raise RuntimeError(f"fixture {src} must define exactly one world, found {sorted(worlds)}")
    return worlds.pop()


def _componentize_js() -> Path:
    tool = JS_TOOLCHAIN / "node_modules" / ".bin" / "componentize-js"
    if not tool.exists():
        raise FileNotFoundError(
            f"{tool} is missing: run `make js-toolchain` (make test does it) to install it"
        )
    return tool


def _build_command(src: Path) -> tuple[list[str], str]:
    """The build command for fixture ``src`` (writing ``OUT``) and a toolchain fingerprint."""
    if (src / "app.py").exists():
        tool = _tool("componentize-py")
        version = subprocess.run(
            [tool, "--version"], capture_output=True, text=True, check=True
        ).stdout
        return [tool, "-d", "wit", "-w", world_of(src), "componentize", "app", "-o", "OUT"], version
    if (src / "app.js").exists():
        tool = _componentize_js()
        lock = JS_TOOLCHAIN / "package-lock.json"
        version = "componentize-js " + hashlib.sha256(lock.read_bytes()).hexdigest()
        return [str(tool), "--wit", "wit", "-n", world_of(src), "-o", "OUT", "app.js"], version
    raise FileNotFoundError(f"no fixture sources (app.py or app.js) at {src}")


def build_component(name: str) -> Path:
    """Return the path of the built ``<name>`` component, building it if its sources changed."""
    src = FIXTURES / name
    cmd, version = _build_command(src)
    out = cache_dir() / f"{name}-{_digest(src, version)}.wasm"
    with FileLock(str(out) + ".lock"):
        if out.exists():
            return out
        tmp = out.with_suffix(".tmp.wasm")
        cmd = [str(tmp) if part == "OUT" else part for part in cmd]
        print(f"building test component {name} ...", file=sys.stderr)
        done = subprocess.run(cmd, cwd=src, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"building {name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        os.replace(tmp, out)
    return out


def warm_artifact(name: str) -> Path:
    """The compiled artifact of ``name`` in the test cache (compiled once, then reused)."""
    from wassette.runtime.engine import load_component

    cwasm = cache_dir() / "cwasm" / f"{name}.cwasm"
    with FileLock(str(cwasm) + ".build.lock"):
        load_component(build_component(name), cwasm, component_id=name)
    return cwasm


def install_component(
    name: str, plugin_dir: Path, component_id: str | None = None, *, warm: bool = True
) -> Path:
    """Install the built component into ``plugin_dir`` as ``<component_id>.wasm``.

    With ``warm`` the compiled artifact and its key are copied too (``copy2`` keeps the
    mtimes the key vouches for), so the runtime's own cache check accepts them and the test
    does not spend seconds compiling an 18 MB component again.
    """
    plugin_dir.mkdir(parents=True, exist_ok=True)
    cid = component_id or name
    dest = plugin_dir / f"{cid}.wasm"
    wasm = build_component(name)
    if warm:
        cwasm = warm_artifact(name)
        shutil.copy2(cwasm, plugin_dir / f"{cid}.compiled")
        shutil.copy2(cwasm.with_name(cwasm.name + ".key"), plugin_dir / f"{cid}.compiled.key")
    shutil.copy2(wasm, dest)
    return dest
