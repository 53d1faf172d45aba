"""Run one call of a component export under a :class:`Capabilities`, and explain failures.

Every call gets a **fresh Store** (instantiation costs about a millisecond): after a trap an
instance is dead, and two threads entering one Store abort the whole process, so nothing is
ever reused between calls. The sandbox is built from the capabilities and nothing else: the
env list (assigned once: ``WasiConfig.env`` appends), one preopen per grant with its writability
passed explicitly (wasmtime's default is read-write), no inherited stdio, args or env, guest
output captured into bounded tails, wasi:http requests checked by ``http_policy``.

Time and cancellation: each Store has a :class:`~wassette.runtime.cancel.StoreClock` whose
epoch callback traps the guest once the monotonic clock passes the call's deadline or the
call's :class:`~wassette.runtime.cancel.CancelHandle` is cancelled (within ~30 ms). A guest
blocked in a *host* call (a sleep, an HTTP wait) runs no wasm and cannot be interrupted, so the
call runs in its own thread and the caller stops waiting at the deadline (plus a short grace) or
at once on cancellation. The abandoned thread finishes on its own and traps as soon as it
re-enters wasm; its Store is never touched again.

A caller that can be answered from elsewhere (the stdio front, where any thread may write the
answer, and the SDK path through an asyncio future) runs the guest *inline*, on its own thread,
with ``on_abandon``: no hand-off to a worker and back (two thread wake-ups and GIL hand-offs per
call). A watchdog thread then stands in for the waiting caller: when the guest outlives the same
deadlines, it hands the same error to ``on_abandon``, and the guest's thread, once its host call
returns, raises :class:`CallAbandoned` instead of answering a second time.

At most one guest per core runs at once (``GuestGate``; a call waits at most 50 ms for its
turn): more only share the cores, and each would hold an instance's memory meanwhile.

Values in and out are plain wasmtime-py values; JSON conversion lives in ``values.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import wasmtime
import wasmtime.component as wc

from wassette.errors import ComponentRunError, NotFoundError, PolicyError, WassetteError
from wassette.runtime import http_policy, sandbox
from wassette.runtime.cancel import CancelHandle, StoreClock
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent, get_engine
from wassette.runtime.failures import (
    LOWERING_ERRORS,
    call_name,
    cancelled_error,
    classify,
    network_fix_hint,
    redactor,
    timeout_error,
)
from wassette.runtime.http_policy import DeniedRequest
from wassette.runtime.output import Sink, Tail, get_spool
from wassette.runtime.pool import InstancePool, WarmInstance
from wassette.runtime.redaction import Redactor
from wassette.runtime.threads import (
    GuestGate,
    Watchdog,
    WorkerPool,
    after_answer,
    cores,
    deferred_frees,
    spend,
)

__all__ = [
    "DEFAULT_OUTPUT_LIMIT",
    "CallAbandoned",
    "InvokeResult",
    "abandoned_calls",
    "deferred_frees",
    "invoke",
    "network_fix_hint",
]

DEFAULT_OUTPUT_LIMIT = 16 * 1024
"""Bytes of guest stdout and of stderr kept per call (the tail; older output is dropped)."""

TIMEOUT_GRACE_SECONDS = 0.2
"""How long past the deadline we wait for the guest to finish or trap, before asking again."""

LATE_TRAP_SECONDS = 0.25
"""After the grace, how much longer we wait for a trap before calling the guest blocked.

A computing guest traps within ~30 ms of its deadline, but on a loaded machine its thread may
wait for a core: only a guest still not back after both waits is judged stuck in a host call.
Together they bound a call to its limit + 0.45 s."""

CANCEL_GRACE_SECONDS = 0.25
"""After a cancellation, how long we wait for the guest to trap before abandoning it."""

MAX_ABANDONED_PER_COMPONENT = 16
"""Timed-out calls of one component still blocked in host calls before we refuse new ones.

A blocked host call cannot be cancelled from wasmtime-py; each one holds a thread until the
host call returns. This bound stops a component (or a client hammering it) from exhausting
the process's threads."""


@dataclass(frozen=True)
class InvokeResult:
    """The outcome of a successful call.

    ``value`` is the export's result as a wasmtime-py value (``None`` for no result).
    ``stdout``/``stderr`` are the tails of the guest's output (secret values redacted).
    ``denied_requests`` lists outgoing HTTP requests the policy refused: the guest saw
    ``HTTP-request-denied`` and may have turned it into an error value of its own.
    """

    value: object
    stdout: str
    stderr: str
    denied_requests: tuple[DeniedRequest, ...]
    elapsed_seconds: float


