"""Component tool calls over streamable HTTP answered without the MCP SDK, on open sessions.

Through the SDK, every ``tools/call`` POST is validated by pydantic, crosses anyio memory
streams to the session's dispatcher and back, runs in a task group and is answered as an
event stream whose events are stored for resumption: ~3 ms of CPU per call on top of the
call itself, measured, which made HTTP serve fewer than half the calls stdio does. Most of
what an HTTP client sends is ``tools/call`` of a component tool on a session it opened, so
this front answers exactly that case itself, with one JSON body (the spec lets a server
answer a request POST with ``application/json`` or an event stream; clients accept both),
from the same :class:`~wassette.server.toolset.ToolSet` the SDK server uses. Everything else
goes to the SDK untouched, which keeps its exact answers and errors:

* anything but a handshake-era ``tools/call`` request (or the ``notifications/cancelled``
  of one this front is running), built-in tools (approvals ask through elicitation),
  requests asking for progress (progress goes on an event stream), ``_meta`` beyond a plain
  progress token, params not plainly well-formed;
* a session this server does not hold open, or whose ``initialize`` the SDK has not
  accepted (the SDK answers exactly as it would);
* a client that does not accept both JSON and event streams (the SDK answers 406), a
  protocol-version header of another era, an authenticated SDK user (the SDK checks the
  session's owner).

The session stays the SDK's: the front reads whether it is open and holds its idle timer
while a call runs, as the SDK does for its own requests (``_sdk_compat``). The Host/Origin
and Content-Type checks and the bearer token are applied before this front is reached
(``transports.JsonRpcGuard``, ``BearerGuard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, EventMessage, check_accept_headers
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import DEFAULT_NEGOTIATED_VERSION, jsonrpc_message_adapter
from mcp_types.version import is_version_at_least

from wassette.server._sdk_compat import live_session, resumed_stream, session_in_use
from wassette.server.stdio_wire import plain_call, well_formed
from wassette.server.toolset import (
    HANDSHAKE_VERSIONS,
    answered_call,
    failed_call,
    log_call,
    progress_token,
)

if TYPE_CHECKING:
    from mcp.server.streamable_http import EventStore
    from starlette.requests import Request
    from starlette.types import Send

    from wassette.runtime.cancel import CancelHandle
    from wassette.server.app import WassetteMCP

STREAM_AFTER = 0.05
"""Seconds a call may take and still be answered with one JSON body; a slower one is
answered on a resumable event stream (its priming event goes out at this point)."""

_CANCELLED = {"code": -32800, "message": "Request cancelled"}


class HttpFront:
    """Answers component ``tools/call`` requests on open handshake-era sessions (module doc)."""

    def __init__(
        self,
        mcp: WassetteMCP,
        sessions: Any,
        events: EventStore,
        *,
        retry_ms: int,
        json_only: bool = False,
    ) -> None:
        self.mcp = mcp
        self._sessions = sessions  # the SDK's StreamableHTTPSessionManager
        self._events = events  # the SDK transport's event store (resumption replays it)
        self._retry_ms = retry_ms
        self._json_only = json_only  # --json-response: answers are always one JSON body
        # (session id, request id) -> the call's cancel handle, while it runs.
        self._running: dict[tuple[str, str | int], CancelHandle] = {}

    async def try_serve(self, request: Request, decoded: Any, send: Send) -> bool:
        """Answer the POST whose complete body decoded to ``decoded`` (a message the guard
        did not reject), if it is this front's to answer; False hands it to the SDK (nothing
        has been sent)."""
        sid = request.headers.get(MCP_SESSION_ID_HEADER)
        message = None if sid is None else self._message(request, decoded)
        if sid is None or message is None:
            return False
        if "id" not in message:
            return await self._notification(sid, message, send)
        call = self._component_call(request, sid, message)
        if call is None:
            return False
        transport, rid, name, args = call
        from wassette.runtime.cancel import CancelHandle  # wasmtime loads on the first call

        handle = CancelHandle()
        # Registered before the call is scheduled: a cancellation right behind it finds it.
        self._running[sid, rid] = handle
        with session_in_use(transport):
            answer = asyncio.ensure_future(self._call(sid, rid, name, args, handle))
            # A quick answer goes as one JSON body; a slow one as a resumable event stream.
            await asyncio.wait((answer,), timeout=None if self._json_only else STREAM_AFTER)
            if answer.done():
                await _send_json(send, answer.result(), sid)
            else:
                version = request.headers.get(
                    MCP_PROTOCOL_VERSION_HEADER, DEFAULT_NEGOTIATED_VERSION
                )
                await self._stream(
                    send, answer, transport=transport, sid=sid, rid=rid, version=version
                )
        return True

    async def _stream(
        self,
        send: Send,
        answer: asyncio.Future[dict[str, Any]],
        *,
        transport: Any,
        sid: str,
        rid: str | int,
        version: str,
    ) -> None:
        """Answer as the SDK does on an event stream: a priming event (2025-11-25 on) whose
        id lets a client that lost the connection resume with ``Last-Event-ID``, then the
        answer, kept in the event store for such a resumption (and handed to a resumed
        stream already waiting for it)."""
        stream_id = str(rid)  # the SDK's stream id for a request's POST
        with contextlib.suppress(Exception):  # the client went away: the answer is stored
            await send({"type": "http.response.start", "status": 200, "headers": _sse_headers(sid)})
            if is_version_at_least(version, "2025-11-25"):  # clients that parse a primer
                primer = await self._events.store_event(stream_id, None)
                await send(_chunk(f"id: {primer}\r\nretry: {self._retry_ms}\r\ndata: \r\n\r\n"))
        reply = await answer
        message = jsonrpc_message_adapter.validate_python(reply, by_name=False)
        event_id = await self._events.store_event(stream_id, message)
        waiting = resumed_stream(transport, stream_id)
        if waiting is not None:
            with contextlib.suppress(Exception):
                await waiting.send(EventMessage(message, event_id))
        data = json.dumps(reply, separators=(",", ":"))
        with contextlib.suppress(Exception):
            await send(_chunk(f"event: message\r\nid: {event_id}\r\ndata: {data}\r\n\r\n"))
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _message(self, request: Request, decoded: Any) -> dict[str, Any] | None:
        """``decoded`` as a well-formed JSON-RPC request or notification of the handshake era
        from a client the SDK does not authenticate; None: not this front's."""
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if "user" in request.scope or (version is not None and version not in HANDSHAKE_VERSIONS):
            return None
        return decoded if well_formed(decoded) else None

    def _component_call(
        self, request: Request, sid: str, message: dict[str, Any]
    ) -> tuple[Any, str | int, str, Any] | None:
        """(session transport, id, tool, arguments) of a plain component ``tools/call`` on
        an open, initialized session; None: the SDK answers it."""
        params = message.get("params") or {}
        if message["method"] != "tools/call" or not (
            self._accepts(request) and plain_call(params) and progress_token(params) is None
        ):
            return None
        name, rid = params["name"], message["id"]
        if name in self.mcp.tools.builtin_names or (sid, rid) in self._running:
            return None  # a duplicate id in flight is the SDK's to judge
        conn = self.mcp.legacy_session(sid)
        transport = live_session(self._sessions, sid)
        if conn is None or transport is None or not conn.initialize_accepted:
            return None
        args = params.get("arguments")
        return transport, rid, name, {} if args is None else args

    def _accepts(self, request: Request) -> bool:
        """What the SDK requires of the Accept header (its own check, so its 406 is never
        skipped): JSON and event streams, or JSON alone under --json-response."""
        has_json, has_sse = check_accept_headers(request)
        return has_json and (self._json_only or has_sse)

    async def _notification(self, sid: str, message: dict[str, Any], send: Send) -> bool:
        """``notifications/cancelled`` of a call this front runs: stop its guest. The SDK
        never saw that request, so anything else is the SDK's."""
        if message["method"] != "notifications/cancelled":
            return False
        rid = (message.get("params") or {}).get("requestId")
        handle = (
            self._running.get((sid, rid))
            if isinstance(rid, (str, int)) and not isinstance(rid, bool)
            else None
        )
        if handle is None:
            return False
        handle.cancel("the client cancelled the request")
        await send({"type": "http.response.start", "status": 202, "headers": _headers(sid, 0)})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _call(
        self, sid: str, rid: str | int, name: str, args: Any, handle: CancelHandle
    ) -> dict[str, Any]:
        """The JSON-RPC answer to one component call, logged as the SDK path logs it; a call
        the client cancelled is answered ``Request cancelled``, as the SDK answers it on this
        era's wire (the stream must end with an answer)."""
        key = (sid, rid)
        started = time.monotonic()
        try:
            res = await self.mcp.tools.call_component_async(name, args, handle, self.mcp.workers)
            member, fields = answered_call(res, args)
        except Exception as exc:  # noqa: BLE001 - the server boundary (failed_call logs a bug)
            member, fields = failed_call(name, args, exc)
        finally:
            if self._running.get(key) is handle:
                del self._running[key]
        if handle.cancelled:
            log_call(name, {"ok": False, "cancelled": True}, started)
            return {"jsonrpc": "2.0", "id": rid, "error": _CANCELLED}
        log_call(name, fields, started)
        return {"jsonrpc": "2.0", "id": rid, **member}


def _headers(sid: str, length: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"mcp-session-id", sid.encode("latin-1")),
        (b"content-type", b"application/json"),
        (b"content-length", str(length).encode()),
    ]


def _sse_headers(sid: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"mcp-session-id", sid.encode("latin-1")),
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"connection", b"keep-alive"),
        (b"x-accel-buffering", b"no"),
    ]


def _chunk(text: str) -> dict[str, Any]:
    return {"type": "http.response.body", "body": text.encode(), "more_body": True}


async def _send_json(send: Send, reply: dict[str, Any], sid: str) -> None:
    body = json.dumps(reply, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": 200, "headers": _headers(sid, len(body))})
    await send({"type": "http.response.body", "body": body})
