"""The tools a server offers, and their answers, as plain JSON-ready dicts (no MCP SDK here).

Both fronts use this module: the SDK server (``app.py``, every HTTP transport and the stdio
fallback) and the SDK-free stdio front (``stdio_front.py``), so the tool list, the qualified
names of clashing tools, the result of a component call and the text of an error cannot
drift between them.

:class:`ToolSet` owns what is per server, not per connection:

* the listing: built-ins plus every component whose tools are known without compiling
  (``<id>.tools.json``); the rest are compiled by one background thread, and each one that
  becomes ready calls the change listeners (the front that owns the wire sends
  ``notifications/tools/list_changed``);
* the component call: lookup (an unknown name is :class:`UnknownTool`, a protocol error) and
  the ``CallToolResult`` shape.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from wassette.errors import NotFoundError, WassetteError
from wassette.server.logs import event, redact
from wassette.statcache import Stamp, StatCache, file_stamp

if TYPE_CHECKING:
    from wassette.manager import CallResult, ComponentManager
    from wassette.runtime.cancel import CancelHandle
    from wassette.runtime.threads import WorkerPool

log = logging.getLogger("wassette.server")

SERVER_NAME = "wassette"

INSTRUCTIONS = (
    "Wassette runs WebAssembly components as tools in a deny-by-default sandbox. Load a "
    "component with load-component, grant it what it needs (grant-*-permission), then call "
    "its tools. Secrets are set by the operator (`wassette secret set`), never through MCP."
)

#: Revisions reachable through the ``initialize`` handshake, oldest first (the MCP SDK's
#: ``HANDSHAKE_PROTOCOL_VERSIONS``; a test keeps the two equal).
HANDSHAKE_VERSIONS: tuple[str, ...] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

#: ``_meta`` keys under this prefix belong to the 2026-07-28 per-request envelope.
MODERN_META_PREFIX = "io.modelcontextprotocol/"

INVALID_PARAMS = -32602


class UnknownTool(Exception):
    """``tools/call`` named no offered tool: a JSON-RPC error (-32602), not a tool result."""

    def __init__(self, name: str, why: str | None) -> None:
        super().__init__(f"Unknown tool: {name}")
        self.name = name
        self.why = why

    def error(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member (what the SDK path answers)."""
        out: dict[str, Any] = {"code": INVALID_PARAMS, "message": f"Unknown tool: {self.name}"}
        if self.why is not None:
            out["data"] = self.why
        return out


def error_text(exc: WassetteError) -> str:
    """The text of an ``isError`` result: what and why, then how to fix it."""
    text = f"error: {exc.message}"
    if exc.fix:
        text += f"\nfix: {exc.fix}"
    tail = getattr(exc, "stderr_tail", "")
    if tail:  # already redacted by the runtime
        text += f"\nguest stderr (end):\n{tail}"
    return text


def internal_error_text(name: str, exc: BaseException) -> str:
    """The ``isError`` text for a bug: the type only (a message could carry data)."""
    return (
        f"error: internal error while running {name} ({type(exc).__name__})\n"
        "fix: this is a bug in wassette; the server log has the details"
    )


def error_result(text: str) -> dict[str, Any]:
    """A ``CallToolResult`` with ``isError``."""
    return {"content": [{"type": "text", "text": text}], "isError": True}


def json_result(data: Any) -> dict[str, Any]:
    """A ``CallToolResult`` carrying ``data`` as compact JSON text (the built-in tools)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return {"content": [{"type": "text", "text": text}], "isError": False}


def call_result(res: CallResult) -> dict[str, Any]:
    """The ``CallToolResult`` of a component call that returned."""
    out: dict[str, Any] = {"content": [{"type": "text", "text": res.text}], "isError": False}
    if res.structured is not None:
        out["structuredContent"] = res.structured
    return out


def answered_call(res: CallResult, args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A component call that returned, as the SDK-free fronts answer and log it: the
    JSON-RPC ``result`` member and the fields of its ``tools/call`` log line."""
    return {"result": call_result(res)}, {"arguments": redact(args), "ok": True}


def failed_call(name: str, args: Any, exc: Exception) -> tuple[dict[str, Any], dict[str, Any]]:
    """A component call that raised ``exc``, as the SDK-free fronts answer and log it (as the
    SDK path does): the JSON-RPC member (an ``isError`` result, or the ``error`` an unknown
    tool gets) and the fields of its ``tools/call`` log line, none for a bug (logged here
    with its traceback; its answer names the type only)."""
    if isinstance(exc, UnknownTool):
        return {"error": exc.error()}, {"ok": False, "error": "unknown tool"}
    if isinstance(exc, WassetteError):
        fields = {"arguments": redact(args), "ok": False, "error": type(exc).__name__}
        return {"result": error_result(error_text(exc))}, fields
    log.error(
        "internal error in tools/call",
        exc_info=exc,
        extra={"fields": {"tool": name, "error": type(exc).__name__}},
    )
    return {"result": error_result(internal_error_text(name, exc))}, {}


