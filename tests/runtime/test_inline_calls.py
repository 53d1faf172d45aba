"""Inline calls (the stdio front's): the guest runs on the caller's thread, and the watchdog
answers for a guest stuck past its limit or its cancellation, exactly once.

Real misbehaving components: ``nap`` blocks in a host call (a sleep, uninterruptible),
``spin`` computes (the epoch deadline traps it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.componentbuild import install_component
from wassette.errors import ComponentCancelledError, ComponentTimeoutError, WassetteError
from wassette.manager import ComponentManager
from wassette.runtime.cancel import CancelHandle
from wassette.runtime.capabilities import DENY_ALL, Capabilities
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.invoke import (
    CANCEL_GRACE_SECONDS,
    LATE_TRAP_SECONDS,
    TIMEOUT_GRACE_SECONDS,
    CallAbandoned,
    abandoned_calls,
    invoke,
)
from wassette.runtime.pool import InstancePool
from wassette.runtime.threads import Watchdog, WorkerPool, deferred_frees
from wassette.secretstore.store import SecretStore

Get = Callable[[str], LoadedComponent]


class Reports:
    """What on_abandon received, and from which thread, when."""

    def __init__(self) -> None:
        self.errors: list[WassetteError] = []
        self.threads: list[str] = []
        self.at: list[float] = []
        self.event = threading.Event()

    def __call__(self, exc: WassetteError) -> None:
        self.errors.append(exc)
        self.threads.append(threading.current_thread().name)
        self.at.append(time.monotonic())
        self.event.set()


def test_an_inline_call_runs_on_the_callers_thread(
    component: Get, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wassette.runtime import invoke as invoke_module

    guest_threads: list[str] = []
    export = invoke_module._call_export

    def spy(*args: object, **kwargs: object) -> None:
        guest_threads.append(threading.current_thread().name)
        export(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(invoke_module, "_call_export", spy)
    reports = Reports()
    mis = component("misbehaver")
    assert invoke(mis, ("ok",), [], DENY_ALL, on_abandon=reports).value == "ok"
    assert guest_threads == [threading.current_thread().name]
    assert invoke(mis, ("ok",), [], DENY_ALL).value == "ok"  # the waiting mode: a worker
    assert guest_threads[1] == "wassette-call"
    assert reports.errors == []  # answered by the caller, not by the watchdog


def test_a_guest_blocked_past_its_limit_is_answered_once_by_the_watchdog(component: Get) -> None:
    mis = component("misbehaver")
    reports = Reports()
    started = time.monotonic()
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            invoke(mis, ("nap",), [2.5], Capabilities(timeout_seconds=0.5), on_abandon=reports)
        except BaseException as exc:  # recorded for the assertions
            outcome["exc"] = exc

    caller = threading.Thread(target=run)
    caller.start()
    assert reports.event.wait(10)
    answered = reports.at[0] - started
    # The same bound as a waiting caller: limit + grace + late trap (+ watchdog precision).
    assert 0.5 <= answered < 0.5 + TIMEOUT_GRACE_SECONDS + LATE_TRAP_SECONDS + 0.4
    assert isinstance(reports.errors[0], ComponentTimeoutError)
    assert "abandoned" in str(reports.errors[0])
    assert reports.threads == ["wassette-watchdog"]
    assert abandoned_calls("misbehaver") >= 1
    caller.join(15)  # the nap returns, and the caller learns it was answered for
    assert isinstance(outcome["exc"], CallAbandoned)
    assert len(reports.errors) == 1
    assert abandoned_calls("misbehaver") == 0
    assert invoke(mis, ("ok",), [], DENY_ALL, on_abandon=reports).value == "ok"


def test_a_computing_guest_traps_and_the_caller_answers(component: Get) -> None:
    reports = Reports()
    with pytest.raises(ComponentTimeoutError):
        invoke(
            component("misbehaver"),
            ("spin",),
            [],
            Capabilities(timeout_seconds=0.3),
            on_abandon=reports,
        )
    time.sleep(TIMEOUT_GRACE_SECONDS + LATE_TRAP_SECONDS + 0.1)
    assert reports.errors == []  # the trap came in time: the watchdog stayed out


def test_a_cancelled_blocked_guest_is_abandoned_after_the_grace(component: Get) -> None:
    mis = component("misbehaver")
    reports = Reports()
    handle = CancelHandle()
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            invoke(
                mis,
                ("nap",),
                [2.0],
                Capabilities(timeout_seconds=30),
                cancel=handle,
                on_abandon=reports,
            )
        except BaseException as exc:  # recorded for the assertions
            outcome["exc"] = exc

    caller = threading.Thread(target=run)
    caller.start()
    time.sleep(0.3)
    cancelled_at = time.monotonic()
    handle.cancel("test cancelled it")
    assert reports.event.wait(10)
    assert reports.at[0] - cancelled_at < CANCEL_GRACE_SECONDS + 0.3
    assert isinstance(reports.errors[0], ComponentCancelledError)
    assert "test cancelled it" in str(reports.errors[0])
    caller.join(15)
    assert isinstance(outcome["exc"], CallAbandoned)


def test_a_cancelled_computing_guest_stops_and_the_caller_answers(component: Get) -> None:
    reports = Reports()
    handle = CancelHandle()
    threading.Timer(0.3, handle.cancel).start()
    with pytest.raises(ComponentCancelledError):
        invoke(
            component("misbehaver"),
            ("spin",),
            [],
            Capabilities(timeout_seconds=30),
            cancel=handle,
            on_abandon=reports,
        )
    time.sleep(CANCEL_GRACE_SECONDS + 0.1)
    assert reports.errors == []


def test_spent_stores_wait_for_the_end_of_a_deferred_frees_block(tmp_path: Path) -> None:
    import weakref

    manager = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "s"), inherited_env={}
    )
    install_component("env-reader", manager.component_dir)
    pool: InstancePool = manager.pool
    released: list[weakref.ref[object]] = []
    release = pool.release

    def spy(warm: object, *, ok: bool, **kw: bool) -> None:
        if warm is not None:
            released.append(weakref.ref(warm))
        release(warm, ok=ok, **kw)  # type: ignore[arg-type]

    pool.release = spy  # type: ignore[method-assign]
    try:
        with deferred_frees():
            manager.call_tool("get-var", {"key": "API_KEY"}, on_abandon=Reports())
            assert len(released) == 1
            assert released[0]() is not None  # kept until the answer is out
        assert released[0]() is None  # freed at the end of the block
    finally:
        manager.close()


def test_watchdog_runs_due_actions_and_skips_dropped_ones() -> None:
    dog = Watchdog()
    ran: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    dog.watch(now + 0.05, lambda: ran.append("b"))
    dropped = dog.watch(now + 0.01, lambda: ran.append("dropped"))
    dog.watch(now + 0.02, lambda: ran.append("a"))
    dog.watch(now + 0.1, done.set)
    dog.drop(dropped)
    assert done.wait(5)
    assert ran == ["a", "b"]
    for _ in range(600):  # many calls that finished early: the heap does not keep them
        dog.drop(dog.watch(time.monotonic() + 60, lambda: ran.append("never")))
    assert len(dog._heap) < 300


def test_worker_pool_bounds_its_threads_and_runs_the_backlog_in_order() -> None:
    pool = WorkerPool(max_idle=2, name="t-worker", max_threads=2)
    gate = threading.Event()
    order: list[int] = []
    done = threading.Semaphore(0)

    def job(n: int) -> Callable[[], None]:
        def run() -> None:
            gate.wait(10)
            order.append(n)
            done.release()

        return run

    for n in range(6):
        pool.submit(job(n))
    time.sleep(0.1)
    assert sum(t.name == "t-worker" for t in threading.enumerate()) == 2
    gate.set()
    for _ in range(6):
        assert done.acquire(timeout=10)
    assert sorted(order) == list(range(6))
    assert all(t.daemon for t in threading.enumerate() if t.name == "t-worker")


def test_worker_pool_backlog_is_first_come_first_served() -> None:
    pool = WorkerPool(max_idle=1, name="t-serial", max_threads=1)
    order: list[int] = []
    done = threading.Event()
    for n in range(20):
        pool.submit(lambda n=n: order.append(n))  # type: ignore[misc]
    pool.submit(done.set)
    assert done.wait(10)
    assert order == list(range(20))


class _Concurrency:
    """How many jobs ran at once, at most."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_worker_pool_runs_as_many_jobs_as_cores_while_they_make_progress() -> None:
    """``active``: 2 at once, in order; jobs that keep finishing never overflow."""
    pool = WorkerPool(name="t-active", max_threads=64, active=2, patience=0.05)
    seen = _Concurrency()
    order: list[int] = []
    done = threading.Semaphore(0)

    def job(n: int) -> Callable[[], None]:
        def run() -> None:
            with seen:
                order.append(n)  # the order they start in
                time.sleep(0.01)  # shorter than the patience: progress
            done.release()

        return run

    for n in range(30):
        pool.submit(job(n))
    for _ in range(30):
        assert done.acquire(timeout=10)
    assert seen.peak == 2 and pool.overflows == 0
    assert sorted(order[:2]) == [0, 1] and sorted(order) == list(range(30))
    # The backlog first come first served (two workers may record a start in either order).
    assert all(abs(n - i) <= 1 for i, n in enumerate(order))
    assert sum(t.name == "t-active" for t in threading.enumerate()) <= 2


