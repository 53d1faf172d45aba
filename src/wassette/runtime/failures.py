"""Why a call failed, in words: traps, timeouts, memory, bad arguments, cancellation.

Turns what a worker thread caught (a wasmtime error, a lowering error, a policy or lookup
error) plus the call's stderr tail and refused HTTP requests into one of our errors with a
message, a reason and the command that fixes it. Secret values are redacted before any text
of the guest's (its stderr, a trap message) is quoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol

import wasmtime

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
from wassette.runtime._wasmtime_compat import TRAP_MESSAGE
from wassette.runtime.cancel import CancelHandle
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.engine import LoadedComponent
from wassette.runtime.http_policy import DeniedRequest, HttpCallContext
from wassette.runtime.output import Tail
from wassette.runtime.redaction import Redactor, redactor_for

__all__ = [
    "LOWERING_ERRORS",
    "FailedCall",
    "call_name",
    "cancelled_error",
    "classify",
    "network_fix_hint",
    "redactor",
    "timeout_error",
]

_STDERR_IN_MESSAGE = 800  # characters of stderr tail quoted in an error message
_WASM_PAGE = 65536
_MIN_MEMORY = r"memory minimum size of (\d+) pages exceeds memory limits"  # an error path
_OOM_MARKERS = ("MemoryError", "memory allocation of", "out of memory", "Out of memory")
LOWERING_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, KeyError, IndexError)
"""Exceptions wasmtime-py raises while converting our Python arguments to component values."""


class FailedCall(Protocol):
    """What classification reads of a call (``invoke``'s per-call state)."""

    stderr: Tail
    http: HttpCallContext
    phase: str
    error: BaseException | None
    cancel: CancelHandle | None


def redactor(caps: Capabilities) -> Redactor:
    """What replaces the call's secret values in anything quoted from the guest."""
    return redactor_for(caps.redaction_pairs())


def call_name(loaded: LoadedComponent, export_path: Sequence[str]) -> str:
    """``<component-id>/<export>`` as error messages name a call."""
    return f"{loaded.component_id}/{'#'.join(export_path)}"


def _stderr_excerpt(call: FailedCall, redact: Redactor) -> str:
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


def _with_denials(loaded: LoadedComponent, call: FailedCall, why: str, fix: str) -> tuple[str, str]:
    denied = call.http.denied
    if not denied:
        return why, fix
    places = ", ".join(sorted({d.destination for d in denied}))
    hint = network_fix_hint(loaded.component_id, denied)
    return (
        f"{why}; the policy denied outgoing HTTP to {places}",
        f"{hint}; otherwise: {fix}" if hint else fix,
    )


def timeout_error(
    loaded: LoadedComponent,
    export_path: Sequence[str],
    caps: Capabilities,
    call: FailedCall,
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
        f"call to {call_name(loaded, export_path)} timed out",
        why=why,
        fix=fix,
        stderr_tail=call.stderr.redacted(redact),
        denied_destinations=tuple(d.destination for d in call.http.denied),
    )


def cancelled_error(
    loaded: LoadedComponent,
    export_path: Sequence[str],
    call: FailedCall,
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
        f"call to {call_name(loaded, export_path)} was cancelled",
        why=f"{reason}; {how}",
        fix="call the tool again if its result is still needed",
        stderr_tail=call.stderr.redacted(redact),
        denied_destinations=tuple(d.destination for d in call.http.denied),
    )


def classify(  # noqa: PLR0911 - one return per kind of failure reads best
    loaded: LoadedComponent,
    export_path: Sequence[str],
    caps: Capabilities,
    call: FailedCall,
    redact: Redactor,
) -> ComponentError | PolicyError | NotFoundError:
    error = call.error
    if isinstance(error, (PolicyError, NotFoundError)):
        return error
    assert error is not None
    text = str(error)
    # Redacted before the useful line is picked out: a value spanning lines is replaced whole.
    reason = _trap_reason(redact(text), type(error).__name__)
    name = call_name(loaded, export_path)
    stderr_text = call.stderr.redacted(redact)
    denied = tuple(d.destination for d in call.http.denied)
    stderr = _stderr_excerpt(call, redact)
    tail = f"; guest stderr ends with: {stderr}" if stderr else ""

    if isinstance(error, wasmtime.WasmtimeError) and (
        TRAP_MESSAGE in text or "wasm trap: interrupt" in text
    ):
        return timeout_error(loaded, export_path, caps, call, redact, blocked=False)

    limit = caps.memory_limit_bytes
    match = re.search(_MIN_MEMORY, text)
    if match and limit is not None:
        need = int(match.group(1)) * _WASM_PAGE
        return PolicyError(
            f"the memory limit of {_fmt_bytes(limit)} is too small for component "
            f"{loaded.component_id!r} to start",
            why=f"it needs at least {_fmt_bytes(need)} of linear memory just to be instantiated",
            fix=f"grant more memory, e.g. `wassette permission grant memory "
            f"{loaded.component_id} {_suggest_memory(need)}`",
        )

    if isinstance(error, LOWERING_ERRORS):
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
