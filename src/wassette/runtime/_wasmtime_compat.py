"""The one place that reaches below wasmtime-py's public API (pinned: wasmtime-py 50.0.1).

Two things need it, and nothing else in the code base may (a test greps ``src/`` for it):

- **The epoch-deadline callback** (:func:`set_epoch_callback`). wasmtime-py exposes
  ``Store.set_epoch_deadline`` but not the C API's epoch-deadline callback, and a deadline set
  from another thread is not seen by a guest already running: the compiled code caches the
  deadline and only re-reads it once the cached one is crossed. The callback is how a running
  guest can be stopped at once (cancellation) and how its time limit can be judged against
  the monotonic clock rather than a count of ticks. Uses the ctypes bindings (``wasmtime._ffi``).
- **Variant cases given by name** (:class:`ForcedCase`, :func:`install`). wasmtime-py chooses
  the case of an untagged variant/option/result value from the Python class of its payload,
  so some values cannot be passed at all (``flag(true)`` after a ``small(u8)`` case: ``True``
  is an ``int``). :func:`install` wraps ``VariantLikeType._lower`` (private, in
  ``wasmtime.component._types``) so a :class:`ForcedCase` is lowered as the case it names.

- **A leak in lifting variant payloads** (:func:`install`, ``_lift``). wasmtime-py 50 frees
  the heap box holding the payload of a returned variant/option/result with
  ``wasmtime_component_val_delete``, which (as wasmtime's C header warns) drops the contents
  but not the box itself: ~50 bytes lost per ``option<string>`` result, every call, forever
  (measured: RSS grew linearly over 30,000 calls). The replacement is the same code freeing
  the box with ``wasmtime_component_val_free``.

Nothing is patched at import time: :func:`install` is called explicitly, by the runtime's
start-up (:func:`wassette.runtime.engine.get_engine`) and by the value converter before it
produces its first :class:`ForcedCase`. If wasmtime-py does not look as expected, nothing is
patched, :func:`install` returns False and such values are refused instead.

On a wasmtime-py upgrade: re-check every name in :data:`PRIVATE_SYMBOLS`, the behaviour of
``VariantLikeType._lower`` (it returns ``(case name, lowered payload or None)``, and the
lowered payload is owned by the caller) and whether ``VariantLikeType._lift`` still frees
the payload's box with ``val_delete`` (fixed upstream: drop our ``_lift``), then update
:data:`PINNED_WASMTIME`.
``tests/runtime/test_wasmtime_compat.py`` fails on any mismatch.
"""

from __future__ import annotations

import ctypes
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._store import Storelike
from wasmtime.component import _types as sdk_types

__all__ = [
    "PINNED_WASMTIME",
    "PRIVATE_SYMBOLS",
    "TRAP_MESSAGE",
    "ForcedCase",
    "forced_cases_installed",
    "install",
    "missing_private_symbols",
    "set_epoch_callback",
]

PINNED_WASMTIME: Final = "50.0.1"
"""The wasmtime-py release every private name below was checked against."""

PRIVATE_SYMBOLS: Final[tuple[tuple[str, str], ...]] = (
    # (module, dotted attribute path) of every private name this module relies on.
    ("wasmtime._ffi", "wasmtime_context_t"),
    ("wasmtime._ffi", "wasmtime_update_deadline_kind_t"),
    ("wasmtime._ffi", "wasmtime_error_new"),
    ("wasmtime._ffi", "wasmtime_store_epoch_deadline_callback"),
    ("wasmtime._ffi", "wasmtime_component_val_t"),
    ("wasmtime._ffi", "wasmtime_component_val_new"),
    ("wasmtime._ffi", "wasmtime_component_val_free"),
    ("wasmtime._ffi", "WASMTIME_COMPONENT_BOOL"),
    ("wasmtime._store", "Storelike"),
    ("wasmtime.component._types", "VariantLikeType"),
    ("wasmtime.component._types", "VariantLikeType._lower"),
    ("wasmtime.component._types", "VariantLikeType._cases"),
    ("wasmtime.component._types", "VariantLikeType._lift"),
    ("wasmtime.component._types", "VariantLikeType._tagged"),
    ("wasmtime.component._types", "Variant"),
    ("wasmtime.component._types", "ValType.convert_to_c"),
)


