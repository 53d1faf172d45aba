"""invoke(): the sandbox grants exactly the capabilities, and every failure is explained.

Real componentize-py / componentize-js components built from tests/fixtures/components/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime
import wasmtime.component as wc

from wassette.errors import (
    ComponentArgumentError,
    ComponentMemoryError,
    ComponentTimeoutError,
    ComponentTrapError,
    NotFoundError,
    PolicyError,
)
from wassette.runtime.capabilities import DENY_ALL, Capabilities, Preopen
from wassette.runtime.engine import LoadedComponent, get_engine, wrap_component
from wassette.runtime.invoke import abandoned_calls, invoke

Get = Callable[[str], LoadedComponent]
CANARY = "CANARY-7f3e-secret-value"


def _err(value: object) -> str:
    """The error text of a ``result<_, string>`` value, failing the test if it is not an error.

    wasmtime-py returns ``Variant("err", text)`` when both cases are strings, else the bare
    payload (a ``str`` error next to a non-string ok type).
    """
    if isinstance(value, wc.Variant):
        assert value.tag == "err", f"expected an error, got ok: {value.payload!r}"
        assert isinstance(value.payload, str)
        return value.payload
    assert isinstance(value, str), f"expected an error, got {value!r}"
    return value


def _okv(value: object) -> object:
    """The ok payload of a ``result<string, string>`` value."""
    assert isinstance(value, wc.Variant) and value.tag == "ok", value
    return value.payload


def _ok(misbehaver: LoadedComponent) -> None:
    """The runtime still works: a fresh call on the same component succeeds."""
    assert invoke(misbehaver, ("ok",), [], DENY_ALL).value == "ok"


# --- environment -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["env-reader", "env-reader-js"])
def test_no_capabilities_means_no_environment(component: Get, name: str) -> None:
    env = component(name)
    assert invoke(env, ("list-vars",), [], DENY_ALL).value == []
    # Not even the variables of this very process leak in (PATH, HOME are always set here).
    assert invoke(env, ("get-var",), ["PATH"], DENY_ALL).value is None
    assert invoke(env, ("get-var",), ["HOME"], DENY_ALL).value is None


@pytest.mark.parametrize("name", ["env-reader", "env-reader-js"])
def test_env_list_reaches_the_guest_exactly(component: Get, name: str) -> None:
    env = component(name)
    pairs = (("API_KEY", CANARY), ("EMPTY", ""), ("URL", "a=b&c=d"), ("UNICODE", "grüße ✓"))
    caps = Capabilities(env=pairs)
    # Exactly these, in order, once each (WasiConfig.env appends on every assignment).
    assert invoke(env, ("list-vars",), [], caps).value == list(pairs)
    assert invoke(env, ("get-var",), ["API_KEY"], caps).value == CANARY
    assert invoke(env, ("get-var",), ["OTHER"], caps).value is None


def test_concurrent_calls_each_see_their_own_environment(component: Get) -> None:
    env = component("env-reader")
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        caps = Capabilities(env=(("WHO", f"caller-{i}"),))
        for _ in range(5):
            value = invoke(env, ("get-var",), ["WHO"], caps).value
            if value != f"caller-{i}":
                results[i] = value
                return
        results[i] = "ok"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == dict.fromkeys(range(4), "ok")


def test_env_values_are_redacted_from_guest_output_and_errors(component: Get) -> None:
    mis = component("misbehaver")
    caps = Capabilities(env=(("TOKEN", CANARY),))
    result = invoke(mis, ("chatter",), [f"leak {CANARY}"], caps)
    assert result.value == f"leak {CANARY}"  # the return value is the tool's business
    assert CANARY not in result.stdout and "[REDACTED:TOKEN]" in result.stdout
    assert CANARY not in result.stderr
    with pytest.raises(ComponentTrapError) as info:
        invoke(mis, ("crash",), [CANARY], caps)
    assert CANARY not in str(info.value)
    assert CANARY not in info.value.stderr_tail
    assert "[REDACTED:" in str(info.value)


def test_guest_output_is_captured_not_printed(
    component: Get, capfd: pytest.CaptureFixture[str]
) -> None:
    result = invoke(component("misbehaver"), ("chatter",), ["psst"], DENY_ALL)
    assert result.stdout == "stdout: psst\n"
    assert result.stderr == "stderr: psst\n"
    out, err = capfd.readouterr()
    assert "psst" not in out and "psst" not in err


# --- filesystem --------------------------------------------------------------------------------


def test_no_capabilities_means_no_files(component: Get) -> None:
    fs = component("fs-tool")
    listing = invoke(fs, ("list-dir",), ["/"], DENY_ALL).value
    assert "Error" in _err(listing)  # an error, not a listing
    # A real host file, by absolute path: invisible.
    leaked = invoke(fs, ("read-file",), [str(Path(__file__).resolve())], DENY_ALL).value
    assert "No such file" in _err(leaked)


def test_read_only_preopen_reads_but_refuses_writes(component: Get, sandbox_dir: Path) -> None:
    fs = component("fs-tool")
    guest = str(sandbox_dir)
    caps = Capabilities(preopens=(Preopen(sandbox_dir, guest, writable=False),))
    assert invoke(fs, ("list-dir",), [guest], caps).value == ["hello.txt"]
    read = invoke(fs, ("read-file",), [f"{guest}/hello.txt"], caps).value
    assert _okv(read) == "hello from the host\n"
    refused = invoke(fs, ("write-file",), [f"{guest}/new.txt", "x"], caps).value
    assert "PermissionError" in _err(refused)
    assert not (sandbox_dir / "new.txt").exists()
    overwrite = invoke(fs, ("write-file",), [f"{guest}/hello.txt", "x"], caps).value
    assert "Error" in _err(overwrite)
    assert (sandbox_dir / "hello.txt").read_text() == "hello from the host\n"


def test_writable_preopen_writes_and_nothing_else_is_visible(
    component: Get, sandbox_dir: Path, tmp_path: Path
) -> None:
    fs = component("fs-tool")
    guest = str(sandbox_dir)
    (tmp_path / "outside.txt").write_text("not yours")
    caps = Capabilities(preopens=(Preopen(sandbox_dir, guest, writable=True),))
    written = invoke(fs, ("write-file",), [f"{guest}/new.txt", "written by guest"], caps)
    assert written.value == len("written by guest")
    assert (sandbox_dir / "new.txt").read_text() == "written by guest"
    # Siblings of the preopen and `..` escapes stay out of reach.
    sibling = invoke(fs, ("read-file",), [str(tmp_path / "outside.txt")], caps).value
    escape = invoke(fs, ("read-file",), [f"{guest}/../outside.txt"], caps).value
    for value in (sibling, escape):
        assert "Error" in _err(value)


def test_missing_preopen_directory_is_a_policy_error(component: Get, tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    caps = Capabilities(preopens=(Preopen(missing, str(missing), writable=False),))
    with pytest.raises(PolicyError, match="storage permission"):
        invoke(component("fs-tool"), ("list-dir",), [str(missing)], caps)


# --- time limits -------------------------------------------------------------------------------


def test_busy_loop_times_out_on_time_and_runtime_recovers(component: Get) -> None:
    mis = component("misbehaver")
    started = time.monotonic()
    with pytest.raises(ComponentTimeoutError) as info:
        invoke(mis, ("spin",), [], Capabilities(timeout_seconds=1.0))
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0
    assert "1 s" in str(info.value) and "time limit" in str(info.value)
    _ok(mis)


def test_blocking_host_call_times_out_on_time_and_runtime_recovers(component: Get) -> None:
    mis = component("misbehaver")
    started = time.monotonic()
    with pytest.raises(ComponentTimeoutError) as info:
        invoke(mis, ("nap",), [5.0], Capabilities(timeout_seconds=1.0))
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0
    assert "blocked in a host call" in str(info.value)
    assert abandoned_calls() >= 1  # still sleeping in the background, on its own Store
    _ok(mis)


def test_a_call_within_the_limit_is_not_cut_short(component: Get) -> None:
    result = invoke(component("misbehaver"), ("nap",), [0.2], Capabilities(timeout_seconds=5))
    assert result.value == 1
    assert result.elapsed_seconds >= 0.2


# --- memory ------------------------------------------------------------------------------------


def test_memory_bomb_traps_cleanly_under_a_limit(component: Get) -> None:
    mis = component("misbehaver")
    caps = Capabilities(memory_limit_bytes=64 << 20)
    with pytest.raises(ComponentMemoryError) as info:
        invoke(mis, ("hog",), [1000], caps)
    message = str(info.value)
    assert "out of memory" in message and "MemoryError" in message
    assert "wassette permission grant memory misbehaver 128Mi" in message
    # The same limit is fine for a modest allocation, and the runtime keeps working.
    assert invoke(mis, ("hog",), [8], caps).value == 8
    _ok(mis)


def test_memory_limit_too_small_to_start_says_what_is_needed(component: Get) -> None:
    mis = component("misbehaver")
    with pytest.raises(PolicyError) as info:
        invoke(mis, ("ok",), [], Capabilities(memory_limit_bytes=1 << 20))
    message = str(info.value)
    assert "too small" in message and "needs at least" in message
    suggestion = re.search(r"grant memory misbehaver (\d+)Mi", message)
    assert suggestion is not None
    # Following the advice works.
    caps = Capabilities(memory_limit_bytes=int(suggestion.group(1)) << 20)
    assert invoke(mis, ("ok",), [], caps).value == "ok"


# --- traps and bad calls -----------------------------------------------------------------------


def test_trap_is_a_clean_error_with_the_guest_stderr(component: Get) -> None:
    mis = component("misbehaver")
    with pytest.raises(ComponentTrapError) as info:
        invoke(mis, ("crash",), ["on purpose"], DENY_ALL)
    assert not isinstance(info.value, ComponentMemoryError)
    message = str(info.value)
    assert "crashed" in message and "unreachable" in message
    assert "RuntimeError: crashing on purpose: on purpose" in message
    assert "RuntimeError" in info.value.stderr_tail
    assert (
        "backtrace" not in message.split("guest stderr", maxsplit=1)[0]
    )  # the root cause, not a dump
    _ok(mis)


def test_wrong_argument_types_are_argument_errors(component: Get) -> None:
    mis = component("misbehaver")
    with pytest.raises(ComponentArgumentError, match="chatter"):
        invoke(mis, ("chatter",), [5], DENY_ALL)
    with pytest.raises(ComponentArgumentError):
        invoke(mis, ("chatter",), [], DENY_ALL)
    _ok(mis)


def test_unknown_export_is_not_found(component: Get) -> None:
    with pytest.raises(NotFoundError, match="no export 'nope'"):
        invoke(component("misbehaver"), ("nope",), [], DENY_ALL)


def test_exports_inside_an_interface_are_reachable() -> None:
    wat = """(component
      (core module $m (func (export "f") (param i32) (result i32)
        (i32.mul (local.get 0) (i32.const 2))))
      (core instance $i (instantiate $m))
      (func $double (param "x" u32) (result u32) (canon lift (core func $i "f")))
      (instance $api (export "double" (func $double)))
      (export "test:math/api@1.0.0" (instance $api)))"""
    loaded = wrap_component(wc.Component(get_engine(), wat), component_id="math")
    assert invoke(loaded, ("test:math/api@1.0.0", "double"), [21], DENY_ALL).value == 42
    with pytest.raises(NotFoundError):
        invoke(loaded, ("test:math/api@1.0.0", "triple"), [1], DENY_ALL)


def test_unsatisfiable_import_is_explained() -> None:
    wat = """(component
      (import "acme:secret/backdoor" (instance $b (export "open" (func))))
      (core module $m (func (export "f") (result i32) i32.const 1))
      (core instance $i (instantiate $m))
      (func (export "f") (result u32) (canon lift (core func $i "f"))))"""
    loaded = wrap_component(wc.Component(get_engine(), wat), component_id="odd")
    with pytest.raises(Exception) as info:
        invoke(loaded, ("f",), [], DENY_ALL)
    assert "cannot be instantiated" in str(info.value)
    assert "acme:secret/backdoor" in str(info.value)
    assert isinstance(info.value.__cause__, wasmtime.WasmtimeError)


def test_too_many_blocked_calls_refuse_new_ones_until_they_finish(
    component: Get, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from wassette.errors import ComponentRunError
    from wassette.runtime import invoke as invoke_module

    monkeypatch.setattr(invoke_module, "MAX_ABANDONED_PER_COMPONENT", 1)
    mis = dataclasses.replace(component("misbehaver"), component_id="misbehaver-bounded")
    with pytest.raises(ComponentTimeoutError):
        invoke(mis, ("nap",), [1.5], Capabilities(timeout_seconds=0.2))
    assert abandoned_calls("misbehaver-bounded") == 1
    with pytest.raises(ComponentRunError, match="still blocked"):
        invoke(mis, ("ok",), [], DENY_ALL)
    deadline = time.monotonic() + 10
    while abandoned_calls("misbehaver-bounded") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert abandoned_calls("misbehaver-bounded") == 0  # the host call returned; thread gone
    assert invoke(mis, ("ok",), [], DENY_ALL).value == "ok"
