"""ToolSpec <-> JSON (for metadata files): exact round trips, and garbage is refused."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.schema.kitchensink import PREFIX, kitchen_sink
from wassette.schema import ToolSpec


def test_every_kitchen_sink_spec_round_trips_through_json() -> None:
    for spec in kitchen_sink().tools.values():
        data = json.loads(json.dumps(spec.to_json()))
        assert ToolSpec.from_json(data) == spec


def _mutations() -> list[Any]:
    good = kitchen_sink().tools[PREFIX + "echo-config"].to_json()
    out: list[Any] = [None, [], "x", {}]
    for key in good:
        broken = copy.deepcopy(good)
        del broken[key]
        out.append(broken)
    wrong_name = copy.deepcopy(good)
    wrong_name["name"] = "other"
    out.append(wrong_name)
    bad_kind = copy.deepcopy(good)
    bad_kind["params"][0][1]["kind"] = "u128"
    out.append(bad_kind)
    resource = copy.deepcopy(good)
    resource["params"][0][1] = {"kind": "own"}
    out.append(resource)
    list_without_element = copy.deepcopy(good)
    list_without_element["params"][0][1] = {"kind": "list"}
    out.append(list_without_element)
    deep: dict[str, Any] = {"kind": "u8"}
    for _ in range(1000):
        deep = {"kind": "list", "element": deep}
    too_deep = copy.deepcopy(good)
    too_deep["params"][0][1] = deep
    out.append(too_deep)
    return out


@pytest.mark.parametrize("data", _mutations())
def test_malformed_specs_raise_value_error(data: Any) -> None:
    with pytest.raises(ValueError):
        ToolSpec.from_json(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.sampled_from(["u8", "list", "record", "kind", "element", "fields", "option"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["kind", "element", "fields", "cases", "names", "elements", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_types_only_ever_raise_value_error(params_type: Any) -> None:
    data = {
        "name": "f",
        "description": "d",
        "export_path": ["f"],
        "params": [["v", params_type]],
        "result": params_type,
    }
    with contextlib.suppress(ValueError):
        ToolSpec.from_json(data)
