"""Tiny components written in WAT: valid tools that compile in milliseconds, for tests that
provision, list and call many components (an 18 MB componentize-py guest takes seconds)."""

from __future__ import annotations

from pathlib import Path


def answer_component(tool: str = "answer", value: int = 42) -> bytes:
    """A component exporting one tool ``tool: func() -> u32`` that returns ``value``."""
    import wasmtime

    text = f"""(component
  (core module $m (func (export "f") (result i32) i32.const {value}))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (export "{tool}" (func $f)))"""
    return bytes(wasmtime.wat2wasm(text))


def write_answer(path: Path, tool: str = "answer", value: int = 42) -> Path:
    """Write :func:`answer_component` to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(answer_component(tool, value))
    return path