def missing_private_symbols() -> list[str]:
    """The entries of :data:`PRIVATE_SYMBOLS` the installed wasmtime-py does not have."""
    missing = []
    for module_name, path in PRIVATE_SYMBOLS:
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name} (module)")
            continue
        for part in path.split("."):
            if not hasattr(obj, part):
                missing.append(f"{module_name}.{path}")
                break
            obj = getattr(obj, part)
    return missing


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


# ---------------------------------------------------------------------------------------------
# Variant cases given by name


@dataclass(frozen=True)
class ForcedCase:
    """A variant/option/result value whose case is given by name, not by its payload's class.

    Only produced for untagged types where wasmtime-py's class-based choice would pick another
    case (``variant { small(u8), flag(bool) }`` with ``flag(true)``: ``True`` is an ``int``),
    and only once :func:`install` has succeeded.
    """

    tag: str
    payload: Any = None


_MARK: Final = "_wassette_forced_case"
_install_lock = threading.Lock()
_installed = False


def forced_cases_installed() -> bool:
    """Whether :func:`install` has put the :class:`ForcedCase` hook in place."""
    return _installed


def install() -> bool:
    """Teach wasmtime-py's variant lowering to honour :class:`ForcedCase` values, and its
    variant lifting to free what it lifted (see the module doc).

    ``VariantLikeType._lower(store, val)`` returns ``(case name, lowered payload or None)``
    for variants, options and results, nested anywhere. The hook handles ``ForcedCase``
    exactly as the SDK handles the case it selected itself (same FFI calls, same ownership)
    and leaves every other value to the original. Additive and idempotent (thread-safe);
    returns False, patching nothing, if the SDK does not look as expected (another version).
    """
    global _installed  # noqa: PLW0603 - a once-per-process patch, guarded by a lock
    with _install_lock:
        if _installed:
            return True
        if missing_private_symbols():
            return False
        variant_like: Any = sdk_types.VariantLikeType
        original = variant_like._lower
        if not getattr(original, _MARK, False):

            def _lower(self: Any, store: Storelike, val: Any) -> Any:
                if not isinstance(val, ForcedCase):
                    return original(self, store, val)
                for name, ty in self._cases():
                    if name != val.tag:
                        continue
                    if ty is None:
                        return (name, None)
                    raw = ffi.wasmtime_component_val_t()
                    ty.convert_to_c(store, val.payload, ctypes.pointer(raw))
                    return (name, ffi.wasmtime_component_val_new(ctypes.byref(raw)))
                raise ValueError(f"no case {val.tag!r} in this variant")

            setattr(_lower, _MARK, True)
            variant_like._lower = _lower
        if not getattr(variant_like._lift, _MARK, False):
            variant_like._lift = _lift
        _installed = True
        return True


def _lift(self: Any, tag: str, ptr: Any) -> Any:
    """wasmtime-py 50's ``VariantLikeType._lift``, freeing the payload's heap box with
    ``wasmtime_component_val_free`` (its ``val_delete`` left the box allocated)."""
    tagged = self._tagged()
    for name, ty in self._cases():
        if name != tag:
            continue
        if ty is None:
            return sdk_types.Variant(tag) if tagged else None
        payload = ty.convert_from_c(ptr.contents)
        # The payload's contents were moved out by convert_from_c: neutralise them so that
        # freeing the box frees nothing twice, as the original does before its delete.
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_BOOL
        ptr.contents.of.boolean = False
        ffi.wasmtime_component_val_free(ptr)
        return sdk_types.Variant(tag, payload) if tagged else payload
    raise ValueError(f"tag {tag} not found in variant cases")


setattr(_lift, _MARK, True)
