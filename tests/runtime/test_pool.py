"""Warm instances: built ahead for the current capabilities, never serving a call after a change.

Real components, a real subprocess rotating the secret, real policy files: a pooled instance
built for old capabilities (an old secret value, an old policy, an old wasm) must be discarded,
and the very next call must see the new state. Reuse (``limits.max_invocations``) must never
hand an instance to a call with other capabilities.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.componentbuild import REPO, build_component, cache_dir, install_component
from tests.conftest import Home, run_cli
from wassette.manager import ComponentManager
from wassette.policy.parser import parse_policy
from wassette.policy.store import PolicyStore
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.invoke import DEFAULT_OUTPUT_LIMIT, invoke
from wassette.runtime.pool import InstancePool
from wassette.secretstore.store import SecretStore


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the pool")
        time.sleep(0.01)


def _ready(manager: ComponentManager, cid: str = "env-reader") -> int:
    per = manager.pool.stats()["components"].get(cid)
    return 0 if per is None else int(per["ready"])


@pytest.fixture
def manager(tmp_path: Path) -> ComponentManager:
    m = ComponentManager(
        tmp_path / "components",
        SecretStore(tmp_path / "secrets"),
        inherited_env={},
        instance_pool_size=2,
    )
    install_component("env-reader", m.component_dir)
    # Opted out of redaction, so the value itself is visible to the test.
    PolicyStore(m.component_dir).grant_environment_variable("env-reader", "API_KEY", redact=False)
    yield m
    m.close()


def _get(manager: ComponentManager) -> object:
    result = manager.call_tool("get-var", {"key": "API_KEY"})
    assert result.structured is not None
    return result.structured["result"]


def _full(manager: ComponentManager) -> None:
    _wait(lambda: _ready(manager) == 2)


def test_calls_are_served_warm_and_single_use(manager: ComponentManager) -> None:
    manager.secrets.set_many("env-reader", {"API_KEY": "v1"})
    assert _get(manager) == "v1"  # a miss: builds fresh, then the pool fills
    _full(manager)
    before = manager.pool.stats()
    for _ in range(5):
        assert _get(manager) == "v1"
        _wait(lambda: _ready(manager) == 2)
    after = manager.pool.stats()
    assert after["warm_hits"] - before["warm_hits"] == 5
    assert after["reused"] == 0  # default: every instance is dropped after its call


def test_a_spent_instance_is_freed_right_after_its_call(
    manager: ComponentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single-use: once its call is answered, nothing (pool, call, caller) keeps the
    instance or its Store alive."""
    import weakref

    manager.secrets.set_many("env-reader", {"API_KEY": "v1"})
    assert _get(manager) == "v1"
    _full(manager)
    pool = manager.pool
    released: list[weakref.ref[object]] = []
    release = pool.release

    def spy(warm: object, *, ok: bool, **kw: bool) -> None:
        released.append(weakref.ref(warm))
        release(warm, ok=ok, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pool, "release", spy)
    assert _get(manager) == "v1"
    assert len(released) == 1
    _wait(lambda: released[0]() is None, timeout=5)


def test_rotation_from_another_process_is_seen_by_the_very_next_call(
    manager: ComponentManager, home: Home
) -> None:
    manager.secrets.set_many("env-reader", {"API_KEY": "old-value"})
    assert _get(manager) == "old-value"
    _full(manager)  # two instances hold "old-value" in their environment
    run_cli(
        home,
        *("secret", "set", "env-reader", "API_KEY=new-value", "--force"),
        *("--plugin-dir", str(manager.component_dir)),
        env={"WASSETTE_SECRETS_DIR": str(manager.component_dir.parent / "secrets")},
        check=True,
    )
    hits = manager.pool.stats()["warm_hits"]
    assert _get(manager) == "new-value"
    stats = manager.pool.stats()
    assert stats["stale_discarded"] == 2
    assert stats["warm_hits"] == hits  # the call after the rotation was built fresh
    _full(manager)
    for _ in range(3):  # and the refilled pool holds only the new value
        assert _get(manager) == "new-value"


def test_a_policy_change_discards_pooled_instances(manager: ComponentManager) -> None:
    manager.secrets.set_many("env-reader", {"API_KEY": "from-secret"})
    assert _get(manager) == "from-secret"
    _full(manager)
    # The policy now defines the value itself (tier 1 beats the secret).
    PolicyStore(manager.component_dir).grant_environment_variable(
        "env-reader", "API_KEY", "from-policy", redact=False
    )
    assert _get(manager) == "from-policy"
    assert manager.pool.stats()["stale_discarded"] == 2
    PolicyStore(manager.component_dir).revoke_environment_variable("env-reader", "API_KEY")
    _wait(lambda: _ready(manager) == 2)
    assert _get(manager) is None  # revoked: no instance with the old grant answers


