"""WIT doc comments from a `package-docs` custom section, and a fuzzed reader."""

from __future__ import annotations

import json

import wasmtime
import wasmtime.component as wc
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.schema.kitchensink import API, PREFIX, kitchen_sink
from wassette.runtime.discovery import enumerate_tools
from wassette.schema import read_component_docs


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def custom_section(name: str, payload: bytes) -> bytes:
    body = _leb(len(name.encode())) + name.encode() + payload
    return b"\x00" + _leb(len(body)) + body


DOCS_V1 = {
    "package": "test:kitchen-sink@0.1.0",
    "worlds": {
        "kitchen-sink": {
            "docs": "The kitchen-sink world.",
            "func_exports": {"add": {"docs": "Add two numbers."}},
        }
    },
    "interfaces": {
        "api": {
            "docs": "Every WIT value type.",
            "funcs": {
                "divide": {"docs": "Divide a by b; an error when b is zero."},
                "echo-bool": {"docs": "Echo a boolean.", "stability": "unknown"},
            },
        }
    },
}


def test_docs_from_injected_section_become_descriptions() -> None:
    ks = kitchen_sink()
    # What Wassette's wit-docs-inject does: append a top-level custom section (version 1).
    wasm = ks.wasm + custom_section("package-docs", b"\x01" + json.dumps(DOCS_V1).encode())
    tools = {t.name: t for t in enumerate_tools(ks.component, ks.engine, wasm).tools}
    assert tools["add"].description == "Add two numbers."
    assert tools[PREFIX + "divide"].description == "Divide a by b; an error when b is zero."
    assert tools[PREFIX + "echo-bool"].description == "Echo a boolean."
    assert tools["swap"].description.startswith("Call the function `swap`")


def test_v0_format_and_unversioned_lookup() -> None:
    v0 = {
        "worlds": {"w": {"funcs": {"add": "Adds."}}},
        "interfaces": {"api": {"funcs": {"divide": "Divides."}}},
    }
    wasm = b"\x00asm\x0d\x00\x01\x00" + custom_section(
        "package-docs", b"\x00" + json.dumps(v0).encode()
    )
    docs = read_component_docs(wasm)
    assert docs.for_export(("add",)) == "Adds."
    assert docs.for_export((API, "divide")) == "Divides."
    assert docs.for_export(("other:pkg/api", "divide")) == "Divides."
    assert docs.for_export((API, "missing")) is None


def test_other_package_docs_do_not_leak_across_packages() -> None:
    data = {"package": "a:b", "interfaces": {"api": {"funcs": {"f": {"docs": "A's f."}}}}}
    wasm = b"\x00asm\x0d\x00\x01\x00" + custom_section(
        "package-docs", b"\x01" + json.dumps(data).encode()
    )
    docs = read_component_docs(wasm)
    assert docs.for_export(("a:b/api@1.0.0", "f")) == "A's f."


def test_malformed_sections_give_no_docs() -> None:
    head = b"\x00asm\x0d\x00\x01\x00"
    for payload in (
        b"",
        b"\x02{}",
        b"\x01{not json",
        b"\x01[1]",
        b"\x01\xff\xfe",
        b"\x01" + b"[" * 100000,
    ):
        assert read_component_docs(head + custom_section("package-docs", payload)).world_funcs == {}
    # A core module, or a truncated section, is not read at all.
    assert read_component_docs(b"\x00asm\x01\x00\x00\x00").world_funcs == {}
    truncated = head + custom_section("package-docs", b"\x01{}")[:-1]
    assert read_component_docs(truncated).world_funcs == {}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=60))
def test_reader_never_raises_on_garbage(tail: bytes, cut: int) -> None:
    good = custom_section("package-docs", b"\x01" + json.dumps(DOCS_V1).encode())
    wasm = b"\x00asm\x0d\x00\x01\x00" + tail + good
    read_component_docs(wasm)
    read_component_docs(wasm[: len(wasm) - cut])
    read_component_docs(b"\x00asm\x0d\x00\x01\x00" + good[:cut] + tail)


def test_a_component_with_the_section_still_compiles_and_gets_its_docs() -> None:
    from tests.schema.test_naming import NAMING_WAT

    docs = {
        "package": "ns:pkg",
        "worlds": {"w": {"func_exports": {"answer": {"docs": "The answer."}}}},
        "interfaces": {"api": {"funcs": {"f": {"docs": "F of api."}}}},
    }
    wasm = bytes(wasmtime.wat2wasm(NAMING_WAT))
    wasm += custom_section("package-docs", b"\x01" + json.dumps(docs).encode())
    engine = wasmtime.Engine()
    component = wc.Component(engine, wasm)  # wasmtime accepts the appended custom section
    described = {t.name: t.description for t in enumerate_tools(component, engine, wasm).tools}
    assert described["answer"] == "The answer."
    assert described["ns_pkg_api_f"] == "F of api."
    # Same function name in another interface of the package: no borrowed docs.
    assert described["ns_pkg_iface_1_2_3-rc_1_f"].startswith("Call the function `f`")
