"""Tool lookup from an index: no directory listing per call, yet every change is seen.

The index (tool name -> tool) is rebuilt when the component directory's stamp changes (a
component installed, removed or replaced by rename) and each hit is checked against the tool's
wasm stamp (a wasm rewritten in place).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import wassette.manager as manager_module
from tests.componentbuild import install_component
from wassette.errors import NotFoundError
from wassette.manager import ComponentManager
from wassette.secretstore.store import SecretStore


@pytest.fixture
def manager(tmp_path: Path) -> ComponentManager:
    m = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "secrets"), inherited_env={}
    )
    install_component("env-reader", m.component_dir)
    # Back-date the directory so the index is trusted at once (a stamp newer than the file
    # system's timestamp granularity is never trusted).
    past = time.time() - 5
    os.utime(m.component_dir, (past, past))
    yield m
    m.close()


def test_lookups_do_not_list_the_directory(
    manager: ComponentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert manager.find_tool("get-var").component_id == "env-reader"  # writes metadata
    time.sleep(0.1)  # past the timestamp-granularity window: the next index is trusted
    manager.find_tool("get-var")
    listings = []
    real = manager_module.installed_ids
    monkeypatch.setattr(manager_module, "installed_ids", lambda d: listings.append(d) or real(d))
    for _ in range(50):
        assert manager.find_tool("get-var").component_id == "env-reader"
    assert listings == []


def test_installing_and_removing_a_component_is_seen_at_once(manager: ComponentManager) -> None:
    assert manager.find_tool("get-var").component_id == "env-reader"
    with pytest.raises(NotFoundError):
        manager.find_tool("greet")
    install_component("hello", manager.component_dir)
    assert manager.find_tool("greet").component_id == "hello"
    for suffix in (".wasm", ".compiled", ".compiled.key", ".tools.json"):
        (manager.component_dir / f"hello{suffix}").unlink(missing_ok=True)
    with pytest.raises(NotFoundError):
        manager.find_tool("greet")


def test_a_wasm_rewritten_in_place_is_looked_up_again(
    manager: ComponentManager, tmp_path: Path
) -> None:
    assert manager.find_tool("get-var").component_id == "env-reader"
    # Replace env-reader's bytes with hello's *in place* (no rename: the dir stamp stays).
    hello_dir = tmp_path / "hello"
    install_component("hello", hello_dir, warm=False)
    wasm = manager.wasm_path("env-reader")
    before = os.stat(manager.component_dir)
    with open(hello_dir / "hello.wasm", "rb") as src, open(wasm, "r+b") as dst:
        dst.truncate(0)
        shutil.copyfileobj(src, dst)
    after = os.stat(manager.component_dir)
    assert (before.st_mtime_ns, before.st_ino) == (after.st_mtime_ns, after.st_ino)
    with pytest.raises(NotFoundError):
        manager.find_tool("get-var")  # the index entry's wasm stamp no longer matches


def test_wassettes_caches_beside_ours_are_left_alone(manager: ComponentManager) -> None:
    """Wassette keeps `<id>.cwasm` and `<id>.metadata.json` in the same (default) directory.
    Ours have other names: listing, compiling and calling never read or rewrite Wassette's
    files (sharing the names made each program recompile the other's artifact on every start,
    ~10 s and ~400 MB for an 18 MB component), and an unload removes both sets."""
    cdir = manager.component_dir
    theirs = {
        cdir / "env-reader.cwasm": b"\x7fELF not our engine's artifact",
        cdir / "env-reader.metadata.json": b'{"their": "format"}',
    }
    for path, data in theirs.items():
        path.write_bytes(data)
    stamps = {path: path.stat().st_mtime_ns for path in theirs}
    assert "get-var" in {t.name for t in manager.tools_of("env-reader")}
    result = manager.call_tool("get-var", {"key": "NOPE"})
    assert result is not None
    for path, data in theirs.items():
        assert path.read_bytes() == data
        assert path.stat().st_mtime_ns == stamps[path]
    assert (cdir / "env-reader.compiled").exists() and (cdir / "env-reader.tools.json").exists()
    removed = {p.name for p in manager.unload("env-reader")}
    assert {"env-reader.cwasm", "env-reader.metadata.json", "env-reader.compiled"} <= removed
