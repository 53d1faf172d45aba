"""JSON <-> component values through the REAL kitchen-sink component.

- every type round-trips: JSON -> value -> the component's echo -> JSON == the input;
- hypothesis: values generated from each tool's own JSON Schema round-trip exactly, and the
  result validates against the tool's output schema;
- adversarial: random JSON is accepted exactly when the JSON Schema accepts it, nothing but our
  validation errors is ever raised, and what is accepted comes back unchanged (no truncation);
- validation errors name the offending path and never echo the caller's string values.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import jsonschema
import pytest
import wasmtime.component as wc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schema.kitchensink import API, PREFIX, Caller, kitchen_sink
from wassette.errors import (
    ComponentError,
    InvalidArgumentsError,
    UnsupportedValueError,
    UsageError,
)
from wassette.runtime import _wasmtime_compat
from wassette.runtime._wasmtime_compat import ForcedCase
from wassette.runtime.values import (
    args_from_json,
    json_to_value,
    result_to_json,
    value_to_json,
)
from wassette.schema import ToolSpec, WitType
from wassette.schema.json_schema import F32_MAX

CANARY = "CANARY-xyz-123"


@pytest.fixture(scope="module")
def caller() -> Caller:
    return Caller(kitchen_sink())


def tool(name: str) -> ToolSpec:
    ks = kitchen_sink()
    return ks.tools[name] if name in ks.tools else ks.tools[PREFIX + name]


def echo(caller: Caller, spec: ToolSpec, v: Any) -> Any:
    out = result_to_json(spec, caller.call(spec, args_from_json(spec, {"v": v})))
    assert out is not None
    return out["result"]


CONFIG = {
    "name": "n",
    "retries": 255,
    "ratio": -0.5,
    "tags": ["a", ""],
    "origin": {"x": -(2**31), "y": 2**31 - 1},
    "mode": "very-slow",
    "perms": ["read", "exec-all"],
}
ROUND_TRIPS: list[tuple[str, Any]] = [
    ("echo-bool", True),
    ("echo-bool", False),
    ("echo-u8", 0),
    ("echo-u8", 255),
    ("echo-u16", 65535),
    ("echo-u32", 4294967295),
    ("echo-u64", 2**64 - 1),
    ("echo-s8", -128),
    ("echo-s16", -32768),
    ("echo-s32", -(2**31)),
    ("echo-s64", -(2**63)),
    ("echo-s64", 2**63 - 1),
    ("echo-f32", 1.5),
    ("echo-f32", -F32_MAX),
    ("echo-f64", 0.1),
    ("echo-f64", -0.0),
    ("echo-f64", 1.7976931348623157e308),
    ("echo-char", "x"),
    ("echo-char", "😀"),
    ("echo-string", ""),
    ("echo-string", "héllo 😀 \x00 end"),
    ("echo-bytes", []),
    ("echo-bytes", [0, 1, 255]),
    ("echo-list", [1, -2, 2**31 - 1]),
    ("echo-nested-list", [["a", "b"], [], [""]]),
    ("echo-point", {"x": 1, "y": -1}),
    ("echo-config", CONFIG),
    ("echo-config", {**CONFIG, "mode": None, "perms": [], "tags": []}),
    ("echo-tuple", [7, "seven", True]),
    ("echo-shape", {"tag": "circle", "val": 2.5}),
    ("echo-shape", {"tag": "rect", "val": {"x": 1, "y": 2}}),
    ("echo-shape", {"tag": "empty"}),
    ("echo-shape", {"tag": "label", "val": "l"}),
    ("echo-token", {"tag": "word", "val": "w"}),
    ("echo-token", {"tag": "letter", "val": "w"}),
    ("echo-token", {"tag": "count", "val": 3}),
    ("echo-token", {"tag": "index", "val": 2**64 - 1}),
    ("echo-token", {"tag": "none"}),
    ("echo-mixed", {"tag": "small", "val": 1}),
    ("echo-mixed", {"tag": "flag", "val": True}),
    ("echo-result-option", {"err": "bad"}),
    ("echo-mode", "fast"),
    ("echo-mode", "very-slow"),
    ("echo-perms", []),
    ("echo-perms", ["read", "write", "exec-all"]),
    ("echo-option", None),
    ("echo-option", 0),
    ("echo-option-nested", None),
    ("echo-option-nested", {"some": None}),
    ("echo-option-nested", {"some": "x"}),
    ("echo-result", {"ok": -5}),
    ("echo-result", {"err": "e"}),
    ("echo-result-empty", {"ok": None}),
    ("echo-result-empty", {"err": None}),
    ("echo-result-option", {"ok": None}),
    ("echo-result-option", {"ok": 4}),
    ("echo-list-option", [None, 0, -128, None]),
]


@pytest.mark.parametrize(("fn", "value"), ROUND_TRIPS)
def test_round_trip_through_the_component(caller: Caller, fn: str, value: Any) -> None:
    spec = tool(fn)
    result = echo(caller, spec, value)
    assert result == value
    assert type(result) is type(value)
    assert spec.output_schema is not None
    jsonschema.validate({"result": result}, spec.output_schema)


def test_world_level_and_multi_param_calls(caller: Caller) -> None:
    def run(name: str, args: Any) -> Any:
        spec = tool(name)
        return result_to_json(spec, caller.call(spec, args_from_json(spec, args)))

    assert run("add", {"a": 2**31 - 1, "b": -1}) == {"result": 2**31 - 2}
    assert run("swap", {"p": {"left": "abc", "right-side": 7}}) == {
        "result": {"left": "7", "right-side": 3}
    }
    assert run("pick", {"c": {"tag": "maybe", "val": 0.25}}) == {
        "result": {"tag": "maybe", "val": 0.25}
    }
    assert run("pick", {"c": {"tag": "no"}}) == {"result": {"tag": "no"}}
    assert run("maybe-name", {"n": "x"}) == {"result": "X"}
    assert run("maybe-name", {"n": None}) == {"result": None}
    assert run("ping", {}) is None
    assert run("ping", None) is None
    # result<s32, string> comes back from wasmtime-py as a bare 3 or a bare string: only the
    # type tells them apart.
    assert run("divide", {"a": 7, "b": 2}) == {"result": {"ok": 3}}
    assert run("divide", {"a": 1, "b": 0}) == {"result": {"err": "division by zero"}}
    assert run("log-message", {"level": "safe", "message": "m"}) is None
    assert run("no-params", {}) == {"result": "no params"}


def test_integral_floats_are_integers(caller: Caller) -> None:
    # JSON Schema counts 3.0 as an integer, and some clients send all numbers as floats.
    assert echo(caller, tool("echo-u8"), 3.0) == 3
    assert echo(caller, tool("echo-f64"), 3) == 3.0


def test_f32_rounds_to_nearest(caller: Caller) -> None:
    assert echo(caller, tool("echo-f32"), 0.1) == struct.unpack("f", struct.pack("f", 0.1))[0]


def test_non_finite_results_are_spelled_as_strings(caller: Caller) -> None:
    spec = tool("echo-f64")
    for raw, spelled in ((math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")):
        # JSON cannot carry these in; feed the SDK directly to see what comes out.
        out = result_to_json(spec, caller.call(spec, [raw]))
        assert out == {"result": spelled}
        assert spec.output_schema is not None
        jsonschema.validate(out, spec.output_schema)


def test_accepts_wasmtime_valtypes_directly() -> None:
    assert json_to_value(wc.U8(), 7) == 7
    assert value_to_json(wc.F64(), 1.0) == 1.0


# ---------------------------------------------------------------------------------------------
# Validation errors


def error_of(name: str, args: Any) -> InvalidArgumentsError:
    with pytest.raises(InvalidArgumentsError) as info:
        args_from_json(tool(name), args)
    return info.value


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "echo-config",
            {"v": {**CONFIG, "retries": 300}},
            "args.v.retries: 300 is out of range for u8 (0..255)",
        ),
        (
            "echo-config",
            {"v": {**CONFIG, "origin": {"x": 1}}},
            "args.v.origin.y: missing required field of type s32",
        ),
        ("echo-config", {"v": {**CONFIG, "zzz": 1}}, "args.v: unexpected field 'zzz'"),
        ("echo-config", {"v": {**CONFIG, "tags": ["a", 1]}}, "args.v.tags[1]: expected a string"),
        ("echo-config", {"v": {**CONFIG, "mode": "slow"}}, "args.v.mode: expected one of fast,"),
        ("echo-config", {"v": {**CONFIG, "perms": ["read", "read"]}}, "args.v.perms[1]: this flag"),
        ("echo-config", {"v": {**CONFIG, "ratio": "1"}}, "args.v.ratio: expected a number"),
        ("echo-u8", {"v": -1}, "args.v: -1 is out of range for u8 (0..255)"),
        ("echo-u8", {"v": 1.5}, "args.v: expected an integer, got a number"),
        ("echo-u8", {"v": True}, "args.v: expected an integer, got a boolean"),
        ("echo-u64", {"v": 2**64}, "args.v: 18446744073709551616 is out of range for u64"),
        ("echo-s64", {"v": 10**5000}, "args.v: a huge integer is out of range for s64"),
        ("echo-f32", {"v": 1e39}, "args.v: 1e+39 is out of range for f32"),
        ("echo-f64", {"v": math.inf}, "args.v: expected a finite number"),
        ("echo-f64", {"v": 10**400}, "args.v: a huge integer is out of range for f64"),
        ("echo-bool", {"v": 1}, "args.v: expected a boolean, got a number"),
        ("echo-char", {"v": "ab"}, "args.v: expected exactly one character"),
        ("echo-char", {"v": ""}, "args.v: expected exactly one character"),
        ("echo-char", {"v": "\ud800"}, "args.v: contains a lone surrogate"),
        ("echo-string", {"v": "ok\udfff"}, "args.v: contains a lone surrogate"),
        ("echo-bytes", {"v": [1, 256]}, "args.v[1]: 256 is out of range for u8"),
        ("echo-bytes", {"v": [1, True]}, "args.v[1]: expected an integer, got a boolean"),
        ("echo-list", {"v": [0, -(2**31) - 1]}, "args.v[1]: -2147483649 is out of range for s32"),
        ("echo-bytes", {"v": "AAEC"}, "args.v: expected an array, got a string"),
        ("echo-tuple", {"v": [1, "x"]}, "args.v: expected an array of exactly 3 items, got 2"),
        ("echo-tuple", {"v": [1, "x", None]}, "args.v[2]: expected a boolean, got null"),
        ("echo-shape", {"v": {"tag": "circle"}}, "args.v.val: missing the payload of case"),
        ("echo-shape", {"v": {"tag": "nope"}}, "args.v.tag: expected one of circle, rect"),
        ("echo-shape", {"v": {"tag": "empty", "val": 1}}, "args.v: unexpected field 'val'"),
        ("echo-shape", {"v": 2.5}, "args.v: expected an object"),
        ("echo-shape", {"v": {"tag": "rect", "val": {"x": 1}}}, "args.v.val.y: missing"),
        ("echo-option", {"v": -1}, "args.v: -1 is out of range for u32"),
        ("echo-option-nested", {"v": "x"}, 'args.v: expected null or {"some": <value>}'),
        ("echo-option-nested", {"v": {"some": 5}}, "args.v.some: expected a string"),
        ("echo-result", {"v": {"ok": 1, "err": "x"}}, "args.v: expected an object with exactly"),
        ("echo-result", {"v": {"ok": "x"}}, "args.v.ok: expected an integer"),
        ("echo-result", {"v": 3}, "args.v: expected an object with exactly one key"),
        ("echo-result-empty", {"v": {"err": 0}}, "args.v.err: expected null"),
        ("echo-list-option", {"v": [None, 128]}, "args.v[1]: 128 is out of range for s8"),
        ("echo-u8", {}, "args.v: missing required argument of type u8"),
        ("echo-u8", {"v": 1, "w": 2}, "args: unexpected argument 'w' (expected: v)"),
        ("echo-u8", [1], "args: expected a JSON object of named arguments, got an array"),
        ("no-params", {"x": 1}, "args: unexpected argument 'x' (expected: no arguments)"),
        ("add", {"a": 1}, "args.b: missing required argument of type s32"),
    ],
)
def test_validation_errors_name_the_path(name: str, args: Any, message: str) -> None:
    err = error_of(name, args)
    assert str(err).startswith(message), str(err)
    assert isinstance(err, UsageError)
    assert err.exit_code == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("echo-mode", CANARY),
        ("echo-perms", ["read", CANARY]),
        ("echo-shape", {"tag": CANARY}),
        ("echo-u8", CANARY),
        ("echo-char", CANARY),
        ("echo-tuple", [CANARY, CANARY, CANARY]),
        ("echo-token", {"tag": "count", "val": CANARY}),
    ],
)
def test_messages_never_echo_string_values(name: str, value: Any) -> None:
    err = error_of(name, {"v": value})
    assert CANARY not in str(err)
    assert CANARY not in repr(err.args)


def test_lone_surrogate_char_is_refused_before_it_can_abort_the_process(caller: Caller) -> None:
    # Passing chr(0xD800) as a `char` to wasmtime-py 50 aborts the interpreter (a Rust panic
    # in the C API): validation must stop it first, and the instance stays usable.
    spec = tool("echo-char")
    with pytest.raises(InvalidArgumentsError):
        args_from_json(spec, {"v": "\ud800"})
    assert echo(caller, spec, "z") == "z"


# ---------------------------------------------------------------------------------------------
# wasmtime-py's ambiguous variants


def test_sdk_alone_would_misroute_bool_after_int_case(caller: Caller) -> None:
    spec = tool("echo-mixed")
    # What wasmtime-py does with the bare payload True: it is an int, so it becomes small(1).
    assert caller.call(spec, [True]) == 1
    # Ours passes the case by name.
    args = args_from_json(spec, {"v": {"tag": "flag", "val": True}})
    assert args == [ForcedCase("flag", True)]
    assert result_to_json(spec, caller.call(spec, args)) == {"result": {"tag": "flag", "val": True}}


def test_sdk_alone_cannot_pass_err_after_option_ok(caller: Caller) -> None:
    spec = tool("echo-result-option")
    with pytest.raises(ValueError, match="not valid for this variant"):
        caller.call(spec, ["bad"])
    assert echo(caller, spec, {"err": "bad"}) == {"err": "bad"}


def test_forced_cases_nest(caller: Caller) -> None:
    spec = tool("echo-deep")
    value = [{"ok": {"tag": "flag", "val": False}}, {"ok": {"tag": "small", "val": 0}}, {"err": ""}]
    assert echo(caller, spec, value) == value


def test_without_the_hook_ambiguous_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a wasmtime-py whose internals differ from the pinned one: install() refuses.
    monkeypatch.setattr(_wasmtime_compat, "forced_cases_installed", lambda: False)
    monkeypatch.setattr(_wasmtime_compat, "install", lambda: False)
    with pytest.raises(UnsupportedValueError) as info:
        args_from_json(tool("echo-mixed"), {"v": {"tag": "flag", "val": True}})
    assert str(info.value).startswith("args.v: the variant case `flag` cannot be passed")
    assert "would pass this one as case `small`" in str(info.value)
    assert isinstance(info.value, ComponentError)
    # Unambiguous values still go through as wasmtime-py's plain bare payloads.
    assert args_from_json(tool("echo-mixed"), {"v": {"tag": "small", "val": 2}}) == [2]


def test_tagged_and_bare_values_match_the_sdk() -> None:
    token = dict(tool("echo-token").params)["v"]
    assert json_to_value(token, {"tag": "letter", "val": "x"}) == wc.Variant("letter", "x")
    assert json_to_value(token, {"tag": "none"}) == wc.Variant("none", None)
    shape = dict(tool("echo-shape").params)["v"]
    assert json_to_value(shape, {"tag": "circle", "val": 2}) == 2.0
    assert json_to_value(shape, {"tag": "empty"}) is None
    nested = dict(tool("echo-option-nested").params)["v"]
    assert json_to_value(nested, {"some": None}) == wc.Variant("some", None)
    assert json_to_value(nested, None) == wc.Variant("none", None)
    perms = dict(tool("echo-perms").params)["v"]
    assert json_to_value(perms, ["write"]) == {"write"}
    assert json_to_value(WitType("list", element=WitType("u8")), [1, 2.0]) == b"\x01\x02"
    assert json_to_value(WitType("list", element=WitType("u8")), []) == b""


# ---------------------------------------------------------------------------------------------
# Property tests


def from_schema(s: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: PLR0911, PLR0912
    """Valid JSON for the subset of JSON Schema that wassette.schema emits."""
    for key in ("anyOf", "oneOf"):
        if key in s:
            return st.one_of([from_schema(x) for x in s[key]])
    if "const" in s:
        return st.just(s["const"])
    if "enum" in s:
        return st.sampled_from(s["enum"])
    t = s["type"]
    if t == "null":
        return st.none()
    if t == "boolean":
        return st.booleans()
    if t == "integer":
        return st.integers(s["minimum"], s["maximum"])
    if t == "number":
        width = 32 if s["maximum"] == F32_MAX else 64
        return st.floats(width=width, allow_nan=False, allow_infinity=False)
    if t == "string":
        if s.get("maxLength") == 1:
            return st.characters(blacklist_categories=("Cs",))
        return st.text(max_size=20)
    if t == "array":
        if "prefixItems" in s:
            return st.tuples(*(from_schema(x) for x in s["prefixItems"])).map(list)
        items = s["items"]
        if s.get("uniqueItems"):
            names = items["enum"]
            return st.sets(st.sampled_from(names)).map(lambda c: [n for n in names if n in c])
        return st.lists(from_schema(items), max_size=5)
    assert t == "object", s
    return st.fixed_dictionaries({k: from_schema(v) for k, v in s["properties"].items()})


ECHO_TOOLS = sorted(
    name[len(PREFIX) :] for name in kitchen_sink().tools if name.startswith(PREFIX + "echo-")
)


@pytest.mark.parametrize("fn", ECHO_TOOLS)
def test_schema_generated_values_round_trip(caller: Caller, fn: str) -> None:
    spec = tool(fn)
    schema = spec.input_schema["properties"]["v"]
    assert spec.output_schema is not None
    out_schema = spec.output_schema

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(schema))
    def prop(v: Any) -> None:
        jsonschema.validate(v, schema)
        args = args_from_json(spec, {"v": v})
        out = result_to_json(spec, caller.call(spec, args))
        assert out == {"result": v}
        jsonschema.validate(out, out_schema)

    prop()


KEYS = [
    "tag", "val", "ok", "err", "some", "x", "y", "v", "name", "retries", "ratio", "tags",
    "origin", "mode", "perms", "left", "right-side",
]  # fmt: skip
NAMES = [
    "fast", "safe", "very-slow", "read", "write", "exec-all", "circle", "rect", "empty",
    "label", "word", "letter", "count", "index", "none", "small", "flag", "a", "😀", "",
]  # fmt: skip
INTS = [0, 1, -1, 127, 128, -128, -129, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -(2**31),
        -(2**31) - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1,
        2**64, 10**39, -(10**400)]  # fmt: skip
FLOATS = [0.0, -0.0, 1.5, 3.0, 255.0, 256.0, 1e20, 1e39, -1e39, 3.4028234663852886e38,
          3.4028235e38, 1.7976931348623157e308]  # fmt: skip

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INTS),
    st.integers(),
    st.sampled_from(FLOATS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NAMES),
    st.text(max_size=3),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=2)), inner, max_size=4),
    ),
    max_leaves=12,
)


def shaped(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly-valid values with one random part swapped: they reach the deep checks."""
    return st.one_of(json_values, from_schema(schema), _mutated(schema))


