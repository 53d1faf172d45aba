"""The MCP server proper: tools from the component manager, calls off the event loop, and
``tools/list_changed`` to clients of both protocol eras.

* ``tools/list`` answers at once: built-ins plus every component whose tools are known
  without compiling (``<id>.tools.json``). Components that need compiling are compiled by
  one background thread; each one that becomes ready triggers a change notification.
* ``tools/call`` runs in a worker thread (a fresh sandbox per call), so a slow tool never
  blocks other requests. Failures are ``isError`` results with what/why/fix; an unknown tool
  name is a protocol error.
* Change notifications go to every live handshake-era connection (its standalone channel) and
  onto a subscription bus that serves 2026-07-28 ``subscriptions/listen`` streams.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from wassette import __version__
from wassette.approval import ApprovalPending
from wassette.errors import ApprovalRefusedError, WassetteError
from wassette.manager import ComponentManager
from wassette.runtime.threads import WorkerPool, cores
from wassette.server import builtin_tools
from wassette.server._sdk_compat import connection_of
from wassette.server.approvals import (
    STATE_CHANGING,
    Approvals,
    CallApprover,
    cli_equivalent,
    client_name,
)
from wassette.server.logs import event, redact
from wassette.server.toolset import (
    INSTRUCTIONS,
    SERVER_NAME,
    ToolSet,
    UnknownTool,
    call_result,
    error_result,
    error_text,
    internal_error_text,
    json_result,
)

if TYPE_CHECKING:
    from wassette.runtime.cancel import CancelHandle
    from wassette.statcache import StatCache

log = logging.getLogger("wassette.server")

__all__ = ["INSTRUCTIONS", "WassetteMCP", "error_text"]


class _Server(Server[dict[str, Any]]):
    """The SDK's low-level server, advertising ``tools.listChanged`` on every transport.

    Streamable HTTP builds its initialize result from ``create_initialization_options()``
    with no arguments, ignoring any NotificationOptions a caller passes elsewhere.
    """

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def _progress_token(params: types.CallToolRequestParams) -> str | int | None:
    """The request's ``_meta.progressToken``, if the client asked for progress."""
    meta: Any = params.meta
    if not meta:
        return None
    token = meta.get("progressToken", meta.get("progress_token"))
    return token if isinstance(token, (str, int)) and not isinstance(token, bool) else None


