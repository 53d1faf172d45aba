"""The wasi:http host allow-list: every outgoing request is checked against the capabilities.

wasmtime's own ``wasi:http`` gives a guest unrestricted outgoing HTTP and has no request hook.
So for each ``wasi:http/outgoing-handler@X`` the component imports, under that **exact** name,
we define our own ``handle`` in the linker (shadowing wasmtime's). It reads the request's scheme
and authority through a tiny helper component (:data:`HELPER_WAT`, hand-written component WAT
that re-exports wasmtime's own accessors), instantiated in the same Store, and then either

* returns the ``HTTP-request-denied`` error code to the guest (and records the destination so
  the caller can say which network permission to grant), or
* forwards the untouched request to wasmtime's real handler through the helper.

Shadowing the exact imported name matters: shadowing another 0.2.x version would leave the
component's own version to be satisfied by wasmtime's handler through semver matching, which
would bypass the policy. Sockets (``wasi:sockets``) cannot be enabled in wasmtime-py at all.

The check uses what the host will actually connect to: wasmtime connects to the request's
authority, over TLS when the scheme is HTTPS *or absent*, and in plain text for any other
scheme; so an absent scheme is judged as ``https`` and an "other" scheme is always denied.

A host *name* that is allowed is also resolved before forwarding: if it resolves to a loopback,
private, link-local or otherwise non-public address, the request is denied unless the grant
names that address (an IP literal) or ``localhost`` itself. A grant for ``api.example.com``
must not become a way into this machine or its network because someone controls that name's
DNS. (wasmtime resolves the name again when it connects; a DNS answer that changes between
the two lookups is not caught here.)
"""

from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from wassette.lazylog import get_logger
from wassette.runtime.capabilities import Capabilities
from wassette.runtime.redaction import Redactor, redactor_for

__all__ = [
    "HELPER_WAT",
    "DeniedRequest",
    "HttpCallContext",
    "define_shims",
    "parse_authority",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}

log = get_logger(__name__)


def _non_public(address: str) -> bool:
    try:
        addr = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address we can judge: treat as not public
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not addr.is_global or addr.is_multicast


def names_itself(host: str) -> bool:
    """True when ``host`` is an IP literal or ``localhost``: a grant for it is explicit about
    the address, so no resolution check applies."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolves_to_non_public(host: str, port: int) -> bool:
    """Whether the name ``host`` resolves to any loopback/private/non-public address.

    A name that does not resolve is left to fail on its own (False)."""
    import socket  # only components granted the network pay for it

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return any(_non_public(str(info[4][0])) for info in infos)


@dataclass(frozen=True)
class DeniedRequest:
    """An outgoing request the policy refused. No path or query: those may carry secrets."""

    scheme: str
    host: str
    port: int | None
    method: str
    # True when an injected value was found (and replaced) in the host: such a destination
    # is never offered as a `permission grant network` fix.
    redacted: bool = False

    @property
    def destination(self) -> str:
        """``scheme://host[:port]`` as a person would write it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is None or _DEFAULT_PORTS.get(self.scheme) == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


@dataclass
class HttpCallContext:
    """Per-call state of the shim: what is allowed, and what was refused."""

    caps: Capabilities
    helper: dict[str, wc.Func] = field(default_factory=dict)
    denied: list[DeniedRequest] = field(default_factory=list)
    allowed: int = 0


_AUTHORITY = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:@\[\]/?#\\]+))(?::(?P<port>[0-9]{1,5}))?"
)


def parse_authority(scheme: str, authority: str) -> tuple[str, int] | None:
    """Split ``host[:port]`` into (lowercase host, port), with the scheme's default port.

    Returns ``None`` for anything we cannot judge with certainty (userinfo, an empty or bad
    port, an unbracketed IPv6 literal, stray characters): such requests are denied.
    """
    match = _AUTHORITY.fullmatch(authority or "")
    if match is None:
        return None
    host = (match["v6"] or match["host"] or "").lower().rstrip(".")
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS.get(scheme)
    if not host or port is None or not 0 < port < 65536:
        return None
    return host, port


def _scheme_name(value: Any) -> str | None:
    """The scheme the host will use: ``http``, ``https``, or None for an "other" scheme."""
    if value is None:
        return "https"  # wasmtime uses TLS (port 443) when the guest sets no scheme
    tag = getattr(value, "tag", value)
    if tag == "HTTP":
        return "http"
    if tag == "HTTPS":
        return "https"
    return None


def _method_name(value: Any, redact: Redactor) -> str:
    tag = getattr(value, "tag", None)
    if tag == "other":  # a guest-chosen string: redacted before it is cut
        return redact.host(str(getattr(value, "payload", "OTHER"))).upper()[:32]
    return str(tag or value).upper()[:32]


