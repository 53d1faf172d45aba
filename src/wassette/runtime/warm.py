"""One warm instance: a component instantiated in its own Store for one capability fingerprint.

:func:`build_warm` does a fresh call's sandbox setup (the same steps as ``invoke._run``) ahead
of the call; :class:`WarmInstance` is then bound to the call that takes it (its output into
that call's tails, its clock armed with that call's limit and cancel handle). The pool that
keeps them ready is ``runtime/pool.py``.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import wasmtime
import wasmtime.component as wc

from wassette.runtime import http_policy, sandbox
from wassette.runtime.cancel import StoreClock
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent, get_engine
from wassette.runtime.http_policy import DeniedRequest
from wassette.runtime.output import Sink, get_spool

__all__ = ["WarmInstance", "build_warm", "fingerprint"]


def _preopen_identity(caps: Capabilities) -> tuple[tuple[int, int], ...]:
    """(device, inode) of each preopened directory: a directory replaced at the same path is
    another sandbox (the warm instance holds a handle on the old one)."""
    out = []
    for preopen in caps.preopens:
        try:
            st = os.stat(preopen.host_path)
        except OSError:
            out.append((-1, -1))
        else:
            out.append((st.st_dev, st.st_ino))
    return tuple(out)


def fingerprint(caps: Capabilities, output_limit: int) -> tuple[object, ...]:
    """Everything a warm sandbox was built from, besides the compiled component itself.

    Compared by equality (never by hash alone), so two capability sets that differ in one env
    value, one preopen, one limit are never confused.
    """
    return (caps, output_limit, _preopen_identity(caps))


class _Redirect:
    """A guest output stream whose destination is chosen per call (the call's own tail).

    It stands where the output collector (``output.Spool``) expects a tail: ``keep``,
    ``lock``, ``closed`` and ``write``. Between calls (target None) it is not live, so the
    collector leaves its file alone: what the guest wrote while being instantiated goes to
    its first call's output, as it does for an instance built for the call.
    """

    __slots__ = ("closed", "keep", "lock", "target")

    def __init__(self, keep: int) -> None:
        self.target: Any = None
        self.keep = keep
        self.lock = threading.Lock()
        self.closed = False

    @property
    def live(self) -> bool:
        return self.target is not None  # a call is using the instance

    def write(self, data: bytes) -> None:
        target = self.target
        if target is not None:
            with target.lock:
                target.write(data)


class _BuildContext:
    """What ``sandbox.wasi_config`` reads from a call, for a sandbox built before the call."""

    def __init__(self, caps: Capabilities, output_limit: int) -> None:
        self.caps = caps
        # A margin like the call's own tails keep, so redaction still sees whole secrets.
        self.stdout = _Redirect(2 * output_limit)
        self.stderr = _Redirect(2 * output_limit)
        self.fds: list[tuple[int, Sink]] = []


def _close_outputs(fds: list[tuple[int, Sink]]) -> None:
    """Stop collecting a discarded warm instance's output files, and close them."""
    get_spool().finish_all(fds)


@dataclass(eq=False)
class WarmInstance:
    """An instantiated component in its own Store, built for one fingerprint."""

    component_id: str
    loaded: LoadedComponent
    key: tuple[object, ...]
    store: wasmtime.Store
    instance: wc.Instance
    stdout: _Redirect
    stderr: _Redirect
    helper: dict[str, wc.Func]
    # Requests the policy refused while the component was being instantiated.
    denied_at_start: tuple[DeniedRequest, ...]
    max_invocations: int
    # The Store's epoch callback state: deadline and cancel handle of the current call.
    clock: StoreClock
    # The guest's output files (memfd) and where they are collected into.
    fds: list[tuple[int, Sink]] = field(default_factory=list)
    uses: int = 0
    created: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        # Close the output files whenever the instance is dropped (used, stale or trimmed).
        weakref.finalize(self, _close_outputs, list(self.fds))

    def attach(self, call: Any, timeout_seconds: float) -> None:
        """Bind this sandbox to ``call`` (an ``invoke._Call``): output into the call's tails,
        the wasi:http shim's helper, its time limit counted from now and its cancel handle."""
        self.stdout.target = call.stdout
        self.stderr.target = call.stderr
        call.http.helper = self.helper
        if self.uses == 0 and self.denied_at_start:
            call.http.denied.extend(self.denied_at_start)
        self.clock.arm(timeout_seconds, call.cancel)
        call.clock = self.clock
        self.uses += 1
        get_spool().wake()  # its output files are polled while the call runs

    def drain_output(self) -> None:
        """Move what the guest wrote during this call into the call's tails (before detach)."""
        spool = get_spool()
        for fd, _redirect in self.fds:
            spool.drain(fd)

    def detach(self) -> None:
        self.stdout.target = None
        self.stderr.target = None


def build_warm(
    loaded: LoadedComponent, caps: Capabilities, key: tuple[object, ...]
) -> WarmInstance:
    """Build a sandbox for ``caps`` and instantiate ``loaded`` in it (no call is made).

    The same steps as a fresh call's setup in ``invoke._run``; raises what they raise
    (``wasmtime.WasmtimeError``, :class:`~wassette.errors.PolicyError`).
    """
    engine = get_engine()
    output_limit = int(key[1])  # type: ignore[call-overload] # see fingerprint()
    ctx = _BuildContext(caps, output_limit)
    store = wasmtime.Store(engine)
    # Before instantiation runs guest code: the time limit applies from here.
    clock = StoreClock.install(store, caps.timeout_seconds)
    if caps.memory_limit_bytes is not None:
        store.set_limits(memory_size=caps.memory_limit_bytes)
    try:
        store.set_wasi(sandbox.wasi_config(ctx))
    except BaseException:
        _close_outputs(ctx.fds)
        raise
    if loaded.imports_http:
        store.set_wasi_http()
    linker = sandbox.linker(loaded)
    helper: dict[str, wc.Func] = {}
    http = http_policy.HttpCallContext(caps=caps)
    try:
        if loaded.http_handler_imports:
            helper = http_policy.instantiate_helper(engine, store)
            http.helper = helper
            http_policy.activate(http)
        instance = linker.instantiate(store, loaded.component)
    except BaseException:
        _close_outputs(ctx.fds)  # no instance will own them
        raise
    finally:
        http_policy.activate(None)
        http.helper = {}
    return WarmInstance(
        component_id=loaded.component_id,
        loaded=loaded,
        key=key,
        store=store,
        instance=instance,
        stdout=ctx.stdout,
        stderr=ctx.stderr,
        helper=helper,
        denied_at_start=tuple(http.denied),
        max_invocations=max(1, caps.max_invocations),
        clock=clock,
        fds=ctx.fds,
    )