def test_a_replaced_wasm_discards_pooled_instances(manager: ComponentManager) -> None:
    manager.secrets.set_many("env-reader", {"API_KEY": "v"})
    assert _get(manager) == "v"
    _full(manager)
    old = manager.loaded("env-reader")
    wasm = manager.wasm_path("env-reader")
    st = wasm.stat()
    os.utime(wasm, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a new file, same id
    assert _get(manager) == "v"
    assert manager.loaded("env-reader") is not old
    assert manager.pool.stats()["stale_discarded"] == 2


def test_reuse_never_crosses_capability_fingerprints(
    component: Callable[[str], LoadedComponent],
) -> None:
    loaded = component("env-reader")
    pool = InstancePool(size=0)  # no pre-building: only reuse puts instances back
    try:
        index = loaded.component.get_export_index("get-var")
        assert index is not None
        a = Capabilities(env=(("API_KEY", "value-a"),), redact_keys=frozenset(), max_invocations=50)
        b = Capabilities(env=(("API_KEY", "value-b"),), redact_keys=frozenset(), max_invocations=50)
        for i in range(20):
            caps, want = (a, "value-a") if i % 3 else (b, "value-b")
            got = invoke(loaded, ("get-var",), ["API_KEY"], caps, pool=pool).value
            assert got == want
        same = [invoke(loaded, ("get-var",), ["API_KEY"], a, pool=pool).value for _ in range(5)]
        assert same == ["value-a"] * 5
        stats = pool.stats()
        assert stats["reused"] >= 4  # the run of five reused one instance
        assert stats["stale_discarded"] > 0  # every switch dropped the other's instance
    finally:
        pool.close()


def test_reuse_is_bounded_by_max_invocations(component: Callable[[str], LoadedComponent]) -> None:
    loaded = component("env-reader")
    pool = InstancePool(size=0)
    try:
        caps = Capabilities(env=(("K", "v"),), redact_keys=frozenset(), max_invocations=3)
        for _ in range(9):
            assert invoke(loaded, ("get-var",), ["K"], caps, pool=pool).value == "v"
        stats = pool.stats()
        # 9 calls, 3 per instance: 3 instances built, 6 calls on a returned one.
        assert stats["reused"] == 6
        assert stats["misses"] == 3
    finally:
        pool.close()


def test_max_invocations_parses_and_reaches_the_capabilities() -> None:
    policy = parse_policy(
        'version: "1.0"\npermissions:\n  resources:\n    limits:\n      max_invocations: 100\n'
    )
    assert policy.max_invocations == 100
    from wassette.errors import PolicyError

    for bad in ("0", "-1", "1.5", "true", '"10"'):
        with pytest.raises(PolicyError, match="max_invocations"):
            parse_policy(
                f'version: "1.0"\npermissions:\n  resources:\n    limits:\n'
                f"      max_invocations: {bad}\n"
            )


def test_pool_memory_is_bounded_and_idle_pools_are_trimmed(
    component: Callable[[str], LoadedComponent],
) -> None:
    loaded = [component("env-reader"), component("hello")]
    pool = InstancePool(size=3, max_total=4, idle_seconds=3.0)
    try:
        for one in loaded:
            pool.prime(one, Capabilities(), DEFAULT_OUTPUT_LIMIT)
        _wait(lambda: pool.stats()["ready_total"] == 4)
        time.sleep(0.3)
        stats = pool.stats()
        assert stats["ready_total"] == 4  # never more than max_total, over both components
        assert stats["resident_estimate_bytes"] >= 0
        _wait(lambda: pool.stats()["ready_total"] == 0, timeout=10)  # idle: freed
    finally:
        pool.close()
    assert pool.stats()["ready_total"] == 0


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from wassette.runtime.capabilities import Capabilities
    from wassette.runtime.engine import load_component
    from wassette.runtime.invoke import invoke
    from wassette.runtime.pool import InstancePool

    loaded = load_component(Path(sys.argv[1]), Path(sys.argv[2]))
    pool = InstancePool(size=8)
    caps = Capabilities(env=(("K", "v"),), max_invocations=int(sys.argv[3]))
    for _ in range(20):
        assert invoke(loaded, ("get-var",), ["K"], caps, pool=pool).value == "v"
    print("done")  # exits with the pool full and the filler possibly mid-build
    """
)


def test_exit_with_a_full_pool_is_clean(
    component: Callable[[str], LoadedComponent], tmp_path: Path
) -> None:
    component("env-reader")  # compiled into the shared cache: the child only deserializes
    script = tmp_path / "pooled.py"
    script.write_text(EXIT_SCRIPT)
    wasm = build_component("env-reader")
    for reuse in ("1", "5"):
        done = subprocess.run(
            [
                sys.executable,
                str(script),
                str(wasm),
                str(cache_dir() / "cwasm/env-reader.cwasm"),
                reuse,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "done"
        assert "panicked" not in done.stderr, done.stderr[-2000:]


def test_the_filler_builds_between_calls_not_beside_one(
    component: Callable[[str], LoadedComponent],
) -> None:
    """A build on the other core doubles the time of a call running there: while a call is in
    flight the filler waits (up to QUIET_WAIT_SECONDS), and builds once it is over."""
    from wassette.runtime import pool as pool_module

    loaded = component("env-reader")
    caps = Capabilities(env=(("K", "v"),), redact_keys=frozenset())
    pool = InstancePool(size=1)
    builds: list[float] = []
    build = pool_module.build_warm

    def timed(*args: object) -> object:
        builds.append(time.monotonic())
        return build(*args)  # type: ignore[arg-type]

    pool_module.build_warm = timed  # type: ignore[assignment]
    old_wait = pool_module.QUIET_WAIT_SECONDS
    pool_module.QUIET_WAIT_SECONDS = 2.0  # long enough to see the wait on a loaded machine
    try:
        pool.prime(loaded, caps, DEFAULT_OUTPUT_LIMIT)
        _wait(lambda: pool.stats()["ready_total"] == 1)
        warm = pool.take(loaded, caps, DEFAULT_OUTPUT_LIMIT)  # a call starts: the pool is empty
        assert warm is not None
        taken = time.monotonic()
        time.sleep(0.5)
        assert [t for t in builds if t > taken] == []  # no build beside the call
        released = time.monotonic()
        pool.release(warm, ok=False)  # the call is over (its instance is not reused)
        _wait(lambda: pool.stats()["ready_total"] == 1, timeout=10)
        assert builds[-1] >= released
        assert builds[-1] - released < 1.0  # at once, not after the quiet wait ran out
        # A call that never ends (abandoned in a host call) does not starve the pool for good.
        stuck = pool.take(loaded, caps, DEFAULT_OUTPUT_LIMIT)
        assert stuck is not None
        started = time.monotonic()
        _wait(lambda: pool.stats()["ready_total"] == 1, timeout=20)
        assert time.monotonic() - started >= 1.5
        pool.release(stuck, ok=False)
    finally:
        pool_module.build_warm = build  # type: ignore[assignment]
        pool_module.QUIET_WAIT_SECONDS = old_wait
        pool.close()


def test_past_the_budget_the_component_in_use_takes_room_from_the_coldest(
    component: Callable[[str], LoadedComponent],
) -> None:
    """Many components: the budget (max_total) goes to the ones being called; an idle
    component's instance makes room for a called one's replacement, not the reverse."""
    from wassette.runtime.threads import deferred_frees

    loaded = component("env-reader")
    cold_caps = Capabilities(env=(("K", "cold"),), redact_keys=frozenset())
    hot_caps = Capabilities(env=(("K", "hot"),), redact_keys=frozenset())
    pool = InstancePool(size=2, max_total=2)
    try:
        # Two "components": the same compiled code under two ids (the pool keys by id).
        from dataclasses import replace

        hot = replace(loaded, component_id="hot")
        pool.prime(loaded, cold_caps, DEFAULT_OUTPUT_LIMIT)
        _wait(lambda: pool.stats()["ready_total"] == 2)  # the cold one holds the budget
        time.sleep(0.01)
        with deferred_frees():  # an inline call: the replacement is built after the answer
            result = invoke(hot, ("get-var",), ["K"], hot_caps, pool=pool, on_abandon=print)
            assert result.value == "hot"
        stats = pool.stats()
        assert stats["evicted"] == 1
        assert stats["components"]["hot"]["ready"] == 1
        assert stats["components"][loaded.component_id]["ready"] == 1
        assert stats["ready_total"] == 2  # still within the budget
    finally:
        pool.close()