class _Call:
    """State shared between the caller and the worker thread of one call."""

    def __init__(
        self,
        caps: Capabilities,
        output_limit: int,
        margin: int = 0,
        cancel: CancelHandle | None = None,
    ) -> None:
        self.caps = caps
        self.cancel = cancel
        self.clock: StoreClock | None = None
        self.stdout = Tail(output_limit, margin)
        self.stderr = Tail(output_limit, margin)
        self.fds: list[tuple[int, Sink]] = []
        self.output_limit = output_limit
        self.http = http_policy.HttpCallContext(caps=caps)
        self.phase = "setup"
        self.value: object = None
        self.ok = False
        self.error: BaseException | None = None
        self.done = threading.Event()
        # Set when the worker is done *or* the call is cancelled: what the caller waits on.
        self.wake = threading.Event()
        # The Store the call runs in (fresh or warm), once it exists.
        self.store: wasmtime.Store | None = None
        # Inline calls: whoever settles first (the guest's thread returning, or the watchdog
        # giving up on it) answers; the other stays silent.
        self.settle_lock = threading.Lock()
        self.settled = False

    def settle(self) -> bool:
        """Claim the answer: True for the first caller only."""
        with self.settle_lock:
            if self.settled:
                return False
            self.settled = True
            return True


class CallAbandoned(Exception):
    """An inline call's guest returned after the watchdog had answered for it (``on_abandon``
    got the timeout or cancellation error): the caller must not answer again."""


_abandoned: dict[_Call, str] = {}
_abandoned_lock = threading.Lock()


def abandoned_calls(component_id: str | None = None) -> int:
    """How many timed-out calls (of ``component_id``, or of all components) are still running
    in the background, blocked in a host call."""
    with _abandoned_lock:
        for finished in [c for c in _abandoned if c.done.is_set()]:
            del _abandoned[finished]
        if component_id is None:
            return len(_abandoned)
        return sum(1 for cid in _abandoned.values() if cid == component_id)


_pool = WorkerPool()
_watchdog = Watchdog()
_gate = GuestGate(cores())


def _run(
    loaded: LoadedComponent,
    index: wc.ExportIndex,
    args: Sequence[object],
    call: _Call,
    *,
    warm: WarmInstance | None = None,
    pool: InstancePool | None = None,
) -> None:
    """The worker: build the sandbox, instantiate, call. Never raises; fills ``call``."""
    if pool is not None:
        _run_pooled(loaded, index, args, call, warm=warm, pool=pool)
        return
    engine = get_engine()
    store: wasmtime.Store | None = None
    try:
        store = wasmtime.Store(engine)
        caps = call.caps
        # Before anything runs guest code (instantiation does): the time limit and the
        # cancel handle apply from here.
        call.clock = StoreClock.install(store, caps.timeout_seconds)
        call.clock.arm(caps.timeout_seconds, call.cancel)
        if caps.memory_limit_bytes is not None:
            store.set_limits(memory_size=caps.memory_limit_bytes)
        store.set_wasi(sandbox.wasi_config(call))
        if loaded.imports_http:
            store.set_wasi_http()
        call.store = store
        linker = sandbox.linker(loaded)
        call.phase = "instantiate"
        if loaded.http_handler_imports:
            call.http.helper = http_policy.instantiate_helper(engine, store)
            http_policy.activate(call.http)
        instance = linker.instantiate(store, loaded.component)
        _call_export(loaded, instance, store, index, args, call=call)
    except (wasmtime.WasmtimeError, PolicyError, NotFoundError, *LOWERING_ERRORS) as exc:
        # Without its traceback: that would hold this frame, hence `call`, hence the error
        # itself (a cycle only the GC frees, maybe not before interpreter shutdown).
        call.error = exc.with_traceback(None)
    finally:
        http_policy.activate(None)
        call.http.helper = {}
        # Free the Store here, on this thread, now (or at the end of a deferred_frees block):
        # a traceback kept in `call.error` would otherwise hold this frame (and the Store)
        # alive until some later GC, possibly at interpreter shutdown, when wasmtime's threads
        # can no longer call back into Python.
        _spend(store)
        store = None
        call.store = None
        call.done.set()
        call.wake.set()


def _call_export(
    loaded: LoadedComponent,
    instance: wc.Instance,
    store: wasmtime.Store,
    index: wc.ExportIndex,
    args: Sequence[object],
    *,
    call: _Call,
) -> None:
    """Call the export at ``index`` of an instantiated sandbox (fresh or warm); its value
    and success go into ``call``."""
    func = instance.get_func(store, index)
    if func is None:
        raise NotFoundError(
            f"export of component {loaded.component_id!r} is not a function",
            fix="call a function export",
        )
    call.phase = "call"
    call.value = func(store, *args)
    call.ok = True


