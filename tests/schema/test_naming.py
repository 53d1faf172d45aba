"""Tool naming (reference §5) and tool enumeration on the real kitchen-sink component."""

from __future__ import annotations

import pytest
import wasmtime
import wasmtime.component as wc

from tests.schema.kitchensink import API, PREFIX, kitchen_sink
from wassette.runtime.discovery import enumerate_tools
from wassette.schema import tool_name


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("get-weather",), "get-weather"),
        (("example:weather/api", "get-weather"), "example_weather_api_get-weather"),
        (("wasi:http/handler@0.2.0", "handle"), "wasi_http_handler_0_2_0_handle"),
        (("Ns:Pkg/Iface", "Fn"), "ns_pkg_iface_fn"),
        (("local-iface", "do-it"), "local-iface_do-it"),
    ],
)
def test_tool_name(path: tuple[str, ...], name: str) -> None:
    assert tool_name(path) == name


def test_tool_name_needs_a_name() -> None:
    with pytest.raises(ValueError, match="at least one"):
        tool_name(())


ECHOES = [
    "echo-bool",
    *(f"echo-{k}" for k in ("u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64")),
    "echo-f32",
    "echo-f64",
    "echo-char",
    "echo-string",
    "echo-bytes",
    "echo-list",
    "echo-nested-list",
    "echo-point",
    "echo-config",
    "echo-tuple",
    "echo-shape",
    "echo-token",
    "echo-mixed",
    "echo-mode",
    "echo-perms",
    "echo-option",
    "echo-option-nested",
    "echo-result",
    "echo-result-empty",
    "echo-result-option",
    "echo-list-option",
    "echo-deep",
    "divide",
    "log-message",
    "no-params",
]


def test_kitchen_sink_tools_are_exactly_the_json_callable_exports() -> None:
    ks = kitchen_sink()
    discovery = enumerate_tools(ks.component, ks.engine)
    names = [t.name for t in discovery.tools]
    assert names == ["add", "swap", "pick", "maybe-name", "ping", *(PREFIX + e for e in ECHOES)]
    # componentize-py's internal instance is not a tool (Wassette exposes `exports_init`).
    assert not any(n.startswith("exports") for n in names)
    skipped = {s.export_path: s.reason for s in discovery.skipped}
    assert set(skipped) == {
        ("exports", "init"),
        (API, "[constructor]counter"),
        (API, "[method]counter.incr"),
        (API, "make-counter"),
        (API, "read-counter"),
    }
    assert "resource" in skipped[(API, "make-counter")]
    assert "parameter `c`" in skipped[(API, "read-counter")]
    spec = ks.tools[PREFIX + "echo-u8"]
    assert spec.export_path == (API, "echo-u8")
    assert ks.tools["add"].export_path == ("add",)
    assert [n for n, _ in ks.tools["add"].params] == ["a", "b"]
    assert str(ks.tools["add"].result) == "s32"


def test_descriptions_default_without_docs() -> None:
    ks = kitchen_sink()
    # componentize-py does not keep WIT docs in the component: the defaults apply.
    tools = {t.name: t for t in enumerate_tools(ks.component, ks.engine, ks.wasm).tools}
    assert tools["add"].description == "Call the function `add` exported by the component."
    assert tools[PREFIX + "divide"].description == (
        f"Call the function `divide` of the exported interface `{API}`."
    )


def test_mcp_tool_shape() -> None:
    ks = kitchen_sink()
    ping = ks.tools["ping"].as_mcp_tool()
    assert ping == {
        "name": "ping",
        "description": "Call the function `ping` exported by the component.",
        "inputSchema": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
        },
    }
    add = ks.tools["add"].as_mcp_tool()
    assert add["outputSchema"]["required"] == ["result"]


NAMING_WAT = """
(component
  (core module $m (func (export "f") (result i32) i32.const 42))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $a (export "f" (func $f)))
  (instance $b (export "f" (func $f)))
  (instance $c (export "do-it" (func $f)))
  (instance $d (export "init" (func $f)) (export "other" (func $f)))
  (export "ns:pkg/iface@1.2.3-rc.1" (instance $a))
  (export "ns:pkg/api" (instance $b))
  (export "local-iface" (instance $c))
  (export "exports" (instance $d))
  (export "answer" (func $f))
)
"""


def test_names_of_versioned_plain_and_kebab_instances() -> None:
    engine = wasmtime.Engine()
    component = wc.Component(engine, NAMING_WAT)
    discovery = enumerate_tools(component, engine)
    assert {t.name: t.export_path for t in discovery.tools} == {
        "ns_pkg_iface_1_2_3-rc_1_f": ("ns:pkg/iface@1.2.3-rc.1", "f"),
        "ns_pkg_api_f": ("ns:pkg/api", "f"),
        "local-iface_do-it": ("local-iface", "do-it"),
        # An `exports` instance that is not componentize-py's (it has more than `init`) is a
        # real interface and keeps its tools.
        "exports_init": ("exports", "init"),
        "exports_other": ("exports", "other"),
        "answer": ("answer",),
    }
    assert discovery.skipped == ()
    # The export path really finds the function.
    store = wasmtime.Store(engine)
    instance = wc.Linker(engine).instantiate(store, component)
    index = None
    for name in discovery.tools[2].export_path:
        index = instance.get_export_index(store, name, index)
    func = instance.get_func(store, index)
    assert func is not None
    assert func(store) == 42
