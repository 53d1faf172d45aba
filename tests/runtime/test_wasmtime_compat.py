"""The wasmtime-py internals we rely on are still there, and are touched only on purpose.

When one of these fails after a wasmtime-py upgrade, the message says what to re-check in
``src/wassette/runtime/_wasmtime_compat.py`` before moving the pin.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import wasmtime.component as wc
from wasmtime.component import _types as sdk_types

from wassette.runtime import _wasmtime_compat as compat

UPGRADE = (
    "re-check src/wassette/runtime/_wasmtime_compat.py against the new wasmtime-py: "
    "every name in PRIVATE_SYMBOLS, the (case name, lowered payload) contract and payload "
    "ownership of VariantLikeType._lower, and the epoch-deadline callback's C signature "
    "(wasmtime_store_epoch_deadline_callback); then run tests/runtime/test_values.py and "
    "tests/runtime/test_cancel.py and move PINNED_WASMTIME"
)


def test_the_pinned_wasmtime_py_is_installed() -> None:
    installed = version("wasmtime")
    assert installed == compat.PINNED_WASMTIME, (
        f"wasmtime-py {installed} is installed but the private-API layer was checked against "
        f"{compat.PINNED_WASMTIME}: {UPGRADE}"
    )


def test_every_private_symbol_we_use_exists() -> None:
    missing = compat.missing_private_symbols()
    assert not missing, f"wasmtime-py no longer has {', '.join(missing)}: {UPGRADE}"


def test_private_symbols_list_covers_the_variant_classes() -> None:
    """The hook wraps the one base class of variants, options and results: if wasmtime-py
    gives one of them its own ``_lower``, the hook would miss it."""
    for cls in (wc.VariantType, wc.OptionType, wc.ResultType):
        assert issubclass(cls, sdk_types.VariantLikeType), f"{cls.__name__}: {UPGRADE}"
        assert "_lower" not in vars(cls), f"{cls.__name__} overrides _lower: {UPGRADE}"


_PROBE = """
import sys
from wasmtime.component import _types
before = _types.VariantLikeType._lower
import wassette.runtime.values, wassette.runtime.invoke, wassette.manager
assert _types.VariantLikeType._lower is before, "patched at import time"
from wassette.runtime import _wasmtime_compat as compat
assert not compat.forced_cases_installed()
from wassette.runtime.engine import get_engine
get_engine()
assert compat.forced_cases_installed(), "the engine start-up did not install the hook"
assert _types.VariantLikeType._lower is not before
patched = _types.VariantLikeType._lower
assert compat.install() and _types.VariantLikeType._lower is patched, "install() not idempotent"
print("ok")
"""


def test_nothing_is_patched_at_import_and_the_engine_start_up_installs_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_install_refuses_cleanly_on_an_unexpected_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another wasmtime-py (a private name gone): nothing is patched, install says False."""
    monkeypatch.setattr(compat, "_installed", False)
    monkeypatch.setattr(
        compat, "PRIVATE_SYMBOLS", (*compat.PRIVATE_SYMBOLS, ("wasmtime._ffi", "no_such_fn"))
    )
    before = sdk_types.VariantLikeType._lower
    assert compat.install() is False
    assert compat.forced_cases_installed() is False
    assert sdk_types.VariantLikeType._lower is before


_BEFORE_ENGINE = """
import sys
from wassette.runtime import _wasmtime_compat as compat
from wassette.runtime.values import json_to_value
from wassette.schema.wit import WitType
t = WitType("variant", cases=(("small", WitType("u8")), ("flag", WitType("bool"))))
assert not compat.forced_cases_installed()
value = json_to_value(t, {"tag": "flag", "val": True})
assert value == compat.ForcedCase("flag", True), value
assert compat.forced_cases_installed()
assert "wassette.runtime.engine" not in sys.modules
print("ok")
"""


def test_arguments_checked_before_any_engine_still_get_their_case() -> None:
    """`tool call` checks arguments before it loads the component: the converter installs
    the hook itself rather than refusing a value the runtime can pass."""
    proc = subprocess.run(
        [sys.executable, "-c", _BEFORE_ENGINE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


NESTED = "test_kitchen-sink_api_0_1_0_echo-option-nested"


def test_lifted_variant_payloads_are_freed_box_and_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wasmtime-py 50 freed a returned option/result/variant payload's heap box with
    ``val_delete``, which leaves the box itself allocated (~50 bytes lost per call, forever:
    RSS grew linearly). Each ``some(some("x"))`` answer has two boxes: both are freed with
    ``val_free``, and the value still comes back whole."""
    from wasmtime import _ffi

    from tests.componentbuild import install_component
    from wassette.manager import ComponentManager
    from wassette.secretstore.store import SecretStore

    manager = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "s"), inherited_env={}
    )
    install_component("kitchen-sink", manager.component_dir)
    try:
        args = {"v": {"some": "x"}}  # some(some("x")): the inner option is the payload
        assert manager.call_tool(NESTED, args).structured == {"result": {"some": "x"}}
        freed: list[object] = []
        free = _ffi.wasmtime_component_val_free

        def counting(ptr: object) -> None:
            freed.append(ptr)
            free(ptr)

        monkeypatch.setattr(_ffi, "wasmtime_component_val_free", counting)
        for _ in range(5):
            answer = manager.call_tool(NESTED, args).structured
            assert answer == {"result": {"some": "x"}}
        assert len(freed) == 10
        assert manager.call_tool(NESTED, {"v": {"some": None}}).structured == {
            "result": {"some": None}
        }
        assert len(freed) == 11  # some(none): one box
    finally:
        manager.close()