def test_worker_pool_starts_one_more_job_per_patience_while_the_running_ones_stall() -> None:
    """Jobs asleep (guests in slow host calls) hold both places: after ``patience`` without a
    finished job one waiting job starts anyway, then another a patience later."""
    pool = WorkerPool(name="t-stall", max_threads=64, active=2, patience=0.1)
    release = threading.Event()
    started: list[float] = []
    seen = _Concurrency()

    def sleeper() -> None:
        started.append(time.monotonic())
        with seen:
            release.wait(10)

    t0 = time.monotonic()
    for _ in range(4):
        pool.submit(sleeper)
    time.sleep(0.05)
    assert seen.peak == 2 and pool.overflows == 0  # the other two wait
    deadline = time.monotonic() + 5
    while len(started) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    assert len(started) == 4 and pool.overflows == 2
    third, fourth = sorted(started)[2:]
    assert 0.09 <= third - t0 < 0.5  # one patience (the watchdog's precision is ~20 ms)
    assert 0.09 <= fourth - third < 0.5  # and one more, not both at once
    # Once the stalled jobs are gone, the pool is back to two at a time.
    calm = _Concurrency()
    done = threading.Semaphore(0)

    def quick() -> None:
        with calm:
            time.sleep(0.005)
        done.release()

    for _ in range(10):
        pool.submit(quick)
    for _ in range(10):
        assert done.acquire(timeout=10)
    assert calm.peak <= 2


