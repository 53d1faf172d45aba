"""Cancellation and time limits against the monotonic clock.

A cancelled guest stops at once (its Store's epoch callback traps it), a guest blocked in a host
call is abandoned on time, and a compute loop stops within its limit + 0.5 s even on a machine
whose cores are all busy (and is reported as computing, not as blocked).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import wasmtime

from wassette.errors import ComponentCancelledError, ComponentTimeoutError
from wassette.runtime.cancel import CancelHandle, StoreClock
from wassette.runtime.capabilities import DENY_ALL, Capabilities
from wassette.runtime.engine import LoadedComponent, get_engine
from wassette.runtime.invoke import CANCEL_GRACE_SECONDS, abandoned_calls, invoke

Get = Callable[[str], LoadedComponent]


def _cancel_later(handle: CancelHandle, delay: float) -> dict[str, float]:
    """Cancel ``handle`` after ``delay`` s on another thread; returns {'at': monotonic time}."""
    when: dict[str, float] = {}

    def run() -> None:
        time.sleep(delay)
        when["at"] = time.monotonic()
        handle.cancel("test cancelled it")

    threading.Thread(target=run, daemon=True).start()
    return when


def test_cancelled_spin_stops_at_once_and_uses_no_more_cpu(component: Get) -> None:
    mis = component("misbehaver")
    handle = CancelHandle()
    when = _cancel_later(handle, 0.5)
    with pytest.raises(ComponentCancelledError) as info:
        invoke(mis, ("spin",), [], Capabilities(timeout_seconds=30), cancel=handle)
    returned = time.monotonic() - when["at"]
    # ~30 ms to the next check of the guest, plus thread wake-ups on a shared machine.
    assert returned < 0.15, f"invoke returned {returned * 1000:.0f} ms after cancel"
    assert "test cancelled it" in str(info.value) and "stopped" in str(info.value)
    # The guest's thread is idle: the process burns (almost) no CPU from here on.
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(0.3)
    cpu = time.process_time() - cpu0
    assert cpu < 0.05, f"{cpu:.3f} s CPU in {time.monotonic() - wall0:.2f} s after cancel"
    assert abandoned_calls("misbehaver") == 0
    assert invoke(mis, ("ok",), [], DENY_ALL).value == "ok"


def test_cancelled_host_call_is_abandoned_on_time(component: Get) -> None:
    mis = component("misbehaver")
    handle = CancelHandle()
    when = _cancel_later(handle, 0.3)
    with pytest.raises(ComponentCancelledError) as info:
        invoke(mis, ("nap",), [3.0], Capabilities(timeout_seconds=30), cancel=handle)
    returned = time.monotonic() - when["at"]
    assert returned < CANCEL_GRACE_SECONDS + 0.15
    assert "abandoned" in str(info.value)
    assert invoke(mis, ("ok",), [], DENY_ALL).value == "ok"


def test_cancel_before_the_call_starts_runs_nothing(component: Get) -> None:
    handle = CancelHandle()
    handle.cancel()
    started = time.monotonic()
    with pytest.raises(ComponentCancelledError):
        invoke(
            component("misbehaver"), ("spin",), [], Capabilities(timeout_seconds=30), cancel=handle
        )
    assert time.monotonic() - started < 0.5


def test_a_finished_call_is_not_spoiled_by_a_late_cancel(component: Get) -> None:
    handle = CancelHandle()
    result = invoke(component("misbehaver"), ("ok",), [], DENY_ALL, cancel=handle)
    handle.cancel()
    assert result.value == "ok"


def test_store_clock_stops_a_tight_loop_without_calls() -> None:
    """A loop with no function call inside: the deadline cached by compiled code is never
    re-read, so only the epoch callback can stop it."""
    engine = get_engine()
    module = wasmtime.Module(engine, '(module (func (export "spin") (loop $l (br $l))))')
    store = wasmtime.Store(engine)
    clock = StoreClock.install(store, 30)
    handle = CancelHandle()
    clock.arm(30, handle)
    spin = wasmtime.Instance(store, module, []).exports(store)["spin"]
    assert isinstance(spin, wasmtime.Func)
    when = _cancel_later(handle, 0.2)
    with pytest.raises(wasmtime.WasmtimeError):
        spin(store)
    assert time.monotonic() - when["at"] < 0.1
    assert clock.stopped == "cancelled"


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Every core (and then some) busy with a CPU-bound process for the test's duration."""
    burn = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(4)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_compute_loop_stops_within_limit_under_cpu_load(component: Get, busy_cores: None) -> None:
    mis = component("misbehaver")
    limit = 1.5
    started = time.monotonic()
    with pytest.raises(ComponentTimeoutError) as info:
        invoke(mis, ("spin",), [], Capabilities(timeout_seconds=limit))
    elapsed = time.monotonic() - started
    print(f"limit {limit} s, stopped after {elapsed:.3f} s with every core busy")
    assert limit - 0.05 < elapsed < limit + 0.5, f"stopped after {elapsed:.2f} s"
    assert "still computing" in str(info.value)
    assert "blocked in a host call" not in str(info.value)
