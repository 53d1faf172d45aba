"""The MCP SDK and Starlette internals we rely on are still there.

When one of these fails after an upgrade, the message says what to re-check in
``src/wassette/server/_sdk_compat.py`` (and its callers) before moving the pin.
"""

from __future__ import annotations

from importlib.metadata import version

from mcp.server.lowlevel import Server

from wassette.server import _sdk_compat as compat

UPGRADE = (
    "re-check src/wassette/server/_sdk_compat.py against the new SDK: every name in "
    "PRIVATE_SYMBOLS (ServerSession._connection and the Connection it holds, used by "
    "server/app.py for handshake-era tools/list_changed; Starlette Request._send, used by "
    "the SSE route in server/transports.py; the provisional Server.middleware list that "
    "server/app.py replaces); then run tests/server and the SSE/notification e2e tests and "
    "move PINNED_MCP"
)


def test_the_pinned_mcp_sdk_is_installed() -> None:
    installed = version("mcp")
    assert installed == compat.PINNED_MCP, (
        f"mcp {installed} is installed but the private-API layer was checked against "
        f"{compat.PINNED_MCP}: {UPGRADE}"
    )


def test_every_private_symbol_we_use_exists() -> None:
    missing = compat.missing_private_symbols()
    assert not missing, f"the SDK no longer has {', '.join(missing)}: {UPGRADE}"


def test_the_default_middleware_is_only_the_telemetry_span() -> None:
    """server/app.py drops the SDK's default middleware list for its own: that is only
    right while the default holds nothing but the OpenTelemetry span."""
    defaults = [type(m).__name__ for m in Server("probe").middleware]
    assert defaults == ["OpenTelemetryMiddleware"], (
        f"the SDK's default middleware is now {defaults}; server/app.py replaces the whole "
        f"list and would drop the new entries: {UPGRADE}"
    )


def test_the_helpers_return_what_the_sdk_holds() -> None:
    from mcp.server.connection import Connection
    from mcp.server.session import ServerSession
    from starlette.requests import Request

    conn = Connection(object(), protocol_version="2025-06-18")  # type: ignore[arg-type]
    assert compat.connection_of(ServerSession(object(), conn)) is conn  # type: ignore[arg-type]
    assert compat.connection_of(object()) is None  # an SDK without it: None, not a crash

    async def send(_message: object) -> None:
        return None

    assert compat.request_send(Request({"type": "http"}, send=send)) is send