def _run_pooled(
    loaded: LoadedComponent,
    index: wc.ExportIndex,
    args: Sequence[object],
    call: _Call,
    *,
    warm: WarmInstance | None,
    pool: InstancePool,
) -> None:
    """:func:`_run` on a warm instance (built now on a miss, so that it can be reused when the
    policy allows). Same errors, phases and guarantees as the fresh path."""
    ok = False
    store: wasmtime.Store | None = None
    try:
        if warm is None:
            call.phase = "instantiate"
            warm = pool.build(loaded, call.caps, call.output_limit)
        store = call.store = warm.store
        warm.attach(call, call.caps.timeout_seconds)
        http_policy.activate(call.http)
        _call_export(loaded, warm.instance, store, index, args, call=call)
        ok = True
    except (wasmtime.WasmtimeError, PolicyError, NotFoundError, *LOWERING_ERRORS) as exc:
        call.error = exc.with_traceback(None)
    finally:
        http_policy.activate(None)
        call.http.helper = {}
        store = call.store = None
        if warm is not None:
            warm.drain_output()  # everything the guest wrote, into this call's tails
        # Inline, the replacement is built on this thread once the answer is out.
        refill_here = after_answer(partial(pool.refill, loaded.component_id))
        pool.release(warm, ok=ok, refill_here=refill_here)
        call.done.set()
        call.wake.set()
        # A spent instance's Store is freed here, after the caller was woken (or, inline, after
        # the answer, see deferred_frees): a Store delete (~0.2 ms, GIL released) then overlaps
        # with the answer instead of delaying it.
        _spend(warm)
        warm = None


def invoke(
    loaded: LoadedComponent,
    export_path: tuple[str, ...],
    args: Sequence[object],
    caps: Capabilities,
    *,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    cancel: CancelHandle | None = None,
    pool: InstancePool | None = None,
    on_abandon: Callable[[WassetteError], None] | None = None,
) -> InvokeResult:
    """Call ``export_path`` of ``loaded`` with ``args`` in a fresh sandbox built from ``caps``.

    ``export_path`` is ``("fn",)`` for a world-level export or ``("ns:pkg/iface@1.0.0", "fn")``
    for a function inside an exported interface. Returns within ``caps.timeout_seconds`` plus
    a fraction of a second, whatever the guest does. Raises :class:`ComponentTimeoutError`,
    :class:`ComponentTrapError` (:class:`ComponentMemoryError`), :class:`ComponentArgumentError`,
    :class:`PolicyError` (a memory limit too small to start, a missing preopen directory),
    :class:`NotFoundError` (no such export) or :class:`ComponentError`. The next call works
    whatever happened to this one.

    ``cancel``: cancelling it (from any thread) stops the guest within ~30 ms (or abandons
    it, if blocked in a host call, after :data:`CANCEL_GRACE_SECONDS`) and raises
    :class:`ComponentCancelledError`, unless the call had already succeeded.

    With ``pool``, the call runs in a warm instance built ahead for exactly ``caps`` (or one
    built now), single-use unless ``caps.max_invocations`` allows reuse.

    With ``on_abandon``, the guest runs on this thread (see the module doc): a timeout or
    cancellation the guest does not return from in time is handed to ``on_abandon`` (on the
    watchdog's thread), and this call then raises :class:`CallAbandoned` once the guest is back.
    """
    index = sandbox.export_index(loaded, tuple(export_path))
    stuck = abandoned_calls(loaded.component_id)
    if stuck >= MAX_ABANDONED_PER_COMPONENT:
        raise ComponentRunError(
            f"component {loaded.component_id!r} has {stuck} timed-out calls still blocked",
            why="earlier calls are stuck in host calls (sleeping or waiting on the network) "
            "that cannot be cancelled, and each holds a thread",
            fix="wait for them to finish, or restart the server; check why the component blocks",
        )
    redact = redactor(caps)
    call = _Call(caps, output_limit, margin=redact.max_match, cancel=cancel)
    started = time.monotonic()
    call_args = list(args)
    if pool is not None and not pool.applies_to(caps):
        pool = None

    def run() -> None:
        with _gate.slot():
            # Taken with the slot, not before it: a call waiting for its turn holds no
            # instance (16 calls in flight would otherwise hold up to the pool's size more).
            warm = pool.take(loaded, caps, output_limit) if pool is not None else None
            _run(loaded, index, call_args, call, warm=warm, pool=pool)

    if on_abandon is not None:
        _run_inline(run, call, loaded, export_path, redact, on_abandon)
        finished = True
    else:
        finished = _run_waiting(run, call)
    elapsed = time.monotonic() - started
    get_spool().finish_all(call.fds)
    denied = tuple(call.http.denied)
    if not finished:
        raise _abandonment(loaded, export_path, call, redact)
    if cancel is not None and cancel.cancelled and not call.ok:
        raise cancelled_error(loaded, export_path, call, redact, abandoned=False)
    if call.ok:
        return InvokeResult(
            value=call.value,
            stdout=call.stdout.redacted(redact),
            stderr=call.stderr.redacted(redact),
            denied_requests=denied,
            elapsed_seconds=elapsed,
        )
    if call.error is None:  # the worker died of an exception we did not expect
        raise ComponentRunError(
            f"call to {call_name(loaded, export_path)} failed unexpectedly",
            why="the runtime hit an internal error (its traceback went to stderr)",
            fix="retry; if it persists, report it with the server's stderr",
        )
    raise classify(loaded, export_path, caps, call, redact) from call.error


