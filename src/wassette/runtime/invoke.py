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

Values in and out are plain wasmtime-py values; JSON conversion lives in ``values.py``.
"""

from __future__ import annotations

import ctypes
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import wasmtime
import wasmtime.component as wc

from wassette.errors import (
    ComponentArgumentError,
    ComponentCancelledError,
    ComponentError,
    ComponentMemoryError,
    ComponentRunError,
    ComponentTimeoutError,
    ComponentTrapError,
    NotFoundError,
    PolicyError,
)
from wassette.runtime import http_policy
from wassette.runtime._wasmtime_compat import TRAP_MESSAGE
from wassette.runtime.cancel import CancelHandle, StoreClock
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent, get_engine
from wassette.runtime.http_policy import DeniedRequest
from wassette.runtime.pool import InstancePool, WarmInstance
from wassette.runtime.redaction import Redactor, redactor_for

__all__ = [
    "DEFAULT_OUTPUT_LIMIT",
    "InvokeResult",
    "abandoned_calls",
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

_STDERR_IN_MESSAGE = 800  # characters of stderr tail quoted in an error message
_WASM_PAGE = 65536
_MIN_MEMORY = re.compile(r"memory minimum size of (\d+) pages exceeds memory limits")
_OOM_MARKERS = ("MemoryError", "memory allocation of", "out of memory", "Out of memory")
# Exceptions wasmtime-py raises while converting our Python arguments to component values.
_LOWERING_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, KeyError, IndexError)


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


class _Tail:
    """The last ``limit`` bytes written by the guest to one stream, plus a margin.

    The margin (``keep`` - ``limit``) is what lets redaction run *before* the cut: a secret
    that straddles the cut is still whole in the buffer, so it is replaced as a whole and
    no prefix or suffix of it is left at the start of the tail.
    """

    def __init__(self, limit: int, margin: int = 0) -> None:
        self.limit = limit
        self.keep = limit + margin
        self._buf = bytearray()
        self.lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self.keep:
            del self._buf[: len(self._buf) - self.keep]

    def redacted(self, redact: Redactor) -> str:
        """The last ``limit`` bytes as text, secrets redacted before the cut."""
        with self.lock:
            buf = bytes(self._buf)
        cut = max(0, len(buf) - self.limit)
        while cut < len(buf) and 0x80 <= buf[cut] < 0xC0:  # not inside a UTF-8 character
            cut += 1
        start = len(buf[:cut].decode("utf-8", errors="replace"))
        text = buf.decode("utf-8", errors="replace")
        return redact.tail(text, start)


class _Spool:
    """Collects guest stdout/stderr from in-memory files into their :class:`_Tail`.

    Why files: wasmtime's custom-output stream offers the guest 8 KiB per write, a file stream
    64 KiB, and guest runtimes (CPython's among them) drop the rest of a larger write when it
    comes back short, so a 20 KB write arrived as its first 8 KB. A pipe would do too, but
    wasmtime serves a pipe through its slow non-file path (several ms per call with output);
    an anonymous in-memory file (``memfd``) is as fast as the custom stream.

    Memory stays bounded: while a call runs, one thread reads what each file gained every
    :data:`period` seconds into the bounded tail and punches the consumed range out of the
    file (the file keeps its size, as a hole, so the guest's write offset stays valid). At the
    end of the call the rest is read and the file closed.
    """

    period = 0.01

    def __init__(self) -> None:
        self._active: dict[int, tuple[_Tail, list[int]]] = {}
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, name="wassette-output", daemon=True).start()

    def open(self, tail: _Tail) -> int:
        """A new in-memory file collected into ``tail``; give wasmtime ``/proc/self/fd/N``."""
        fd = os.memfd_create("wassette-guest-output", os.MFD_CLOEXEC)
        with self._cond:
            self._active[fd] = (tail, [0])
            self._cond.notify()
        return fd

    @staticmethod
    def _collect(fd: int, tail: _Tail, offset: list[int]) -> None:
        """Move what the file gained since ``offset`` into ``tail``. Hold ``tail.lock``."""
        size = os.fstat(fd).st_size
        start = max(offset[0], size - tail.keep)  # older bytes would fall out of the tail
        while start < size:
            data = os.pread(fd, min(size - start, 1 << 20), start)
            if not data:
                break
            tail.write(data)
            start += len(data)
        if start > offset[0]:
            _punch_hole(fd, start)
            offset[0] = start

    def drain(self, fd: int) -> None:
        """Take what the guest wrote to ``fd`` so far, and keep collecting it (a warm
        instance's output file outlives one call)."""
        with self._cond:
            entry = self._active.get(fd)
        if entry is None:
            return
        tail, offset = entry
        with tail.lock:
            if not tail.closed:
                self._collect(fd, tail, offset)

    def finish(self, fd: int, tail: _Tail) -> None:
        """Take what the guest wrote so far, stop collecting ``fd`` and close it."""
        with self._cond:
            entry = self._active.pop(fd, None)
        with tail.lock:
            if entry is not None and not tail.closed:
                self._collect(fd, tail, entry[1])
                tail.closed = True
                os.close(fd)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._active:
                    self._cond.wait()
                entries = list(self._active.items())
            for fd, (tail, offset) in entries:
                with tail.lock:
                    if not tail.closed:  # a closed tail's fd number may already be reused
                        self._collect(fd, tail, offset)
            time.sleep(self.period)


_PAGE = 4096
_libc: Any = None


def _punch_hole(fd: int, end: int) -> None:
    """Free the memory of bytes [0, end) of ``fd`` (keeping its size); best effort."""
    global _libc  # noqa: PLW0603 - loaded once
    length = end - end % _PAGE
    if length <= 0:
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
    _libc.fallocate(fd, 0x01 | 0x02, 0, length)


_spool: _Spool | None = None
_spool_lock = threading.Lock()


def get_spool() -> _Spool:
    """The process's output collector (the warm-instance pool opens its files here too)."""
    return _get_spool()


def _get_spool() -> _Spool:
    global _spool  # noqa: PLW0603 - one collector thread per process, started on first use
    with _spool_lock:
        if _spool is None:
            _spool = _Spool()
        return _spool


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
        self.stdout = _Tail(output_limit, margin)
        self.stderr = _Tail(output_limit, margin)
        self.fds: list[tuple[int, _Tail]] = []
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


class _WorkerPool:
    """Reusable daemon threads for calls (starting a thread per call costs ~0.5 ms).

    A worker runs one job at a time and goes back to the idle list when it is done, even if
    its caller gave up waiting (a blocked host call returns eventually, and the worker is
    fine afterwards). At most ``max_idle`` idle workers are kept; extra ones exit (32: 16 calls
    in flight must not start a thread each time).
    """

    def __init__(self, max_idle: int = 32) -> None:
        self.max_idle = max_idle
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._work, args=(inbox,), name="wassette-call", daemon=True
            ).start()
        inbox.put(job)

    def _work(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            with self._lock:
                if len(self._idle) >= self.max_idle:
                    return
                self._idle.append(inbox)


_pool = _WorkerPool()


def _linker(loaded: LoadedComponent) -> wc.Linker:
    with loaded._lock:
        linker = loaded._cache.get("linker")
        if isinstance(linker, wc.Linker):
            return linker
        linker = wc.Linker(get_engine())
        if loaded.http_handler_imports:
            linker.allow_shadowing = True
        linker.add_wasip2()
        if loaded.imports_http:
            linker.add_wasi_http()
            http_policy.define_shims(linker, loaded.http_handler_imports)
        loaded._cache["linker"] = linker
        return linker


def _export_index(loaded: LoadedComponent, export_path: tuple[str, ...]) -> wc.ExportIndex:
    key = ("export", export_path)
    with loaded._lock:
        cached = loaded._cache.get(key)
        if isinstance(cached, wc.ExportIndex):
            return cached
        index: wc.ExportIndex | None = None
        for name in export_path:
            index = loaded.component.get_export_index(name, index)
            if index is None:
                break
        if index is None or not export_path:
            raise NotFoundError(
                f"component {loaded.component_id!r} has no export {'/'.join(export_path)!r}",
                fix="list the component's tools and call one of those",
            )
        loaded._cache[key] = index
        return index


def _wasi_config(call: _Call) -> wasmtime.WasiConfig:
    caps = call.caps
    wasi = wasmtime.WasiConfig()
    # Assigned exactly once: each assignment to `env` appends to the previous list.
    wasi.env = [[key, value] for key, value in caps.env]
    for preopen in caps.preopens:
        try:
            wasi.preopen_dir(str(preopen.host_path), preopen.guest_path, preopen.writable)
        except wasmtime.WasmtimeError as exc:
            raise PolicyError(
                f"the storage permission for {preopen.host_path} cannot be used",
                why="the directory does not exist or cannot be opened",
                fix="create the directory, or revoke the storage permission for it",
            ) from exc
    spool = _get_spool()
    for tail, name in ((call.stdout, "stdout_file"), (call.stderr, "stderr_file")):
        fd = spool.open(tail)
        call.fds.append((fd, tail))
        setattr(wasi, name, f"/proc/self/fd/{fd}")  # wasmtime opens a descriptor of its own
    return wasi


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
        store.set_wasi(_wasi_config(call))
        if loaded.imports_http:
            store.set_wasi_http()
        call.store = store
        linker = _linker(loaded)
        call.phase = "instantiate"
        if loaded.http_handler_imports:
            call.http.helper = http_policy.instantiate_helper(engine, store)
            http_policy.activate(call.http)
        instance = linker.instantiate(store, loaded.component)
        func = instance.get_func(store, index)
        if func is None:
            raise NotFoundError(
                f"export of component {loaded.component_id!r} is not a function",
                fix="call a function export",
            )
        call.phase = "call"
        call.value = func(store, *args)
        call.ok = True
    except (wasmtime.WasmtimeError, PolicyError, NotFoundError, *_LOWERING_ERRORS) as exc:
        # Without its traceback: that would hold this frame, hence `call`, hence the error
        # itself (a cycle only the GC frees, maybe not before interpreter shutdown).
        call.error = exc.with_traceback(None)
    finally:
        http_policy.activate(None)
        call.http.helper = {}
        # Free the Store here, on this thread, now: a traceback kept in `call.error` would
        # otherwise hold this frame (and the Store) alive until some later GC, possibly at
        # interpreter shutdown, when wasmtime's threads can no longer call back into Python.
        store = None
        call.store = None
        call.done.set()
        call.wake.set()


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
        func = warm.instance.get_func(store, index)
        if func is None:
            raise NotFoundError(
                f"export of component {loaded.component_id!r} is not a function",
                fix="call a function export",
            )
        call.phase = "call"
        call.value = func(store, *args)
        call.ok = ok = True
    except (wasmtime.WasmtimeError, PolicyError, NotFoundError, *_LOWERING_ERRORS) as exc:
        call.error = exc.with_traceback(None)
    finally:
        http_policy.activate(None)
        call.http.helper = {}
        store = call.store = None
        if warm is not None:
            warm.drain_output()  # everything the guest wrote, into this call's tails
            pool.release(warm, ok=ok)
        warm = None
        call.done.set()
        call.wake.set()


def invoke(
    loaded: LoadedComponent,
    export_path: tuple[str, ...],
    args: Sequence[object],
    caps: Capabilities,
    *,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    cancel: CancelHandle | None = None,
    pool: InstancePool | None = None,
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
    """
    index = _export_index(loaded, tuple(export_path))
    stuck = abandoned_calls(loaded.component_id)
    if stuck >= MAX_ABANDONED_PER_COMPONENT:
        raise ComponentRunError(
            f"component {loaded.component_id!r} has {stuck} timed-out calls still blocked",
            why="earlier calls are stuck in host calls (sleeping or waiting on the network) "
            "that cannot be cancelled, and each holds a thread",
            fix="wait for them to finish, or restart the server; check why the component blocks",
        )
    redact = _redactor(caps)
    call = _Call(caps, output_limit, margin=redact.max_match, cancel=cancel)
    started = time.monotonic()
    call_args = list(args)
    if pool is not None and not pool.applies_to(caps):
        pool = None
    warm = pool.take(loaded, caps, output_limit) if pool is not None else None
    if cancel is not None:
        cancel.on_cancel(call.wake.set)
    try:
        _pool.submit(lambda: _run(loaded, index, call_args, call, warm=warm, pool=pool))
        call.wake.wait(max(caps.timeout_seconds, 0.0) + TIMEOUT_GRACE_SECONDS)
        if not call.done.is_set():
            cancelled = cancel is not None and cancel.cancelled
            call.done.wait(CANCEL_GRACE_SECONDS if cancelled else LATE_TRAP_SECONDS)
    finally:
        if cancel is not None:
            cancel.remove(call.wake.set)
    finished = call.done.is_set()
    elapsed = time.monotonic() - started
    spool = _get_spool()
    for fd, tail in list(call.fds):
        spool.finish(fd, tail)
    denied = tuple(call.http.denied)
    if not finished:
        with _abandoned_lock:
            _abandoned[call] = loaded.component_id
    if cancel is not None and cancel.cancelled and not (finished and call.ok):
        raise _cancelled_error(loaded, export_path, call, redact, abandoned=not finished)
    if not finished:
        raise _timeout_error(loaded, export_path, caps, call, redact, blocked=True)
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
            f"call to {_name(loaded, export_path)} failed unexpectedly",
            why="the runtime hit an internal error (its traceback went to stderr)",
            fix="retry; if it persists, report it with the server's stderr",
        )
    raise _classify(loaded, export_path, caps, call, redact) from call.error


# --- failure classification -------------------------------------------------------------------


def _redactor(caps: Capabilities) -> Redactor:
    return redactor_for(caps.redaction_pairs())


def _name(loaded: LoadedComponent, export_path: Sequence[str]) -> str:
    return f"{loaded.component_id}/{'#'.join(export_path)}"


def _stderr_excerpt(call: _Call, redact: Redactor) -> str:
    text = call.stderr.redacted(redact).strip()
    if not text:
        return ""
    excerpt = text[-_STDERR_IN_MESSAGE:]
    lines = [line.strip() for line in excerpt.splitlines() if line.strip()]
    return " | ".join(lines)


def _trap_reason(text: str, kind: str) -> str:
    """The useful part of a wasmtime error: its root cause, not the wasm backtrace.

    A trap reads "error while executing at wasm backtrace: ... Caused by: wasm trap: X": we keep
    X. Other errors (e.g. a missing import) keep their headline plus the deepest cause.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return kind
    if "Caused by:" not in lines:
        return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"
    causes = [re.sub(r"^\d+:\s*", "", c) for c in lines[lines.index("Caused by:") + 1 :]]
    if not causes:
        return lines[0]
    if lines[0].startswith("error while executing"):
        return causes[-1]
    return f"{lines[0]} ({causes[-1]})"


def _fmt_bytes(n: int) -> str:
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n >= size:
            whole, rest = divmod(n, size)
            return f"{whole}{unit}" if rest == 0 else f"{n / size:.1f}{unit}"
    return f"{n} bytes"


def _suggest_memory(need: int) -> str:
    """A round limit with headroom: the next power-of-two MiB at least twice ``need``."""
    mib = max(1, math.ceil(2 * need / (1 << 20)))
    return f"{1 << (mib - 1).bit_length()}Mi"


def network_fix_hint(component_id: str, denied: Sequence[DeniedRequest]) -> str:
    """How to allow the destinations in ``denied`` (empty if none can be allowed).

    Requests denied for their form (userinfo, an unknown scheme: ``port`` is None) are left
    out: no grant makes those pass.
    """
    # A host that held an injected value (now a placeholder) is never offered as a grant.
    hosts = sorted({d.host for d in denied if d.host and d.port is not None and not d.redacted})
    if not hosts:
        return ""
    grants = "; ".join(f"`wassette permission grant network {component_id} {h}`" for h in hosts)
    return f"if the component should reach them, grant network access: {grants}"


def _with_denials(loaded: LoadedComponent, call: _Call, why: str, fix: str) -> tuple[str, str]:
    denied = call.http.denied
    if not denied:
        return why, fix
    places = ", ".join(sorted({d.destination for d in denied}))
    hint = network_fix_hint(loaded.component_id, denied)
    return (
        f"{why}; the policy denied outgoing HTTP to {places}",
        f"{hint}; otherwise: {fix}" if hint else fix,
    )


def _timeout_error(
    loaded: LoadedComponent,
    export_path: Sequence[str],
    caps: Capabilities,
    call: _Call,
    redact: Redactor,
    *,
    blocked: bool,
) -> ComponentTimeoutError:
    where = (
        "it was blocked in a host call (sleeping or waiting on I/O) and was abandoned"
        if blocked
        else "it was still computing and was interrupted"
    )
    stage = "instantiation" if call.phase == "instantiate" else "the call"
    why = f"{stage} did not finish within {caps.timeout_seconds:g} s: {where}"
    fix = (
        f"if the work legitimately takes longer, raise the time limit (currently "
        f"{caps.timeout_seconds:g} s): `wassette permission grant timeout "
        f"{loaded.component_id} {max(2 * caps.timeout_seconds, 1):g}s`; otherwise check the "
        f"arguments for input that makes the tool loop or wait forever"
    )
    why, fix = _with_denials(loaded, call, why, fix)
    stderr = _stderr_excerpt(call, redact)
    if stderr:
        why += f"; guest stderr ends with: {stderr}"
    return ComponentTimeoutError(
        f"call to {_name(loaded, export_path)} timed out",
        why=why,
        fix=fix,
        stderr_tail=call.stderr.redacted(redact),
        denied_destinations=tuple(d.destination for d in call.http.denied),
    )


def _cancelled_error(
    loaded: LoadedComponent,
    export_path: Sequence[str],
    call: _Call,
    redact: Redactor,
    *,
    abandoned: bool,
) -> ComponentCancelledError:
    reason = (call.cancel.reason if call.cancel is not None else None) or "it was cancelled"
    how = (
        "the guest was blocked in a host call (sleeping or waiting on I/O) and was abandoned; "
        "its thread ends when that host call returns"
        if abandoned
        else "the guest was stopped"
    )
    return ComponentCancelledError(
        f"call to {_name(loaded, export_path)} was cancelled",
        why=f"{reason}; {how}",
        fix="call the tool again if its result is still needed",
        stderr_tail=call.stderr.redacted(redact),
        denied_destinations=tuple(d.destination for d in call.http.denied),
    )


def _classify(  # noqa: PLR0911 - one return per kind of failure reads best
    loaded: LoadedComponent,
    export_path: Sequence[str],
    caps: Capabilities,
    call: _Call,
    redact: Redactor,
) -> ComponentError | PolicyError | NotFoundError:
    error = call.error
    if isinstance(error, (PolicyError, NotFoundError)):
        return error
    assert error is not None
    text = str(error)
    # Redacted before the useful line is picked out: a value spanning lines is replaced whole.
    reason = _trap_reason(redact(text), type(error).__name__)
    name = _name(loaded, export_path)
    stderr_text = call.stderr.redacted(redact)
    denied = tuple(d.destination for d in call.http.denied)
    stderr = _stderr_excerpt(call, redact)
    tail = f"; guest stderr ends with: {stderr}" if stderr else ""

    if isinstance(error, wasmtime.WasmtimeError) and (
        TRAP_MESSAGE in text or "wasm trap: interrupt" in text
    ):
        return _timeout_error(loaded, export_path, caps, call, redact, blocked=False)

    limit = caps.memory_limit_bytes
    match = _MIN_MEMORY.search(text)
    if match and limit is not None:
        need = int(match.group(1)) * _WASM_PAGE
        return PolicyError(
            f"the memory limit of {_fmt_bytes(limit)} is too small for component "
            f"{loaded.component_id!r} to start",
            why=f"it needs at least {_fmt_bytes(need)} of linear memory just to be instantiated",
            fix=f"grant more memory, e.g. `wassette permission grant memory "
            f"{loaded.component_id} {_suggest_memory(need)}`",
        )

    if isinstance(error, _LOWERING_ERRORS):
        return ComponentArgumentError(
            f"the arguments do not fit {name}",
            why=f"{type(error).__name__}: {reason}",
            fix="pass values of the types in the tool's input schema",
            stderr_tail=stderr_text,
            denied_destinations=denied,
        )

    if any(marker in stderr_text for marker in _OOM_MARKERS) or (
        limit is not None and "memory" in reason.lower() and "out of bounds" not in reason
    ):
        if limit is not None:
            fix = (
                f"if the input really needs more, raise the memory limit (now "
                f"{_fmt_bytes(limit)}): `wassette permission grant memory "
                f"{loaded.component_id} {_suggest_memory(limit)}`"
            )
        else:
            fix = "the guest exhausted its address space: call it with smaller input"
        return ComponentMemoryError(
            f"{name} ran out of memory",
            why=f"{reason}{tail}",
            fix=fix,
            stderr_tail=stderr_text,
            denied_destinations=denied,
        )

    if call.phase == "instantiate" and "wasm trap" not in text:
        return ComponentRunError(
            f"component {loaded.component_id!r} cannot be instantiated",
            why=f"{reason}{tail}",
            fix="it imports something this runtime does not provide (wassette offers WASI "
            "0.2 and wasi:http); rebuild it against those interfaces",
            stderr_tail=stderr_text,
            denied_destinations=denied,
        )

    why, fix = _with_denials(
        loaded,
        call,
        f"{reason}{tail}",
        "this is a bug or an unhandled error in the component; its stderr above says more",
    )
    return ComponentTrapError(
        f"{name} crashed",
        why=why,
        fix=fix,
        stderr_tail=stderr_text,
        denied_destinations=denied,
    )
