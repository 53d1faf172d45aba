"""The engine and the private .cwasm artifact cache: hits, mismatches, corruption, trust."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from tests.componentbuild import build_component
from wassette.errors import ComponentError
from wassette.runtime.capabilities import DENY_ALL
from wassette.runtime.engine import LoadedComponent, engine_fingerprint, get_engine, load_component
from wassette.runtime.invoke import invoke

Get = Callable[[str], LoadedComponent]


def _answer_wasm(path: Path, answer: int) -> Path:
    """A tiny real component exporting ``answer: func() -> u32``."""
    path.write_bytes(
        wasmtime.wat2wasm(
            f"""(component
              (core module $m (func (export "f") (result i32) i32.const {answer}))
              (core instance $i (instantiate $m))
              (func (export "answer") (result u32) (canon lift (core func $i "f"))))"""
        )
    )
    return path


def _answer(loaded: LoadedComponent) -> object:
    return invoke(loaded, ("answer",), [], DENY_ALL).value


@pytest.fixture
def wasm(tmp_path: Path) -> Path:
    return _answer_wasm(tmp_path / "answer.wasm", 42)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "answer.cwasm"


def _key(cache: Path) -> dict[str, object]:
    data = json.loads((cache.parent / (cache.name + ".key")).read_text())
    assert isinstance(data, dict)
    return data


def test_engine_is_shared() -> None:
    assert get_engine() is get_engine()


def test_first_load_compiles_and_writes_a_private_artifact(wasm: Path, cache: Path) -> None:
    loaded = load_component(wasm, cache, component_id="answer")
    assert not loaded.cache_hit
    assert _answer(loaded) == 42
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    key = _key(cache)
    assert key["engine"] == engine_fingerprint()
    assert key["wasm_sha256"] == loaded.wasm_sha256
    assert not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp")]


def test_second_load_is_a_cache_hit(wasm: Path, cache: Path) -> None:
    load_component(wasm, cache)
    again = load_component(wasm, cache)
    assert again.cache_hit
    assert _answer(again) == 42


def test_changed_wasm_is_recompiled(wasm: Path, cache: Path) -> None:
    first = load_component(wasm, cache)
    _answer_wasm(wasm, 43)
    changed = load_component(wasm, cache)
    assert not changed.cache_hit
    assert changed.wasm_sha256 != first.wasm_sha256
    assert _answer(changed) == 43
    assert load_component(wasm, cache).cache_hit


def test_touched_but_identical_wasm_is_still_a_hit(wasm: Path, cache: Path) -> None:
    load_component(wasm, cache)
    os.utime(wasm, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert load_component(wasm, cache).cache_hit  # hashed again: same content, same artifact


def test_engine_or_version_mismatch_is_recompiled(wasm: Path, cache: Path) -> None:
    load_component(wasm, cache)
    key_path = cache.parent / (cache.name + ".key")
    key = _key(cache)
    key["engine"] = "wasmtime=0.0.1;epoch_interruption=False"
    key_path.write_text(json.dumps(key))
    reloaded = load_component(wasm, cache)
    assert not reloaded.cache_hit
    assert _answer(reloaded) == 42
    assert _key(cache)["engine"] == engine_fingerprint()


def _corrupt_keeping_stamp(cache: Path, data: bytes) -> None:
    """Overwrite the artifact but keep its size and mtime, so only deserialize can notice."""
    st = cache.stat()
    assert len(data) == st.st_size
    cache.write_bytes(data)
    os.utime(cache, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("damage", ["garbage", "header", "truncated", "empty"])
def test_corrupt_artifact_falls_back_to_compiling(wasm: Path, cache: Path, damage: str) -> None:
    load_component(wasm, cache)
    original = cache.read_bytes()
    if damage == "garbage":
        _corrupt_keeping_stamp(cache, os.urandom(len(original)))
    elif damage == "header":
        _corrupt_keeping_stamp(cache, b"\x7fELF\x00\x00\x00\x00" + b"\xff" * (len(original) - 8))
    elif damage == "truncated":
        cache.write_bytes(original[: len(original) // 2])
    else:
        cache.write_bytes(b"")
    reloaded = load_component(wasm, cache)
    assert not reloaded.cache_hit
    assert _answer(reloaded) == 42
    assert load_component(wasm, cache).cache_hit  # and the cache was rewritten


def test_missing_or_garbled_key_falls_back_to_compiling(wasm: Path, cache: Path) -> None:
    load_component(wasm, cache)
    key_path = cache.parent / (cache.name + ".key")
    key_path.write_text("{not json")
    assert not load_component(wasm, cache).cache_hit
    key_path.unlink()
    assert not load_component(wasm, cache).cache_hit
    assert load_component(wasm, cache).cache_hit


def test_artifact_others_could_write_is_not_trusted(wasm: Path, cache: Path) -> None:
    load_component(wasm, cache)
    st = cache.stat()
    cache.chmod(0o644)
    os.utime(cache, ns=(st.st_atime_ns, st.st_mtime_ns))
    reloaded = load_component(wasm, cache)
    assert not reloaded.cache_hit
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_symlinked_artifact_is_not_trusted(wasm: Path, cache: Path, tmp_path: Path) -> None:
    load_component(wasm, cache)
    elsewhere = tmp_path / "elsewhere.cwasm"
    cache.rename(elsewhere)
    cache.symlink_to(elsewhere)
    assert not load_component(wasm, cache).cache_hit
    assert not cache.is_symlink()


def test_invalid_wasm_is_a_component_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\x00asm\x01\x00\x00\x00 definitely not a component")
    with pytest.raises(ComponentError, match="not a valid WebAssembly component"):
        load_component(bad, tmp_path / "bad.cwasm", component_id="bad")
    with pytest.raises(ComponentError, match="cannot read"):
        load_component(tmp_path / "missing.wasm", tmp_path / "missing.cwasm")


def test_real_component_cache_hit_is_fast(tmp_path: Path) -> None:
    wasm = build_component("hello")
    cache = tmp_path / "hello.cwasm"
    started = time.perf_counter()
    first = load_component(wasm, cache)
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = load_component(wasm, cache)
    hit_seconds = time.perf_counter() - started
    assert not first.cache_hit and again.cache_hit
    assert invoke(again, ("greet",), ["cache"], DENY_ALL).value == "hello, cache"
    assert hit_seconds < 0.25
    assert hit_seconds * 10 < compile_seconds