def _result(data: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult.model_validate(data, by_name=False)


class WassetteMCP:
    """The wassette MCP server over one ComponentManager."""

    def __init__(
        self,
        manager: ComponentManager,
        *,
        builtin: bool = True,
        fetch_options: Callable[[str], Any] | None = None,
        max_concurrent_calls: int = 64,
        mcp_grants: str = "ask",
        audit: Any = None,
        max_concurrent_loads: int = 4,
        max_waiting_loads: int = 32,
        progress_interval: float = 5.0,
        tools: ToolSet | None = None,
    ) -> None:
        self.manager = manager
        self.builtin = builtin
        self.progress_interval = progress_interval
        #: How state changes asked for by the client are approved (config ``mcp_grants``).
        self.approvals = Approvals(mcp_grants)
        #: The audit log (secretstore.audit.AuditLog): every state change made over MCP.
        self.audit = audit
        self._builtin_ctx = builtin_tools.BuiltinContext(
            manager, fetch_options or (lambda uri: None)
        )
        #: The offered tools, shared with the stdio front when it started this server (that
        #: front then sends the change notifications of background compiles itself).
        self.tools = tools if tools is not None else ToolSet(manager, builtin=builtin)
        if tools is None:
            self.tools.add_listener(self.notify_tools_changed_threadsafe)
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus)
        # id(connection) -> connection, for handshake-era clients; removed when it closes.
        self._legacy: dict[int, Any] = {}
        # HTTP session id -> its handshake-era connection (for the HTTP front's calls).
        self._by_session: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter = anyio.CapacityLimiter(max_concurrent_calls)
        # Component calls: daemon workers (a guest stuck in a host call never holds the exit),
        # at most max_concurrent_calls at once, the rest queued in order.
        self.workers = WorkerPool(
            name="wassette-call", max_threads=max_concurrent_calls, active=cores()
        )
        # Loads (network fetches, however slow the server) run on their own small pool, so
        # stalled loads can never take the slots tool calls use; past a bounded queue they
        # are refused at once.
        self._load_limiter = anyio.CapacityLimiter(max_concurrent_loads)
        self._max_waiting_loads = max_waiting_loads
        self._listing_key: tuple[tuple[str, int], ...] | None = None
        self._listing: list[types.Tool] = []
        self.server = _Server(
            SERVER_NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            lifespan=self._lifespan,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._on_list_tools,
            on_call_tool=self._on_call_tool,
            on_subscriptions_listen=self.listen,
        )
        # The SDK's default middleware is an OpenTelemetry span per message: a cost on every
        # call for an exporter we do not install. Only our connection tracking remains.
        self.server.middleware = [self._track_connections]
        self.server.add_request_handler("server/discover", types.RequestParams, self._on_discover)

    # ------------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def _lifespan(self, _server: Server[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        self.start(asyncio.get_running_loop())
        yield {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the event loop (for notifications from threads) and start compiling or
        warming every installed component in the background. Idempotent."""
        self._loop = loop
        self.tools.start()

    def pending(self) -> set[str]:
        """Components still being compiled in the background."""
        return self.tools.pending()

    @property
    def _failed(self) -> StatCache[str, bool]:
        return self.tools.failed

    @property
    def builtin_context(self) -> builtin_tools.BuiltinContext:
        """What the built-in tools run against (the serve command sets its catalogue)."""
        return self._builtin_ctx

    def server_started(self) -> bool:
        """Whether :meth:`start` ran (the transport is up and compiling has been queued)."""
        return self.tools.started

    def close(self) -> None:
        """End every open listen stream gracefully."""
        self.listen.close()

    async def _on_discover(
        self, ctx: ServerRequestContext[Any, Any], params: types.RequestParams | None
    ) -> types.DiscoverResult:
        """``server/discover``: every revision this server speaks, not only the stateless one
        (the SDK's default lists 2026-07-28 alone, though the handshake serves 2024-11-05 on)."""
        return types.DiscoverResult(
            supported_versions=[*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS],
            capabilities=self.server.get_capabilities(protocol_version=ctx.protocol_version),
            instructions=INSTRUCTIONS,
        )

    # -------------------------------------------------------------------- notifications

    async def _track_connections(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            # The SDK builds a ServerSession per request; its connection is the lasting
            # per-client object, with the standalone channel list_changed must go on.
            conn = connection_of(ctx.session)
            if conn is not None and id(conn) not in self._legacy:
                key = id(conn)
                self._legacy[key] = conn
                conn.exit_stack.callback(self._legacy.pop, key, None)
                sid = getattr(conn, "session_id", None)
                if isinstance(sid, str):
                    self._by_session[sid] = conn
                    conn.exit_stack.callback(self._by_session.pop, sid, None)
        return await call_next(ctx)

    def legacy_session(self, session_id: str) -> Any | None:
        """The handshake-era connection of the HTTP session ``session_id``, once the SDK has
        served a request of it (its ``initialize``); None otherwise or once it closed."""
        return self._by_session.get(session_id)

    async def notify_tools_changed(self) -> None:
        """Tell every client that the tool list changed (both protocol eras)."""
        self.tools.invalidate()
        for conn in list(self._legacy.values()):
            if conn.initialized.is_set():
                await conn.send_tool_list_changed()  # best effort, never raises
        await self.bus.publish(ToolsListChanged())
        event(log, logging.DEBUG, "tools/list_changed sent", legacy_clients=len(self._legacy))

    def notify_threadsafe(self) -> None:
        """The tool list changed: tell every client, from any thread (through the shared
        tool set, so a stdio front sends it too)."""
        self.tools.notify_threadsafe()

    def notify_tools_changed_threadsafe(self) -> None:
        """:meth:`notify_tools_changed` from any thread (no-op before the loop runs)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.notify_tools_changed(), loop)
        except RuntimeError:  # loop shutting down
            return

    # ---------------------------------------------------------------------------- tools

    def tool_list(self) -> list[types.Tool]:
        """Built-ins, then every ready component tool (compiling the rest in background)."""
        key, tools = self.tools.listing()
        if key != self._listing_key:
            self._listing = [types.Tool.model_validate(t) for t in tools]
            self._listing_key = key
        return self._listing

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        return self.tools.input_schema(name)

    async def _on_list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tool_list())

    async def _on_call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        name = params.name
        args: Any = params.arguments if params.arguments is not None else {}
        started = time.monotonic()
        is_builtin = self.builtin and name in builtin_tools.NAMES
        try:
            if is_builtin:
                approver = self.approvals.approver_for(ctx.session, params)
                limiter = self._limiter
                if name in builtin_tools.FETCH_TOOLS:
                    limiter = self._load_limiter
                    if limiter.statistics().tasks_waiting >= self._max_waiting_loads:
                        raise builtin_tools.loads_busy(self._max_waiting_loads)
                try:
                    result = await anyio.to_thread.run_sync(
                        self._run_builtin,
                        approver,
                        client_name(ctx.session),
                        name,
                        args,
                        limiter=limiter,
                    )
                except ApprovalPending as pending:
                    event(log, logging.INFO, "tools/call", tool=name, approval="asked")
                    return self.approvals.input_required(approver, pending.request)
                out = _result(json_result(result))
            else:
                out = await self._run_component_call(ctx, params, name, args, started)
        except anyio.get_cancelled_exc_class():
            # The client cancelled (notifications/cancelled) or went away; the guest has
            # been told to stop. The SDK never answers a cancelled request.
            event(
                log,
                logging.INFO,
                "tools/call",
                tool=name,
                ok=False,
                cancelled=True,
                ms=round((time.monotonic() - started) * 1000, 2),
            )
            raise
        except MCPError:
            event(log, logging.INFO, "tools/call", tool=name, ok=False, error="unknown tool")
            raise
        except WassetteError as exc:
            event(
                log,
                logging.INFO,
                "tools/call",
                tool=name,
                arguments=redact(args),
                ok=False,
                error=type(exc).__name__,
                ms=round((time.monotonic() - started) * 1000, 2),
            )
            return _result(error_result(error_text(exc)))
        except Exception as exc:  # the server boundary: a bug must not kill the server
            log.error(
                "internal error in tools/call",
                exc_info=True,
                extra={"fields": {"tool": name, "error": type(exc).__name__}},
            )
            return _result(error_result(internal_error_text(name, exc)))
        event(
            log,
            logging.INFO,
            "tools/call",
            tool=name,
            arguments=redact(args),
            ok=True,
            ms=round((time.monotonic() - started) * 1000, 2),
        )
        if is_builtin and name in builtin_tools.CHANGES_TOOLS:
            await self.notify_tools_changed()
        return out

    async def _run_component_call(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.CallToolRequestParams,
        name: str,
        args: Any,
        started: float,
    ) -> types.CallToolResult:
        """Run a component tool in a worker thread; stop its guest if this task is cancelled;
        send progress every ``progress_interval`` s if the client asked for progress."""
        from wassette.runtime.cancel import CancelHandle  # wasmtime loads on the first call

        handle = CancelHandle()
        token = _progress_token(params)
        out: types.CallToolResult | None = None
        error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                if token is not None:
                    tg.start_soon(self._report_progress, ctx, name, started)
                try:
                    # A cancelled request is settled at once (the HTTP stream closes); the
                    # worker returns within a fraction of a second because the handle below
                    # stops its guest.
                    out = await self._call_component_async(name, args, handle)
                except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                    # Raised inside the task group it would come out as an ExceptionGroup.
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            handle.cancel("the client cancelled the request")
            raise
        if error is not None:
            raise error
        assert out is not None
        return out

    async def _report_progress(
        self, ctx: ServerRequestContext[Any, Any], name: str, started: float
    ) -> None:
        """``notifications/progress`` while the call runs: clients that reset their request
        timeout on progress keep waiting for a call that is still within its limit."""
        while True:
            await anyio.sleep(self.progress_interval)
            seconds = time.monotonic() - started
            try:
                await ctx.session.report_progress(
                    round(seconds, 1), None, f"{name} still running after {seconds:.0f} s"
                )
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, MCPError, OSError):
                return  # best effort: the client went away; the call's answer decides

    def _run_builtin(
        self, approver: CallApprover, client: str, name: str, args: Any
    ) -> dict[str, Any]:
        """Run a built-in in this worker thread under the ``mcp_grants`` policy, and write
        every state change (or refusal) to the audit log with the client and the approval."""
        ctx = dataclasses.replace(self._builtin_ctx, approver=approver)
        if name not in STATE_CHANGING:
            return builtin_tools.run_builtin(ctx, name, args)
        if self.approvals.mode == "deny":
            instead = cli_equivalent(name, args if isinstance(args, Mapping) else {})
            error: WassetteError = ApprovalRefusedError(
                f"{name} is turned off for MCP clients on this server",
                why="mcp_grants is deny: changes of state are made by the operator at the CLI",
                fix=f"run it yourself: {instead}",
            )
            self._audit_change(client, name, args, approver, "refused")
            raise error
        try:
            result = builtin_tools.run_builtin(ctx, name, args)
        except ApprovalPending:
            raise
        except ApprovalRefusedError:
            self._audit_change(client, name, args, approver, "refused")
            raise
        except WassetteError:
            self._audit_change(client, name, args, approver, "failed")
            raise
        self._audit_change(client, name, args, approver, "done")
        return result

    def _audit_change(
        self, client: str, name: str, args: Any, approver: CallApprover, outcome: str
    ) -> None:
        if self.audit is None:
            return
        fields = args if isinstance(args, Mapping) else {}
        details = fields.get("details") if isinstance(fields.get("details"), Mapping) else {}
        assert isinstance(details, Mapping)
        cid = fields.get("component_id") or fields.get("id")
        detail: dict[str, Any] = {
            "tool": name,
            "via": "mcp",
            "client": client,
            "outcome": outcome,
            "mcp_grants": self.approvals.mode,
            "approval": [
                {"action": r.action, "approved": d.approved, "how": d.how}
                for r, d in approver.decisions
            ],
        }
        for key in ("uri", "host", "access"):
            if key in details:
                detail[key] = details[key]
        if name == "load-component" and isinstance(fields.get("path"), str):
            detail["source"] = fields["path"]
        keys = [details["key"]] if isinstance(details.get("key"), str) else []
        try:
            self.audit.record("mcp-change", cid if isinstance(cid, str) else None, keys, **detail)
        except WassetteError as exc:
            log.error("audit log: %s", exc.message)

    async def _call_component_async(
        self, name: str, args: Any, cancel: CancelHandle
    ) -> types.CallToolResult:
        try:
            res = await self.tools.call_component_async(name, args, cancel, self.workers)
        except UnknownTool as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc), data=exc.why) from None
        return _result(call_result(res))
