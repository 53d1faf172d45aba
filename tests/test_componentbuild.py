"""The fixture builder produces a real, loadable component and caches it by source hash."""

import wasmtime
import wasmtime.component as wc

from tests.componentbuild import build_component


def test_hello_component_builds_and_runs() -> None:
    path = build_component("hello")
    assert build_component("hello") == path  # cached: same artifact, no rebuild
    engine = wasmtime.Engine()
    component = wc.Component.from_file(engine, str(path))
    linker = wc.Linker(engine)
    linker.add_wasip2()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    instance = linker.instantiate(store, component)
    greet = instance.get_func(store, "greet")
    assert greet is not None
    assert greet(store, "wasm") == "hello, wasm"