def _mutated(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    def mutate(v: Any, data: st.DataObject) -> Any:
        if isinstance(v, dict) and v:
            key = data.draw(st.sampled_from(sorted(v)))
            return {**v, key: data.draw(json_values)}
        if isinstance(v, list) and v:
            i = data.draw(st.integers(0, len(v) - 1))
            return [*v[:i], data.draw(json_values), *v[i + 1 :]]
        return data.draw(json_values)

    return st.tuples(from_schema(schema), st.data()).map(lambda p: mutate(*p))


def normalize(t: WitType, v: Any) -> Any:  # noqa: PLR0911
    """What an accepted value must come back as: float rounding and flag order only."""
    if t.kind == "f32":
        return struct.unpack("f", struct.pack("f", float(v)))[0]
    if t.kind == "f64":
        return float(v)  # an integer beyond 2**53 rounds, as in any JSON parser
    if t.kind in ("u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64"):
        return int(v)
    if t.kind == "flags":
        return [n for n in t.names if n in v]
    if t.kind == "list" and t.element is not None:
        return [normalize(t.element, e) for e in v]
    if t.kind == "tuple":
        return [normalize(e, x) for e, x in zip(t.elements, v, strict=True)]
    if t.kind == "record":
        return {n: normalize(ft, v[n]) for n, ft in t.fields}
    if t.kind == "option":
        some = t.cases[1][1]
        if v is None or some is None:
            return v
        if some.kind == "option":
            return {"some": normalize(some, v["some"])}
        return normalize(some, v)
    if t.kind == "result":
        ((key, payload),) = v.items()
        pt = dict(t.cases)[key]
        return {key: None if pt is None else normalize(pt, payload)}
    if t.kind == "variant":
        pt = dict(t.cases)[v["tag"]]
        return v if pt is None else {"tag": v["tag"], "val": normalize(pt, v["val"])}
    return v


@pytest.mark.parametrize("fn", ECHO_TOOLS)
def test_adversarial_json_agrees_with_the_schema(caller: Caller, fn: str) -> None:
    spec = tool(fn)
    schema = spec.input_schema["properties"]["v"]
    wit = dict(spec.params)["v"]
    validator = jsonschema.Draft202012Validator(schema)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(shaped(schema))
    def prop(v: Any) -> None:
        valid = validator.is_valid(v)
        try:
            args = args_from_json(spec, {"v": v})
        except InvalidArgumentsError as err:
            assert not valid, f"schema accepts what the converter refuses: {err}"
            assert str(err).startswith("args.v")
            return
        assert valid, "the converter accepts what the schema refuses"
        out = result_to_json(spec, caller.call(spec, args))
        assert out == {"result": normalize(wit, v)}

    prop()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_adversarial_argument_objects(arguments: Any) -> None:
    for name in ("add", "swap", "log-message", "no-params", "echo-config"):
        spec = tool(name)
        valid = jsonschema.Draft202012Validator(spec.input_schema).is_valid(arguments)
        try:
            args_from_json(spec, arguments)
        except InvalidArgumentsError:
            assert not valid or arguments is None
            continue
        assert valid or arguments is None


def test_api_constant_matches_the_component() -> None:
    assert tool("echo-u8").export_path[0] == API
