"""``LoadedComponent.memo``: what the call path derives from a compiled component once (its
linker, export indices) is built once per key, even by racing threads, and a failed build
leaves nothing behind."""

from __future__ import annotations

import threading
import time

import pytest
import wasmtime.component as wc

from tests.manifest.watcomponents import answer_component
from wassette.errors import NotFoundError
from wassette.runtime import sandbox
from wassette.runtime.engine import LoadedComponent, get_engine, wrap_component


def _loaded() -> LoadedComponent:
    return wrap_component(wc.Component(get_engine(), answer_component()), component_id="answer")


def test_built_once_per_key_even_when_threads_race() -> None:
    loaded = _loaded()
    builds: list[int] = []

    def build() -> int:
        time.sleep(0.01)  # a slow build: every thread misses before the first one stores
        builds.append(1)
        return len(builds)

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(loaded.memo("k", build))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [1]
    assert results == [1] * 8
    assert loaded.memo("other", lambda: "x") == "x"


def test_a_failed_build_stores_nothing() -> None:
    loaded = _loaded()

    def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        loaded.memo("k", fail)
    assert loaded.memo("k", lambda: 7) == 7


def test_linker_and_export_index_are_kept_and_a_missing_export_is_not() -> None:
    loaded = _loaded()
    assert sandbox.linker(loaded) is sandbox.linker(loaded)
    first = sandbox.export_index(loaded, ("answer",))
    assert sandbox.export_index(loaded, ("answer",)) is first
    for _ in range(2):
        with pytest.raises(NotFoundError, match="no export 'nope'"):
            sandbox.export_index(loaded, ("nope",))
