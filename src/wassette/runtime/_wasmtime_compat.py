"""The one place that reaches below wasmtime-py's public API (its ctypes bindings).

wasmtime-py 50 exposes ``Store.set_epoch_deadline`` but not the C API's epoch-deadline
callback, and a deadline set from another thread is not seen by a guest already running: the
compiled code caches the deadline and only re-reads it once the cached one is crossed. The
callback is how a running guest can be stopped at once (cancellation) and how its time limit
can be judged against the monotonic clock rather than a count of ticks.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import wasmtime
from wasmtime import _ffi as ffi

__all__ = ["set_epoch_callback"]

_UPDATE_CONTINUE = 0  # wasmtime_update_deadline_kind_t: keep running, deadline += delta

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NO_FINALIZER = _FINALIZER()  # a NULL function pointer: nothing to free

TRAP_MESSAGE = "wassette: call interrupted"
"""The cause in a WasmtimeError raised because the callback stopped the guest."""


def set_epoch_callback(store: wasmtime.Store, decide: Callable[[], int]) -> object:
    """Call ``decide()`` (on the guest's thread) each time ``store``'s epoch deadline is hit.

    ``decide`` returns how many more ticks the guest may run before it is asked again, or 0 to
    trap the guest now (the error's cause reads :data:`TRAP_MESSAGE`). It must not raise (an
    exception is printed by ctypes and treated as 0 ticks more, i.e. a trap). Returns an
    object that must be kept alive as long as the Store: it owns the C function pointer.
    """

    def callback(_ctx: object, _data: object, delta: object, kind: object) -> int:
        try:
            more = decide()
        except Exception:  # noqa: BLE001 - an error in the decision must stop the guest
            more = 0
        if more <= 0:
            err = ffi.wasmtime_error_new(TRAP_MESSAGE.encode())
            return int(ctypes.cast(err, ctypes.c_void_p).value or 0)
        delta[0] = more  # type: ignore[index]
        kind[0] = _UPDATE_CONTINUE  # type: ignore[index]
        return 0

    keepalive = _CALLBACK(callback)
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), keepalive, None, _NO_FINALIZER)
    return keepalive
