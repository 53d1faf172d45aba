"""The one place that reaches into private MCP SDK (2.3.0) and Starlette internals.

Each helper names the private attribute it relies on, so an SDK upgrade is checked here and
nowhere else (the tests of change notifications and of the SSE transport exercise all three).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import Send

__all__ = ["connection_of", "request_send"]


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