def test_a_stuck_job_gives_up_its_active_place_when_lent() -> None:
    pool = WorkerPool(name="t-lend-active", max_threads=8, active=1, patience=5.0)
    stuck = threading.Event()
    ran = threading.Event()
    pool.submit(lambda: stuck.wait(10))
    time.sleep(0.05)
    pool.submit(ran.set)
    assert not ran.wait(0.2)  # one place, taken (and the patience is long)
    pool.lend()
    assert ran.wait(5)
    stuck.set()
    pool.unlend()
    again = threading.Event()
    pool.submit(again.set)
    assert again.wait(5)
    assert pool._running <= 1


def test_guest_gate_runs_at_most_its_slots_and_overflows_after_its_patience() -> None:
    from wassette.runtime.threads import GuestGate

    gate = GuestGate(2, patience=0.3)
    running: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()
    release = threading.Event()

    def guest() -> None:
        with gate.slot():
            with lock:
                running.append(1)
                peak.append(len(running))
            release.wait(10)
            with lock:
                running.pop()

    threads = [threading.Thread(target=guest) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    assert max(peak) == 2  # two hold the slots, two wait
    time.sleep(0.5)  # past the patience: the waiting two run anyway (sleeping guests hold slots)
    assert max(peak) == 4 and gate.overflows == 2
    release.set()
    for t in threads:
        t.join(10)
    # Slots are given back: the next ones get one at once.
    started = time.monotonic()
    with gate.slot(), gate.slot():
        pass
    assert time.monotonic() - started < 0.2 and gate.overflows == 2


def test_the_replacement_is_built_by_the_callers_thread_after_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wassette.runtime import pool as pool_module

    manager = ComponentManager(
        tmp_path / "components", SecretStore(tmp_path / "s"), inherited_env={}
    )
    install_component("env-reader", manager.component_dir)
    try:
        manager.call_tool("get-var", {"key": "API_KEY"})  # primes the pool
        pool: InstancePool = manager.pool
        deadline = time.monotonic() + 30
        while pool.stats()["ready_total"] < pool.size and time.monotonic() < deadline:
            time.sleep(0.01)
        builders: list[str] = []
        build = pool_module.build_warm

        def spy(*args: object) -> object:
            builders.append(threading.current_thread().name)
            return build(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(pool_module, "build_warm", spy)
        with deferred_frees():
            manager.call_tool("get-var", {"key": "API_KEY"}, on_abandon=Reports())
            assert builders == []  # nothing built before the answer is out
        assert builders == [threading.current_thread().name]
        assert pool.stats()["ready_total"] == pool.size
    finally:
        manager.close()


def test_a_stuck_job_lends_its_thread_so_other_calls_still_run() -> None:
    pool = WorkerPool(max_idle=2, name="t-lend", max_threads=1)
    stuck = threading.Event()
    ran = threading.Event()
    pool.submit(lambda: stuck.wait(10))
    time.sleep(0.05)
    pool.submit(ran.set)  # waits in the backlog: the only thread is stuck
    assert not ran.wait(0.2)
    pool.lend()  # the stuck job is abandoned: the backlog gets a thread of its own
    assert ran.wait(5)
    stuck.set()
    pool.unlend()
    assert pool.max_threads == 1
    again = threading.Event()
    pool.submit(again.set)
    assert again.wait(5)
