"""WIT -> JSON Schema: the exact schema of every WIT type, read from the real component."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.schema.kitchensink import PREFIX, kitchen_sink
from wassette.schema import UnsupportedTypeError, WitType, output_schema, type_schema
from wassette.schema.wit import list_of, option_of, result_of


def obj(**props: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def int_(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


F32 = {"type": "number", "minimum": -3.4028234663852886e38, "maximum": 3.4028234663852886e38}
F64 = {"type": "number", "minimum": -1.7976931348623157e308, "maximum": 1.7976931348623157e308}
STR = {"type": "string"}
S32 = int_(-(2**31), 2**31 - 1)
POINT = obj(x=S32, y=S32)
MODE = {"type": "string", "enum": ["fast", "safe", "very-slow"]}
PERMS = {
    "type": "array",
    "items": {"type": "string", "enum": ["read", "write", "exec-all"]},
    "uniqueItems": True,
}
NULL = {"type": "null"}


def case(tag: str, val: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"tag": {"const": tag}}
    if val is not None:
        props["val"] = val
    return obj(**props)


EXPECTED: dict[str, dict[str, Any]] = {
    "echo-bool": {"type": "boolean"},
    "echo-u8": int_(0, 255),
    "echo-u16": int_(0, 65535),
    "echo-u32": int_(0, 4294967295),
    "echo-u64": int_(0, 18446744073709551615),
    "echo-s8": int_(-128, 127),
    "echo-s16": int_(-32768, 32767),
    "echo-s32": S32,
    "echo-s64": int_(-9223372036854775808, 9223372036854775807),
    "echo-f32": F32,
    "echo-f64": F64,
    "echo-char": {"type": "string", "minLength": 1, "maxLength": 1},
    "echo-string": STR,
    "echo-bytes": {"type": "array", "items": int_(0, 255)},
    "echo-list": {"type": "array", "items": S32},
    "echo-nested-list": {"type": "array", "items": {"type": "array", "items": STR}},
    "echo-point": POINT,
    "echo-config": obj(
        name=STR,
        retries=int_(0, 255),
        ratio=F64,
        tags={"type": "array", "items": STR},
        origin=POINT,
        mode={"anyOf": [NULL, MODE]},
        perms=PERMS,
    ),
    "echo-tuple": {
        "type": "array",
        "prefixItems": [int_(0, 255), STR, {"type": "boolean"}],
        "minItems": 3,
        "maxItems": 3,
    },
    "echo-shape": {
        "oneOf": [case("circle", F64), case("rect", POINT), case("empty"), case("label", STR)]
    },
    "echo-token": {
        "oneOf": [
            case("word", STR),
            case("letter", {"type": "string", "minLength": 1, "maxLength": 1}),
            case("count", int_(0, 4294967295)),
            case("index", int_(0, 18446744073709551615)),
            case("none"),
        ]
    },
    "echo-mixed": {"oneOf": [case("small", int_(0, 255)), case("flag", {"type": "boolean"})]},
    "echo-mode": MODE,
    "echo-perms": PERMS,
    "echo-option": {"anyOf": [NULL, int_(0, 4294967295)]},
    # option<option<string>>: the present case is wrapped so `null` is never ambiguous.
    "echo-option-nested": {"anyOf": [NULL, obj(some={"anyOf": [NULL, STR]})]},
    "echo-result": {"oneOf": [obj(ok=S32), obj(err=STR)]},
    "echo-result-empty": {"oneOf": [obj(ok=NULL), obj(err=NULL)]},
    "echo-result-option": {"oneOf": [obj(ok={"anyOf": [NULL, int_(0, 4294967295)]}), obj(err=STR)]},
    "echo-list-option": {"type": "array", "items": {"anyOf": [NULL, int_(-128, 127)]}},
    "echo-deep": {
        "type": "array",
        "items": {
            "oneOf": [
                obj(
                    ok={
                        "oneOf": [
                            case("small", int_(0, 255)),
                            case("flag", {"type": "boolean"}),
                        ]
                    }
                ),
                obj(err=STR),
            ]
        },
    },
}


@pytest.mark.parametrize("fn", sorted(EXPECTED))
def test_input_schema_of_every_type(fn: str) -> None:
    spec = kitchen_sink().tools[PREFIX + fn]
    assert spec.input_schema == obj(v=EXPECTED[fn])


def test_output_schemas() -> None:
    tools = kitchen_sink().tools
    assert tools[PREFIX + "echo-u8"].output_schema == obj(result=int_(0, 255))
    assert tools[PREFIX + "log-message"].output_schema is None
    assert tools["ping"].output_schema is None
    # JSON has no NaN or infinities: on output they are spelled as strings.
    non_finite = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}
    assert tools[PREFIX + "echo-f32"].output_schema == obj(result={"anyOf": [F32, non_finite]})
    config_out = tools[PREFIX + "echo-config"].output_schema
    assert config_out is not None
    ratio = config_out["properties"]["result"]["properties"]["ratio"]
    assert ratio == {"anyOf": [F64, non_finite]}


def test_multi_param_and_world_level_schemas() -> None:
    tools = kitchen_sink().tools
    assert tools["add"].input_schema == obj(a=S32, b=S32)
    assert tools[PREFIX + "log-message"].input_schema == obj(level=MODE, message=STR)
    assert tools["swap"].input_schema == obj(p=obj(left=STR, **{"right-side": int_(0, 65535)}))
    assert tools["pick"].input_schema == obj(
        c={"oneOf": [case("yes"), case("no"), case("maybe", F32)]}
    )
    assert tools["maybe-name"].input_schema == obj(n={"anyOf": [NULL, STR]})


def test_every_schema_is_valid_draft_2020_12() -> None:
    for spec in kitchen_sink().tools.values():
        Draft202012Validator.check_schema(spec.input_schema)
        if spec.output_schema is not None:
            Draft202012Validator.check_schema(spec.output_schema)


def test_hand_built_types() -> None:
    u8 = WitType("u8")
    assert type_schema(list_of(list_of(u8))) == {
        "type": "array",
        "items": {"type": "array", "items": int_(0, 255)},
    }
    assert type_schema(option_of(option_of(option_of(u8)))) == {
        "anyOf": [
            NULL,
            obj(some={"anyOf": [NULL, obj(some={"anyOf": [NULL, int_(0, 255)]})]}),
        ]
    }
    assert type_schema(result_of(None, u8)) == {"oneOf": [obj(ok=NULL), obj(err=int_(0, 255))]}
    assert output_schema(None) is None


@pytest.mark.parametrize("kind", ["own", "borrow", "future", "stream", "error-context"])
def test_non_json_types_have_no_schema(kind: str) -> None:
    with pytest.raises(UnsupportedTypeError):
        type_schema(list_of(WitType(kind)))
