"""Warm instances: components instantiated ahead of the call, off the request path.

Instantiating an 18 MB componentize-py component costs about a millisecond of CPU, as much as
the rest of a call. The pool does that work on a background thread (wasmtime releases the GIL
while it instantiates), for the component's **current** capabilities, so a call finds a
ready-made sandbox and only calls into it.

Isolation is exactly that of a fresh Store per call:

* **Single use by default.** A call takes a warm instance, uses it once, and it is dropped.
  An instance never sees two calls unless the component's policy opts in
  (``permissions.resources.limits.max_invocations`` > 1, see :class:`Capabilities`).
* **Keyed by a fingerprint of everything the sandbox was built from**: the compiled component
  (the very ``LoadedComponent`` object: a replaced wasm is a new one), the whole
  :class:`Capabilities` (env *values*, preopens with their directory identity, network rules,
  memory and time limits, the reuse setting) and the output limit. The caller computes the
  capabilities afresh for every call from the current policy and secrets (stat-validated), so
  a ``secret set`` from another process, a grant or a new wasm changes the fingerprint: the
  instances built for the old one are discarded and never serve a call, and that call gets a
  fresh instance built for the new one.
* An instance whose call failed (trap, timeout, bad arguments) is never reused.

Bounds: ``size`` ready instances per component, ``max_total`` over all components, pools idle
for ``idle_seconds`` are emptied, and :meth:`InstancePool.close` (also run at interpreter exit)
frees every pooled Store while Python is fully alive: freed during interpreter shutdown,
wasmtime's threads may call back into a finalizing interpreter and panic.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.warm import WarmInstance, build_warm, fingerprint

__all__ = ["DEFAULT_POOL_SIZE", "InstancePool", "WarmInstance", "build_warm", "fingerprint"]

DEFAULT_POOL_SIZE = 2
"""Warm instances kept ready per component (config ``instance_pool_size``; 0 turns it off)."""

DEFAULT_MAX_TOTAL = 16
"""Warm instances kept over all components together (an 18 MB componentize-py instance keeps
~3.5 MB resident: 16 of them ~56 MB). Past it, the components called most recently keep
theirs: an instance of the one called least recently makes room (see :meth:`refill`)."""

DEFAULT_IDLE_SECONDS = 300.0
"""A component not called for this long has its warm instances freed."""

FILL_NICENESS = 10
"""Nice value of the thread that builds instances ahead (Linux; 0 would compete with calls)."""

QUIET_WAIT_SECONDS = 0.05
"""How long the filler waits for the calls in flight to end before building anyway.