def _abandonment(
    loaded: LoadedComponent, export_path: tuple[str, ...], call: _Call, redact: Redactor
) -> WassetteError:
    """The guest is still out (stuck in a host call) when its caller stops waiting: count it
    among the abandoned calls, and the error to answer with (cancelled, or timed out)."""
    with _abandoned_lock:
        _abandoned[call] = loaded.component_id
    if call.cancel is not None and call.cancel.cancelled:
        return cancelled_error(loaded, export_path, call, redact, abandoned=True)
    return timeout_error(loaded, export_path, call.caps, call, redact, blocked=True)


def _spend(spent: object) -> None:
    """Keep a spent Store for the end of the answer (see ``deferred_frees``), unless calls are
    waiting for a guest slot: then it is freed now, or every call in flight would hold one
    (16 calls in flight peaked 30 MB higher)."""
    if not _gate.waiting:
        spend(spent)


def _run_waiting(run: Callable[[], None], call: _Call) -> bool:
    """Run the guest on a worker while this thread waits (at most the call's limit plus the
    graces, less if cancelled). True if the guest finished in time."""
    cancel = call.cancel
    if cancel is not None:
        cancel.on_cancel(call.wake.set)
    try:
        _pool.submit(run)
        call.wake.wait(max(call.caps.timeout_seconds, 0.0) + TIMEOUT_GRACE_SECONDS)
        if not call.done.is_set():
            cancelled = cancel is not None and cancel.cancelled
            call.done.wait(CANCEL_GRACE_SECONDS if cancelled else LATE_TRAP_SECONDS)
    finally:
        if cancel is not None:
            cancel.remove(call.wake.set)
    return call.done.is_set()


def _run_inline(  # noqa: PLR0917 - the call's context, passed through
    run: Callable[[], None],
    call: _Call,
    loaded: LoadedComponent,
    export_path: tuple[str, ...],
    redact: Redactor,
    on_abandon: Callable[[WassetteError], None],
) -> None:
    """Run the guest on this thread, the watchdog standing in for a waiting caller: the same
    deadlines as :func:`invoke`'s waits, the same errors, handed to ``on_abandon``. Returns
    when the guest is back in time; raises :class:`CallAbandoned` when it came back too late."""
    caps, cancel = call.caps, call.cancel

    def abandon() -> None:
        # The same error the waiting caller gives when it stops waiting.
        if call.done.is_set() or not call.settle():
            return
        get_spool().finish_all(call.fds)
        on_abandon(_abandonment(loaded, export_path, call, redact))

    def late() -> None:
        # Past the deadline and its grace: one more wait for a trap on a loaded machine.
        if not call.done.is_set():
            slots.append(_watchdog.watch(time.monotonic() + LATE_TRAP_SECONDS, abandon))

    def cancelled() -> None:
        slots.append(_watchdog.watch(time.monotonic() + CANCEL_GRACE_SECONDS, abandon))

    deadline = time.monotonic() + max(caps.timeout_seconds, 0.0) + TIMEOUT_GRACE_SECONDS
    slots = [_watchdog.watch(deadline, late)]
    if cancel is not None:
        cancel.on_cancel(cancelled)
    try:
        run()
    finally:
        if cancel is not None:
            cancel.remove(cancelled)
        for slot in list(slots):
            _watchdog.drop(slot)
    if not call.settle():
        raise CallAbandoned(call_name(loaded, export_path))