def log_call(name: str, fields: dict[str, Any], started: float) -> None:
    """The ``tools/call`` log line of an answered call (with its duration, except for an
    unknown tool); nothing when ``fields`` is empty (a bug, already logged)."""
    if not fields:
        return
    if fields.get("error") != "unknown tool":
        fields["ms"] = round((time.monotonic() - started) * 1000, 2)
    event(log, logging.INFO, "tools/call", tool=name, **fields)


def progress_token(params: Mapping[str, Any]) -> str | int | None:
    """The request's ``_meta.progressToken``, if the client asked for progress."""
    meta = params.get("_meta")
    if not isinstance(meta, Mapping) or not meta:
        return None
    token = meta.get("progressToken", meta.get("progress_token"))
    return token if isinstance(token, (str, int)) and not isinstance(token, bool) else None


class ToolSet:
    """The offered tools of one server over one ComponentManager, with background compiling."""

    def __init__(self, manager: ComponentManager, *, builtin: bool = True) -> None:
        from wassette.server import builtin_tools

        self.manager = manager
        self.builtin = builtin
        self.builtin_names: frozenset[str] = builtin_tools.NAMES if builtin else frozenset()
        self._builtin_tools: list[dict[str, Any]] = builtin_tools.mcp_tools() if builtin else []
        self._compile_lock = threading.Lock()
        self._pending: set[str] = set()
        self._queue: list[str] = []
        # Components whose compile failed, with the wasm's stamp then: not retried
        # on every tools/list until the file changes.
        self.failed: StatCache[str, bool] = StatCache()  # cid -> its wasm failed to compile
        self._worker: threading.Thread | None = None
        self._started = False
        # Listing cache: rebuilt when the set of (id, specs) changes.
        self._listing_key: tuple[tuple[str, int], ...] | None = None
        self._listing: list[dict[str, Any]] = []
        self._schemas: dict[str, Mapping[str, Any]] = {}
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------------ lifecycle

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from any thread) whenever the tool list may have changed."""
        self._listeners.append(listener)

    def notify_threadsafe(self) -> None:
        """The tool list changed (a compile finished, a manifest was re-applied): drop the
        listing cache and tell every listener."""
        self.invalidate()
        for listener in list(self._listeners):
            listener()

    def invalidate(self) -> None:
        """Rebuild the listing on the next request."""
        self._listing_key = None

    def start(self) -> None:
        """Start compiling or warming every installed component in the background.
        Idempotent."""
        if self._started:
            return
        self._started = True
        warm: list[str] = []
        for cid in self.manager.component_ids():
            try:
                cached = self.manager.cached_tools(cid)
            except WassetteError:
                continue
            if cached is None:
                self._schedule(cid)
            else:
                warm.append(cid)
        # Cached components are ready to list; load their compiled artifacts now so the
        # first call does not pay for it. Uncached ones were queued first: they gate listing.
        with self._compile_lock:
            self._queue.extend(c for c in warm if c not in self._pending)
        self._kick()

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran."""
        return self._started

    def pending(self) -> set[str]:
        """Components still being compiled in the background."""
        with self._compile_lock:
            return set(self._pending)

    def _wasm_stamp(self, cid: str) -> Stamp | None:
        try:
            return file_stamp(self.manager.wasm_path(cid))
        except WassetteError:
            return None

    def _schedule(self, cid: str) -> None:
        if self.failed.get(cid, self._wasm_stamp(cid)):
            return  # the very wasm that failed: retried once it changes
        with self._compile_lock:
            if cid in self._pending:
                return
            self._pending.add(cid)
            self._queue.append(cid)
        self._kick()

    def _kick(self) -> None:
        with self._compile_lock:
            if not self._queue or (self._worker is not None and self._worker.is_alive()):
                return
            self._worker = threading.Thread(target=self._work, name="wassette-compile", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._compile_lock:
                if not self._queue:
                    self._worker = None
                    return
                cid = self._queue.pop(0)
                needed_compile = cid in self._pending
            started = time.monotonic()
            try:
                specs = self.manager.tools_of(cid)
                self.manager.loaded(cid)
                self.manager.prewarm(cid)  # warm instances before the first call
            except WassetteError as exc:
                event(
                    log, logging.WARNING, "component unavailable", component=cid, error=exc.message
                )
                stamp = self._wasm_stamp(cid)
                if stamp is not None:
                    self.failed.put(cid, stamp, True)
                specs = None
            finally:
                with self._compile_lock:
                    self._pending.discard(cid)
            if specs is not None:
                event(
                    log,
                    logging.INFO,
                    "component compiled" if needed_compile else "component warmed",
                    component=cid,
                    tools=len(specs),
                    seconds=round(time.monotonic() - started, 3),
                )
            if needed_compile:
                self.notify_threadsafe()

    # ---------------------------------------------------------------------------- tools

    def listing(self) -> tuple[tuple[tuple[str, int], ...], list[dict[str, Any]]]:
        """``(key, tools)``: built-ins, then every ready component tool (compiling the rest in
        the background). ``key`` changes whenever the list does; the list is shared: do not
        modify it."""
        from wassette.manager import offered_names

        entries: list[tuple[str, tuple[Any, ...]]] = []
        for cid in self.manager.component_ids():
            try:
                specs = self.manager.cached_tools(cid)
            except WassetteError:
                continue
            if specs is None:
                self._schedule(cid)
                continue
            entries.append((cid, specs))
        key = tuple((cid, id(specs)) for cid, specs in entries)
        if key == self._listing_key:
            return key, self._listing
        tools = list(self._builtin_tools)
        schemas: dict[str, Mapping[str, Any]] = {t["name"]: t["inputSchema"] for t in tools}
        # Same-named tools of two components are offered as <component-id>.<tool>; a tool
        # named like a built-in is always qualified.
        reserved = frozenset(schemas)
        for name, _cid, spec in offered_names(entries, reserved):
            tools.append({**spec.as_mcp_tool(), "name": name})
            schemas[name] = spec.input_schema
        self._listing, self._schemas, self._listing_key = tools, schemas, key
        return key, tools

    def tools(self) -> list[dict[str, Any]]:
        """The offered tools as ``Tool`` dicts (see :meth:`listing`)."""
        return self.listing()[1]

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        """The input schema of an offered tool, ``None`` if no such tool is listed."""
        if name not in self._schemas:
            self.listing()
        return self._schemas.get(name)

    def call_component(
        self,
        name: str,
        args: Any,
        cancel: CancelHandle | None = None,
        on_abandon: Callable[[WassetteError], None] | None = None,
    ) -> CallResult:
        """Run a component tool in this thread (a fresh sandbox per call).

        Raises :class:`UnknownTool` for a name no component offers, :class:`WassetteError`
        for anything the call itself refused or failed at. ``on_abandon``: the guest runs on
        this thread, and a guest that outlives its limit is reported there (see
        ``ComponentManager.call_tool``).
        """
        try:
            # Listed tools skip the extra lookup (call_tool finds the tool itself).
            if name not in self._schemas:
                self.manager.find_tool(name)
        except NotFoundError as exc:
            raise UnknownTool(name, exc.why) from None
        return self.manager.call_tool(name, args, cancel=cancel, on_abandon=on_abandon)

    async def call_component_async(
        self, name: str, args: Any, cancel: CancelHandle, workers: WorkerPool
    ) -> CallResult:
        """:meth:`call_component` on one of ``workers``, awaited from an asyncio loop: the
        guest runs on that worker's thread (one hand-off, not a thread that waits for
        another), and a guest stuck past its limit is answered for by the runtime's watchdog.
        Cancelling the awaiting task leaves the call to ``cancel`` (which stops the guest)."""
        import asyncio  # not at import time: the stdio front answers without an event loop
        import contextlib

        from wassette.runtime.invoke import CallAbandoned, deferred_frees

        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[CallResult] = loop.create_future()

        def settle(value: CallResult | None, error: BaseException | None) -> None:
            def deliver() -> None:
                if outcome.done():  # the request was cancelled meanwhile
                    return
                if error is not None:
                    outcome.set_exception(error)
                else:
                    outcome.set_result(value)  # type: ignore[arg-type]

            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(deliver)

        def abandoned(exc: WassetteError) -> None:
            workers.lend()  # this worker is stuck in a host call: not counted meanwhile
            settle(None, exc)

        def job() -> None:
            # The spent Store is freed after the outcome is handed over, not before.
            with deferred_frees():
                try:
                    out = self.call_component(name, args, cancel, on_abandon=abandoned)
                except CallAbandoned:
                    workers.unlend()
                    return  # answered when it was abandoned
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                    settle(None, exc.with_traceback(None))
                    return
                settle(out, None)

        workers.submit(job)
        return await outcome