Instantiating maps and unmaps memory: the TLB shootdowns and cache traffic that causes on the
other core roughly double the time of a call running there (measured: a first call on a warm
instance, 0.7-0.85 ms quiet, 1.7 ms beside a build). So the filler builds between calls; under
sustained load it builds at most once per wait, and calls that find no instance build their
own (the same work, done in the call, as without a pool)."""

# Fingerprints shown to people are keyed digests: a plain hash of env values would let anyone
# who sees it test guesses of a secret offline.
_DIGEST_KEY = os.urandom(32)


@dataclass(eq=False)
class _ComponentPool:
    loaded: LoadedComponent
    caps: Capabilities
    key: tuple[object, ...]
    ready: deque[WarmInstance] = field(default_factory=deque)
    last_used: float = field(default_factory=time.monotonic)
    building: int = 0
    failed: bool = False  # building for this key failed: the call path reports why


class InstancePool:
    """Warm instances per component, refilled by one background thread."""

    def __init__(
        self,
        size: int = DEFAULT_POOL_SIZE,
        *,
        max_total: int = DEFAULT_MAX_TOTAL,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.size = max(0, size)
        self.max_total = max(0, max_total)
        self.idle_seconds = idle_seconds
        self._pools: dict[str, _ComponentPool] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.counters = {
            "warm_hits": 0,
            "misses": 0,
            "stale_discarded": 0,
            "reused": 0,
            "evicted": 0,
        }
        self._busy = 0  # calls between take() and release(): the filler waits for 0
        self._filler_idle = False  # the filler waits for work (not for a call to end)
        # Resident memory one idle warm instance costs, measured on the first builds (wasmtime
        # maps linear memory copy-on-write from the artifact: only touched pages count).
        self._resident_per_instance: dict[str, int] = {}
        _live_pools.add(self)

    # ----------------------------------------------------------------- the call path

    def applies_to(self, caps: Capabilities) -> bool:
        """False when calls with ``caps`` should simply build a fresh Store (pool off, no
        reuse): the pool then stays out of the call path entirely."""
        return not self._closed and (self.size > 0 or caps.max_invocations > 1)

    def take(
        self, loaded: LoadedComponent, caps: Capabilities, output_limit: int
    ) -> WarmInstance | None:
        """A ready instance built for exactly this component and these capabilities, or None
        (the caller builds one itself). Instances built for anything else are discarded."""
        if not self.applies_to(caps):
            return None
        key = fingerprint(caps, output_limit)
        stale: list[WarmInstance] = []
        with self._cond:
            pool = self._pools.get(loaded.component_id)
            if pool is None or pool.loaded is not loaded or pool.key != key:
                if pool is not None:
                    stale.extend(pool.ready)
                    self.counters["stale_discarded"] += len(pool.ready)
                pool = _ComponentPool(loaded=loaded, caps=caps, key=key)
                self._pools[loaded.component_id] = pool
            pool.last_used = time.monotonic()
            warm = pool.ready.popleft() if pool.ready else None
            self.counters["warm_hits" if warm is not None else "misses"] += 1
            self._busy += 1
            # A filler already waiting for this call to end is woken by release(): waking
            # it here too costs a context switch per call for nothing.
            self._wake(only_if_idle=True)
        del stale  # the Stores are freed here, outside the lock
        return warm

    def build(self, loaded: LoadedComponent, caps: Capabilities, output_limit: int) -> WarmInstance:
        """Build an instance on the calling thread (a miss), returnable with :meth:`release`."""
        return build_warm(loaded, caps, fingerprint(caps, output_limit))

    def release(self, warm: WarmInstance | None, *, ok: bool, refill_here: bool = False) -> None:
        """The call that :meth:`take` started is over (``warm``: the instance it ran in, None if
        it got none built). The instance goes back to the pool only if the policy allows reuse,
        the call succeeded, it has invocations left and its fingerprint is current.
        ``refill_here``: the caller's thread calls :meth:`refill` once its answer is out, so the
        filler thread is not woken for it."""
        with self._cond:
            self._busy = max(0, self._busy - 1)
            if not self._busy and not refill_here:
                self._cond.notify_all()  # a filler waiting for quiet
        if warm is None:
            return
        warm.detach()
        if not ok or warm.uses >= warm.max_invocations or self._closed:
            return
        with self._cond:
            pool = self._pools.get(warm.component_id)
            if pool is None or pool.loaded is not warm.loaded or pool.key != warm.key:
                return
            if len(pool.ready) >= max(self.size, 1):
                return
            pool.ready.appendleft(warm)  # the most recently used first: its pages are warm
            self.counters["reused"] += 1

    def refill(self, component_id: str) -> None:
        """Build one missing instance of ``component_id`` on this thread: a call's worker, once
        its answer is out (between calls, with the component's pages still in this core's
        caches, and no other thread to wake)."""
        evicted: WarmInstance | None = None
        with self._cond:
            pool = self._pools.get(component_id)
            if (
                self._closed
                or pool is None
                or pool.failed
                or len(pool.ready) + pool.building >= self.size
            ):
                return
            if self._total() >= self.max_total:
                # The budget is held by others: the one called least recently gives way.
                evicted = self._evict_for(pool)
                if evicted is None:
                    return
            pool.building += 1
        del evicted  # its Store is freed here, outside the lock
        self._build_into(component_id, pool)

    def _evict_for(self, hot: _ComponentPool) -> WarmInstance | None:
        """Under the lock: take one ready instance from the pool used least recently (other
        than ``hot``, and used less recently than it), or None."""
        others = [p for p in self._pools.values() if p is not hot and p.ready]
        if not others:
            return None
        coldest = min(others, key=lambda p: p.last_used)
        if coldest.last_used >= hot.last_used:
            return None
        self.counters["evicted"] += 1
        return coldest.ready.pop()

    def prime(self, loaded: LoadedComponent, caps: Capabilities, output_limit: int) -> None:
        """Start filling the pool of ``loaded`` for ``caps`` (e.g. when a server starts)."""
        if self._closed or self.size == 0:
            return
        key = fingerprint(caps, output_limit)
        with self._cond:
            pool = self._pools.get(loaded.component_id)
            if pool is None or pool.loaded is not loaded or pool.key != key:
                self._pools[loaded.component_id] = _ComponentPool(loaded=loaded, caps=caps, key=key)
            self._wake()

    def invalidate(self, component_id: str) -> None:
        """Drop the warm instances of ``component_id`` (it was unloaded or replaced)."""
        with self._cond:
            pool = self._pools.pop(component_id, None)
        if pool is not None:
            pool.ready.clear()

    # ----------------------------------------------------------------- the filler

    def _wake(self, *, only_if_idle: bool = False) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="wassette-pool", daemon=True)
            self._thread.start()
        if not only_if_idle or self._filler_idle:
            self._cond.notify_all()

    def _total(self) -> int:
        return sum(len(p.ready) + p.building for p in self._pools.values())

    def _next_job(self) -> tuple[str, _ComponentPool] | None:
        if self._total() >= self.max_total:
            return None
        # The components called most recently first: with many components, the budget goes
        # to the ones in use.
        for cid, pool in sorted(self._pools.items(), key=lambda item: -item[1].last_used):
            if not pool.failed and len(pool.ready) + pool.building < self.size:
                return cid, pool
        return None

    def _trim(self, now: float) -> list[WarmInstance]:
        dropped: list[WarmInstance] = []
        for cid in list(self._pools):
            pool = self._pools[cid]
            if now - pool.last_used > self.idle_seconds and not pool.building:
                dropped.extend(pool.ready)
                del self._pools[cid]
        return dropped

    def _await_job(self) -> tuple[tuple[str, _ComponentPool] | None, list[WarmInstance]]:
        """Under the lock: wait for an instance to build (between calls if it can) or idle
        pools to trim; ``(None, [])`` once closed."""
        while not self._closed:
            dropped = self._trim(time.monotonic())
            if dropped:
                return None, dropped
            job = self._next_job()
            if job is not None and self._busy:
                # Between calls, not beside one (see QUIET_WAIT_SECONDS).
                self._cond.wait_for(lambda: not self._busy or self._closed, QUIET_WAIT_SECONDS)
                job = self._next_job()
            if job is not None:
                return job, []
            self._filler_idle = True
            try:
                self._cond.wait(timeout=max(1.0, self.idle_seconds / 4))
            finally:
                self._filler_idle = False
        return None, []

    def _fill(self) -> None:
        # Building ahead must not take a core from a call in progress: on Linux a thread has
        # its own nice value, and a lower priority lets calls (and the event loop) go first.
        # When the builder is starved, calls simply build their own instance, as before.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FILL_NICENESS)
        while True:
            with self._cond:
                job, dropped = self._await_job()
                if self._closed:
                    self._thread = None
                    self._cond.notify_all()
                    return
                if job is not None:
                    cid, pool = job
                    pool.building += 1
            if job is None:
                del dropped  # the trimmed Stores are freed here, outside the lock
                continue
            self._build_into(cid, pool)

    def _build_into(self, cid: str, pool: _ComponentPool) -> None:
        """Build one instance for ``pool`` (its ``building`` already counts it) and add it."""
        warm: WarmInstance | None = None
        before = _resident_bytes() if cid not in self._resident_per_instance else None
        try:
            warm = build_warm(pool.loaded, pool.caps, pool.key)
        except Exception:  # noqa: BLE001 - any failure: calls build fresh and report it
            warm = None
        if before is not None and warm is not None:
            self._resident_per_instance[cid] = max(0, _resident_bytes() - before)
        with self._cond:
            pool.building -= 1
            if warm is None:
                pool.failed = True
            elif self._pools.get(cid) is pool and not self._closed:
                pool.ready.append(warm)
                warm = None
        warm = None  # built for a key that went stale meanwhile: freed here

    # ----------------------------------------------------------------- lifecycle, report

    def close(self, timeout: float = 5.0) -> None:
        """Stop the filler and free every pooled Store, now. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cond:
            pools = list(self._pools.values())
            self._pools.clear()
        held = sum(len(pool.ready) for pool in pools)
        for pool in pools:
            pool.ready.clear()
        del pools
        if held or thread is not None:
            # Stores caught in reference cycles go now, not at interpreter shutdown. Skipped
            # when nothing was pooled: a full collection costs a one-shot command ~50 ms.
            gc.collect()

    def stats(self) -> dict[str, Any]:
        """What the pool holds, per component, with a memory estimate (no values)."""
        with self._cond:
            per: dict[str, dict[str, Any]] = {
                cid: {
                    "ready": len(p.ready),
                    "building": p.building,
                    "fingerprint": _digest(p.key),
                    "max_invocations": p.caps.max_invocations,
                    "idle_seconds": round(time.monotonic() - p.last_used, 1),
                }
                for cid, p in self._pools.items()
            }
            total = sum(len(p.ready) for p in self._pools.values())
            resident = sum(
                self._resident_per_instance.get(cid, 0) * len(p.ready)
                for cid, p in self._pools.items()
            )
        return {
            "size_per_component": self.size,
            "max_total": self.max_total,
            "ready_total": total,
            "resident_estimate_bytes": resident,
            "components": per,
            **self.counters,
        }


def _digest(key: tuple[object, ...]) -> str:
    # repr() of Capabilities leaves the env values out; they are part of the fingerprint.
    caps = key[0]
    values = caps.env if isinstance(caps, Capabilities) else ()
    text = repr((values, key))
    import hashlib  # OpenSSL (~3 MB resident): loaded when someone asks for the report
    import hmac

    return hmac.new(_DIGEST_KEY, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _resident_bytes() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return 0


_live_pools: weakref.WeakSet[InstancePool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # Registered when this module is first imported, after the engine module's own exit hook,
    # so it runs first (atexit is last-in, first-out): Stores are freed while Python is alive.
    for pool in list(_live_pools):
        pool.close()
