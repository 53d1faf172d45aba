"""The one place that reaches into private MCP SDK (pinned: mcp 2.3.0) and Starlette internals.

Each helper names the private attribute it relies on, so an SDK upgrade is checked here and
nowhere else (a test greps ``src/`` for private SDK names outside this module). Nothing here
patches the SDK: these are read-only accessors, so there is nothing to install at start-up.

On an MCP SDK (or Starlette) upgrade: run ``tests/server/test_sdk_compat.py``; it checks every
entry of :data:`PRIVATE_SYMBOLS` on real SDK objects and names what to re-check, then the
change-notification and SSE transport tests exercise the behaviour behind them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from starlette.requests import Request
from starlette.types import Send

__all__ = [
    "PINNED_MCP",
    "PRIVATE_SYMBOLS",
    "connection_of",
    "live_session",
    "missing_private_symbols",
    "request_send",
    "resumed_stream",
    "session_in_use",
]

PINNED_MCP: Final = "2.3.0"
"""The MCP SDK release every name below was checked against."""

PRIVATE_SYMBOLS: Final[tuple[str, ...]] = (
    # Private attributes we read, and the public surface we use through them.
    "mcp.server.session.ServerSession._connection",
    "mcp.server.connection.Connection.exit_stack",
    "mcp.server.connection.Connection.initialized",
    "mcp.server.connection.Connection.send_tool_list_changed",
    "starlette.requests.Request._send",
    # The HTTP front (server/http_front.py) answers calls on the SDK's open sessions: it
    # looks a session up and holds its idle timer as the SDK's own handle_request does.
    "mcp.server.streamable_http_manager.StreamableHTTPSessionManager._server_instances",
    "mcp.server.streamable_http.StreamableHTTPServerTransport._requests_in_flight",
    "mcp.server.streamable_http.StreamableHTTPServerTransport._idle_timeout",
    "mcp.server.streamable_http.StreamableHTTPServerTransport.idle_scope",
    "mcp.server.streamable_http.StreamableHTTPServerTransport.is_terminated",
    "mcp.server.streamable_http.StreamableHTTPServerTransport._request_streams",
    # Provisional in 2.3.0 ("signature and semantics may change in a 2.x minor release"):
    # server/app.py replaces the default list (an OpenTelemetry span per message).
    "mcp.server.lowlevel.Server.middleware",
)


def connection_of(session: Any) -> Any | None:
    """The lasting per-client connection behind a per-request ``ServerSession``.

    The SDK builds a ServerSession per request and keeps the connection (with its standalone
    channel, ``initialized`` event, ``exit_stack`` and ``send_tool_list_changed``) in the
    private ``_connection``; handshake-era ``tools/list_changed`` must go on that connection.
    ``None`` if the SDK no longer has it (notifications then reach modern clients only).
    """
    return getattr(session, "_connection", None)


def request_send(request: Request) -> Send:
    """The raw ASGI ``send`` of a Starlette request (private ``_send``): the SDK's SSE
    transport wants the ASGI triple, and a Starlette route only hands over the Request."""
    send: Send = request._send
    return send


def live_session(manager: Any, session_id: str) -> Any | None:
    """The transport of the streamable HTTP session ``session_id`` of ``manager`` (the
    SDK's ``StreamableHTTPSessionManager``), if the SDK holds it open: not terminated, its
    idle period not run out. None otherwise (the SDK then answers the request itself)."""
    instances = getattr(manager, "_server_instances", None)
    transport = instances.get(session_id) if isinstance(instances, dict) else None
    if transport is None or transport.is_terminated:
        return None
    idle = transport.idle_scope
    if idle is not None and idle.cancel_called:
        return None
    return transport


@contextmanager
def session_in_use(transport: Any) -> Iterator[None]:
    """Hold ``transport``'s session open while a request is served outside the SDK: the
    same idle accounting as ``StreamableHTTPServerTransport.handle_request`` (the countdown
    is suspended while any request is in flight and restarts when the last one ends)."""
    idle = transport.idle_scope
    timeout = getattr(transport, "_idle_timeout", None)
    if idle is None or timeout is None:
        yield
        return
    import anyio

    transport._requests_in_flight += 1
    idle.deadline = math.inf
    try:
        yield
    finally:
        transport._requests_in_flight -= 1
        if not transport._requests_in_flight:
            idle.deadline = anyio.current_time() + timeout


def resumed_stream(transport: Any, stream_id: str) -> Any | None:
    """The send side of the stream a client that resumed ``stream_id`` (GET with
    ``Last-Event-ID``) is waiting on, if one is; the request's answer must go there too."""
    streams = getattr(transport, "_request_streams", None)
    pair = streams.get(stream_id) if isinstance(streams, dict) else None
    return pair[0] if pair else None


def missing_private_symbols() -> list[str]:
    """The entries of :data:`PRIVATE_SYMBOLS` the installed SDK does not have.

    Checked on real objects (most are instance attributes set in ``__init__``): a session
    built around a connection must hand that very connection back through
    :func:`connection_of`, and a request's ``send`` through :func:`request_send`.
    """
    from mcp.server.connection import Connection
    from mcp.server.lowlevel import Server
    from mcp.server.session import ServerSession

    missing: list[str] = []
    try:
        conn = Connection(object(), protocol_version="2025-06-18")  # type: ignore[arg-type]
        session = ServerSession(object(), conn)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any change in the constructors is the finding
        return [f"mcp.server.session.ServerSession / Connection constructors ({exc!r})"]
    if connection_of(session) is not conn:
        missing.append("mcp.server.session.ServerSession._connection")
    for name in ("exit_stack", "initialized", "send_tool_list_changed"):
        if not hasattr(conn, name):
            missing.append(f"mcp.server.connection.Connection.{name}")

    async def marker(_message: Any) -> None:
        return None

    if getattr(Request({"type": "http"}, send=marker), "_send", None) is not marker:
        missing.append("starlette.requests.Request._send")
    if not isinstance(getattr(Server("probe"), "middleware", None), list):
        missing.append("mcp.server.lowlevel.Server.middleware")
    missing += _missing_session_symbols(Server)
    return missing


def _missing_session_symbols(server_class: Any) -> list[str]:
    from mcp.server.streamable_http import StreamableHTTPServerTransport
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    missing: list[str] = []
    try:
        manager = StreamableHTTPSessionManager(app=server_class("probe"))
        transport = StreamableHTTPServerTransport(mcp_session_id="probe", idle_timeout=5.0)
    except Exception as exc:  # noqa: BLE001 - any change in the constructors is the finding
        return [f"StreamableHTTPSessionManager / StreamableHTTPServerTransport ({exc!r})"]
    prefix = "mcp.server.streamable_http"
    if not isinstance(getattr(manager, "_server_instances", None), dict):
        missing.append(f"{prefix}_manager.StreamableHTTPSessionManager._server_instances")
    if getattr(transport, "_requests_in_flight", None) != 0:
        missing.append(f"{prefix}.StreamableHTTPServerTransport._requests_in_flight")
    if getattr(transport, "_idle_timeout", None) != 5.0:
        missing.append(f"{prefix}.StreamableHTTPServerTransport._idle_timeout")
    if not isinstance(getattr(transport, "_request_streams", None), dict):
        missing.append(f"{prefix}.StreamableHTTPServerTransport._request_streams")
    for name in ("idle_scope", "is_terminated"):
        if not hasattr(transport, name):
            missing.append(f"{prefix}.StreamableHTTPServerTransport.{name}")
    manager._server_instances["probe"] = transport
    if live_session(manager, "probe") is not transport:
        missing.append(f"{prefix}_manager.StreamableHTTPSessionManager._server_instances")
    return missing