_active = threading.local()


def activate(ctx: HttpCallContext | None) -> None:
    """Make ``ctx`` the shim's context for calls made on this thread (one call per thread)."""
    _active.ctx = ctx


def _deny(store: Any, req: Any, opts: Any) -> wc.Variant:
    # The guest handed us ownership of both resources: drop them, or they leak in the store.
    req.drop(store)
    if opts is not None:
        opts.drop(store)
    return wc.Variant("HTTP-request-denied")


def _handle(store: Any, req: Any, opts: Any) -> Any:
    ctx: HttpCallContext | None = getattr(_active, "ctx", None)
    if ctx is None or not ctx.helper:
        return _deny(store, req, opts)
    f = ctx.helper
    # A denied destination is echoed in errors, fix hints and logs: an injected value used as
    # (part of) a host name is replaced there, in any letter case, before anything is cut.
    redact = redactor_for(ctx.caps.redaction_pairs())
    scheme = _scheme_name(f["scheme"](store, req))
    authority = f["authority"](store, req)
    method = _method_name(f["method"](store, req), redact)
    target = parse_authority(scheme, authority) if scheme and isinstance(authority, str) else None
    if scheme is None or target is None:
        # Keep no userinfo ("user:token@host"): it may be a credential.
        raw = str(authority or "").rpartition("@")[2]
        shown = redact.host(raw)
        ctx.denied.append(DeniedRequest(scheme or "other", shown[:255], None, method, shown != raw))
        return _deny(store, req, opts)
    host, port = target
    if not ctx.caps.allows_request(scheme, host, port):
        shown = redact.host(host)
        ctx.denied.append(DeniedRequest(scheme, shown, port, method, shown != host))
        return _deny(store, req, opts)
    if not names_itself(host) and resolves_to_non_public(host, port):
        # No port recorded: granting the name again would not help (see the module doc).
        log.warning(
            "denied outgoing HTTP to %s: the name resolves to a loopback or private address; "
            "grant that address explicitly if this is intended",
            host,
        )
        ctx.denied.append(DeniedRequest(scheme, host, None, method))
        return _deny(store, req, opts)
    ctx.allowed += 1
    return f["forward"](store, req, opts)


def define_shims(linker: wc.Linker, handler_names: tuple[str, ...]) -> None:
    """Shadow each exact ``wasi:http/outgoing-handler@X`` name in ``linker`` with the shim.

    ``linker`` must already have ``add_wasip2()`` and ``add_wasi_http()`` and allow shadowing.
    """
    for name in handler_names:
        with linker.root() as root, root.add_instance(name) as handler:
            handler.add_func("handle", _handle)


_helper: tuple[wasmtime.Engine, wc.Component, wc.Linker] | None = None
_helper_lock = threading.Lock()


def _helper_parts(engine: wasmtime.Engine) -> tuple[wc.Component, wc.Linker]:
    global _helper  # noqa: PLW0603 - compiled once per process, guarded by a lock
    with _helper_lock:
        if _helper is None or _helper[0] is not engine:
            component = wc.Component(engine, HELPER_WAT)
            linker = wc.Linker(engine)
            linker.add_wasip2()
            linker.add_wasi_http()
            _helper = (engine, component, linker)
        return _helper[1], _helper[2]


def instantiate_helper(engine: wasmtime.Engine, store: wasmtime.Store) -> dict[str, wc.Func]:
    """Instantiate the helper in ``store`` (which has WASI and WASI-HTTP set) and return its
    functions by name."""
    component, linker = _helper_parts(engine)
    instance = linker.instantiate(store, component)
    funcs: dict[str, wc.Func] = {}
    for name in ("method", "scheme", "authority", "path-with-query", "forward"):
        func = instance.get_func(store, name)
        if func is None:  # pragma: no cover - the helper is ours and exports all of them
            raise wasmtime.WasmtimeError(f"http helper has no export {name!r}")
        funcs[name] = func
    return funcs


# Beside this module (package data); read without importlib.resources, which costs ~4 ms of
# every one-shot command's start-up.
HELPER_WAT = Path(__file__).with_name("http_helper.wat").read_text(encoding="utf-8")
"""The helper component's text (``http_helper.wat``, package data): a 9 KB component with no
guest code, only canonical lifts/lowers of wasmtime's own functions, exposing ``method``,
``scheme``, ``authority``, ``path-with-query`` of a borrowed ``outgoing-request``, and
``forward`` = wasmtime's real ``outgoing-handler.handle``. wasmtime compiles it in ~10 ms."""
