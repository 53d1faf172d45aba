"""The one place that reaches into private MCP SDK (pinned: mcp 2.3.0) and Starlette internals.

Each helper names the private attribute it relies on, so an SDK upgrade is checked here and
nowhere else (a test greps ``src/`` for private SDK names outside this module). Nothing here
patches the SDK: these are read-only accessors, so there is nothing to install at start-up.

On an MCP SDK (or Starlette) upgrade: run ``tests/server/test_sdk_compat.py``; it checks every
entry of :data:`PRIVATE_SYMBOLS` on real SDK objects and names what to re-check, then the
change-notification and SSE transport tests exercise the behaviour behind them.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.types import Send

__all__ = [
    "PINNED_MCP",
    "PRIVATE_SYMBOLS",
    "connection_of",
    "missing_private_symbols",
    "request_send",
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
    return missing
