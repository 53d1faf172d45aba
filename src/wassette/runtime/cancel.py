"""Stopping a running guest: a per-call :class:`CancelHandle` and a per-Store :class:`StoreClock`.

A guest is stopped from its own thread: each Store gets an epoch-deadline callback (see
``_wasmtime_compat``) that wasmtime runs every :data:`CHECK_TICKS` epoch ticks while the guest
computes. The callback traps the guest once its call was cancelled or once the monotonic clock
passes the call's deadline. So a cancelled compute loop stops within about
``CHECK_TICKS * EPOCH_TICK_SECONDS`` (30 ms), and a time limit is measured in seconds of real
time, not in ticks that may lag.

Whoever runs a call in a Store (a fresh one per call, or a pre-instantiated one from a pool):

1. ``clock = StoreClock.install(store, timeout)`` right after creating the Store (before
   instantiating: instantiation runs guest code too);
2. ``clock.arm(timeout, handle)`` when the call itself starts (restarts the time limit and
   binds the call's cancel handle);
3. after a trap, ``clock.stopped`` says why the callback stopped the guest (``"timeout"`` or
   ``"cancelled"``; ``None`` if it did not).

A guest blocked in a host call (a sleep, an HTTP wait) does not run wasm, so the callback
cannot fire: ``invoke`` stops waiting for it (the handle wakes the waiter) and abandons it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import wasmtime

from wassette.runtime._wasmtime_compat import set_epoch_callback
from wassette.runtime.engine import EPOCH_TICK_SECONDS

__all__ = ["CHECK_TICKS", "CancelHandle", "StoreClock"]

CHECK_TICKS = 3
"""Epoch ticks between two checks of a running guest (3 x 10 ms)."""


class CancelHandle:
    """Cancels one call from any thread; safe to cancel before, during or after the call.

    ``cancel()`` is idempotent. Waiters registered with :meth:`on_cancel` run once, on the
    cancelling thread (keep them tiny: setting an Event).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._waiters: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the call was cancelled (``None`` while it is not)."""
        return self._reason

    def cancel(self, reason: str = "the client cancelled the request") -> None:
        """Stop the call: its guest traps at the next check, and its waiter wakes now."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()

    def on_cancel(self, wake: Callable[[], None]) -> None:
        """Run ``wake`` when the call is cancelled (at once if it already is)."""
        with self._lock:
            if self._reason is None:
                self._waiters.append(wake)
                return
        wake()

    def remove(self, wake: Callable[[], None]) -> None:
        """Forget a ``wake`` registered with :meth:`on_cancel` (the call is over)."""
        with self._lock:
            if wake in self._waiters:
                self._waiters.remove(wake)


class StoreClock:
    """What a Store's epoch callback consults: the call's deadline and its cancel handle."""

    def __init__(self, timeout_seconds: float) -> None:
        self.deadline = time.monotonic() + max(timeout_seconds, 0.0)
        self.handle: CancelHandle | None = None
        self.stopped: str | None = None
        self._keepalive: object = None

    @classmethod
    def install(cls, store: wasmtime.Store, timeout_seconds: float) -> StoreClock:
        """Watch ``store``: its guest may run ``timeout_seconds`` from now (see :meth:`arm`)."""
        clock = cls(timeout_seconds)
        clock._keepalive = set_epoch_callback(store, clock._decide)
        store.set_epoch_deadline(CHECK_TICKS)
        return clock

    def arm(self, timeout_seconds: float, handle: CancelHandle | None) -> None:
        """Start the call's time limit now and bind its cancel handle."""
        self.deadline = time.monotonic() + max(timeout_seconds, 0.0)
        self.handle = handle
        self.stopped = None

    def _decide(self) -> int:
        handle = self.handle
        if handle is not None and handle.cancelled:
            self.stopped = "cancelled"
            return 0
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.stopped = "timeout"
            return 0
        return max(1, min(CHECK_TICKS, math.ceil(left / EPOCH_TICK_SECONDS)))
