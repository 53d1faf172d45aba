"""The kitchen-sink test component, compiled once per session, and a direct caller for it.

Compiling the 18 MB componentize-py component takes ~8 s, so the compiled artifact is cached
next to the built wasm (our own file, same wasmtime version and default config).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from tests.componentbuild import build_component
from wassette.runtime.discovery import enumerate_tools
from wassette.schema import ToolSpec

API = "test:kitchen-sink/api@0.1.0"
PREFIX = "test_kitchen-sink_api_0_1_0_"


@dataclass(frozen=True)
class KitchenSink:
    engine: wasmtime.Engine
    component: wc.Component
    wasm: bytes
    tools: dict[str, ToolSpec]


@functools.cache
def kitchen_sink() -> KitchenSink:
    path = build_component("kitchen-sink")
    wasm = path.read_bytes()
    engine = wasmtime.Engine()
    compiled = Path(f"{path}.wasmtime-{version('wasmtime')}.cwasm")
    component = None
    if compiled.exists():
        try:
            component = wc.Component.deserialize_file(engine, str(compiled))
        except wasmtime.WasmtimeError:
            component = None
    if component is None:
        component = wc.Component(engine, wasm)
        tmp = compiled.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(component.serialize())
        os.replace(tmp, compiled)
    discovery = enumerate_tools(component, engine, wasm)
    return KitchenSink(engine, component, wasm, {t.name: t for t in discovery.tools})


class Caller:
    """Calls exported functions directly (plain linker, fresh store, empty WASI)."""

    def __init__(self, ks: KitchenSink) -> None:
        self.ks = ks
        self.linker = wc.Linker(ks.engine)
        self.linker.add_wasip2()
        self._fresh()

    def _fresh(self) -> None:
        self.store = wasmtime.Store(self.ks.engine)
        self.store.set_wasi(wasmtime.WasiConfig())
        self.instance = self.linker.instantiate(self.store, self.ks.component)

    def call(self, spec: ToolSpec, args: list[Any]) -> Any:
        index = None
        for name in spec.export_path:
            index = self.instance.get_export_index(self.store, name, index)
            assert index is not None, spec.export_path
        func = self.instance.get_func(self.store, index)
        assert func is not None
        try:
            return func(self.store, *args)
        except Exception:
            # A trapped instance is dead: start over for the next call.
            self._fresh()
            raise
