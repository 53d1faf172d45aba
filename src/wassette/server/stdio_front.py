"""MCP over stdin/stdout without the MCP SDK on the common path; the SDK server as a fallback.

Importing the SDK (pydantic models for two protocol revisions) costs most of a second and
~60 MB, and each message through it pays validation and task hops. Over stdio a client mostly
sends ``initialize``, ``tools/list`` and ``tools/call`` of component tools, so this front
answers those itself, from the same :class:`~wassette.server.toolset.ToolSet` the SDK server
uses (so the answers cannot drift), and hands everything else to the SDK server
(``server/sdk_bridge.py``), started on first need in its own thread:

* built-in tool calls (approvals ask the person through elicitation), resources, prompts,
  logging, completion, ``server/discover``, methods the front does not know, params it does
  not recognise as plainly well-formed (the SDK then answers with its exact error), and the
  client's responses to the SDK's own requests;
* the whole connection, from its first message, when the client opens in the 2026-07-28 era
  (or with anything but a plain handshake-era ``initialize`` or ``ping``).

When the SDK server starts mid-connection it is brought to the same state first: the client's
``initialize`` (under a private id; that answer is swallowed) and ``notifications/initialized``
are replayed to it.

The wire: fd 0 and fd 1 move to private descriptors (fd 0 then reads /dev/null, fd 1 writes to
stderr), so stray output can never corrupt the protocol. One reader thread parses lines (at
most 64 MiB each); every message is written as one line under a lock. Component calls run on a
pool of daemon threads, each running its guest itself (a guest stuck in a host call past its
limit is answered for by the runtime's watchdog); ``notifications/cancelled`` stops the guest
and the request is never answered; progress is reported every ``progress_interval`` seconds
when the client sent a token, until the answer is out.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wassette import __version__
from wassette.errors import WassetteError
from wassette.runtime.threads import WorkerPool, cores
from wassette.server import jsonrpc
from wassette.server.logs import event
from wassette.server.stdio_wire import (
    LINE_LIMIT,
    Wire,
    dumps,
    plain_call,
    plain_initialize,
    plain_list,
    plain_meta,
    well_formed,
)
from wassette.server.toolset import (
    INSTRUCTIONS,
    SERVER_NAME,
    ToolSet,
    answered_call,
    failed_call,
    log_call,
    progress_token,
)

if TYPE_CHECKING:
    from wassette.runtime.cancel import CancelHandle
    from wassette.server.app import WassetteMCP
    from wassette.server.sdk_bridge import SdkBridge

log = logging.getLogger("wassette.server")

REPLAY_ID_PREFIX = "wassette-front-replay-"
"""Ids of the requests the front replays to a late-started SDK server (answers swallowed)."""

_PRE_REQUEST_LIMIT = 8  # frames before the first request kept for the SDK (as it does)

_TOOLS_CAPABILITY = {"tools": {"listChanged": True}}

# What the SDK answers a request still running when the input ends.
_CONNECTION_CLOSED = {"code": -32000, "message": "Connection closed"}


def _freeze_heap() -> None:
    """Move every object alive now (modules, classes, the system) out of the collector's
    reach: a full collection otherwise walks them all, a pause of tens of milliseconds in
    the middle of some call every few hundred calls. They live as long as the process."""
    gc.collect()
    gc.freeze()


@dataclass
class _Call:
    rid: str | int
    name: str
    args: Any
    token: str | int | None
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    closed: bool = False  # cancelled because the client closed stdin: answered, as the SDK does
    answered: bool = False  # the answer is out (maybe by the watchdog, the guest still running)
    handle: CancelHandle | None = None
    done: threading.Event = field(default_factory=threading.Event)


class StdioFront:
    """One stdio connection, answered without the SDK where it can be (see the module doc)."""

    def __init__(self, wire: Wire, *, progress_interval: float = 5.0) -> None:
        self.wire = wire
        self.progress_interval = progress_interval
        self.tools: ToolSet | None = None
        self._sdk_factory: Callable[[], WassetteMCP] | None = None
        self._attached = threading.Event()
        self._pool: WorkerPool | None = None
        # Reentrant: stop() runs from a signal handler, which may interrupt the main thread
        # inside attach() while it holds the lock.
        self._lock = threading.RLock()
        self._calls: dict[str | int, _Call] = {}
        # None until the first request; "front" (this front answers, handshake era) or
        # "sdk" (the SDK server owns the whole connection).
        self._era: str | None = None
        self._lead: list[bytes] = []
        self._init_params: dict[str, Any] | None = None  # the initialize the front answered
        self._pinged = False
        self._client_initialized = False
        self._bridge: SdkBridge | None = None
        self._replays = 0
        self._tools_started = False
        self.finished = threading.Event()

    # ---------------------------------------------------------------------- lifecycle

    def attach(
        self, tools: ToolSet, sdk_factory: Callable[[], WassetteMCP], max_workers: int = 64
    ) -> None:
        """The system is built: serve tools from ``tools``; ``sdk_factory`` builds the SDK
        server (sharing ``tools``) when first needed."""
        self.tools = tools
        self._sdk_factory = sdk_factory
        # Daemon workers: a guest blocked in a host call must not keep the process alive.
        # As many calls run as there are cores; the rest wait their turn (see WorkerPool).
        self._pool = WorkerPool(name="wassette-call", max_threads=max_workers, active=cores())
        tools.add_listener(self._tools_changed)
        _freeze_heap()
        self._attached.set()
        if self._init_params is not None:
            self._start_tools()

    def _start_tools(self) -> None:
        # After the initialize answer: compiling and warming (wasmtime) must not delay it.
        with self._lock:
            if self._tools_started or self.tools is None:
                return
            self._tools_started = True
        self.tools.start()

    def start(self) -> threading.Thread:
        """Read and answer on a daemon thread; :attr:`finished` is set at EOF."""
        thread = threading.Thread(target=self.serve, name="wassette-stdio", daemon=True)
        thread.start()
        return thread

    def serve(self) -> None:
        """Read lines until EOF, then stop: in-flight calls are cancelled and answered with
        "Connection closed" (as the SDK answers its handlers when the stream ends), and the
        SDK server is closed."""
        try:
            for line in self.wire.lines():
                try:
                    self._on_line(line)
                except Exception:  # the server boundary: a bug must not kill the server
                    log.error("internal error handling a message", exc_info=True)
        finally:
            self.stop(closed=True)

    def stop(self, *, closed: bool = False) -> None:
        """Cancel in-flight calls (``closed``: the input ended; each is answered with an
        error), close the SDK server, and set :attr:`finished`."""
        with self._lock:
            calls = list(self._calls.values())
            for call in calls:
                call.closed = closed
        for call in calls:
            self._cancel(call, "the client closed the connection")
        bridge = self._bridge
        if bridge is not None:
            bridge.close()
        # Queued calls still run: they start cancelled and are answered at once.
        self.finished.set()

    def wait_calls(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for cancelled calls to return from their guests."""
        deadline = time.monotonic() + timeout
        with self._lock:
            calls = list(self._calls.values())
        for call in calls:
            call.done.wait(max(0.0, deadline - time.monotonic()))
        if self._bridge is not None:
            self._bridge.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------------ dispatch

    def _on_line(self, line: bytes | None) -> None:
        if line is None:
            # Longer than LINE_LIMIT: the line was discarded, so its id is unknown.
            self.wire.send(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": jsonrpc.INVALID_REQUEST,
                        "message": f"Invalid Request: message longer than {LINE_LIMIT} bytes",
                    },
                }
            )
            return
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            message = None
        if not well_formed(message):
            self._irregular(line)
            return
        method: str = message["method"]
        params: dict[str, Any] = message.get("params") or {}
        is_request = "id" in message
        if self._era == "sdk":
            self._forward(line)
            return
        if self._era is None:
            if not is_request:
                if len(self._lead) < _PRE_REQUEST_LIMIT:
                    self._lead.append(line)
                return
            # The first request decides who serves the connection.
            modern = not plain_meta(params)
            if (method == "initialize" and plain_initialize(params)) or (
                method == "ping" and not modern
            ):
                self._era = "front"
            else:
                self._hand_over(line)
                return
        if is_request:
            self._request(message["id"], method, params, line)
        else:
            self._notification(method, params, line)

    def _irregular(self, line: bytes) -> None:
        reply = jsonrpc.rejection(line)
        if reply:
            self.wire.send(reply)
        # Well-formed as an envelope (a response to the SDK's request, or something the SDK
        # judges itself): the SDK's, if it runs. A client's response to a request nobody
        # sent is dropped, as the SDK drops it.
        elif reply is None and (self._era == "sdk" or self._bridge is not None):
            self._forward(line)

    def _request(self, rid: str | int, method: str, params: dict[str, Any], line: bytes) -> None:
        if not plain_meta(params):
            self._forward(line)
        elif method == "ping":
            self._answer(rid, {})
            self._pinged = True
        elif method == "initialize" and self._bridge is None and plain_initialize(params):
            version = params["protocolVersion"]
            self._answer(
                rid,
                {
                    "protocolVersion": version,
                    "capabilities": _TOOLS_CAPABILITY,
                    "serverInfo": {"name": SERVER_NAME, "version": __version__},
                    "instructions": INSTRUCTIONS,
                },
            )
            self._init_params = params
            if self._attached.is_set():
                self._start_tools()
        elif self._init_params is None:
            # Before the front's initialize (or after the SDK answered one the front did
            # not take): the SDK holds the session state and answers.
            self._forward(line)
        elif method == "tools/list" and plain_list(params):
            self._attached.wait()
            assert self.tools is not None
            self._answer(rid, {"tools": self.tools.tools()})
        elif method == "tools/call" and plain_call(params) and self._component_call(params):
            self._submit(rid, params)
        else:
            self._forward(line)

    def _component_call(self, params: Mapping[str, Any]) -> bool:
        self._attached.wait()
        assert self.tools is not None
        return params["name"] not in self.tools.builtin_names

    def _notification(self, method: str, params: dict[str, Any], line: bytes) -> None:
        if method == "notifications/cancelled":
            rid = params.get("requestId")
            with self._lock:
                call = self._calls.get(rid) if isinstance(rid, (str, int)) else None
            if call is not None:
                self._cancel(call, "the client cancelled the request")
                return
        elif method == "notifications/initialized":
            self._client_initialized = True
        if self._bridge is not None:
            self._forward(line)

    def _answer(self, rid: str | int, result: Mapping[str, Any]) -> None:
        self.wire.send({"jsonrpc": "2.0", "id": rid, "result": result})

    # -------------------------------------------------------------------- SDK fallback

    def _hand_over(self, line: bytes) -> None:
        """The SDK server serves this connection from its first message on."""
        self._era = "sdk"
        bridge = self._ensure_bridge()
        for early in self._lead:
            bridge.feed(early)
        self._lead.clear()
        bridge.feed(line)

    def _forward(self, line: bytes) -> None:
        self._ensure_bridge().feed(line)

    def _ensure_bridge(self) -> SdkBridge:
        if self._bridge is not None:
            return self._bridge
        from wassette.server.sdk_bridge import SdkBridge  # the MCP SDK loads here

        self._attached.wait()
        assert self._sdk_factory is not None and self.tools is not None
        mcp = self._sdk_factory()
        if self._era == "sdk":
            # The SDK speaks to this client in its own era (2026-07-28 clients learn of
            # changes on subscriptions/listen): it sends the change notifications.
            self.tools.add_listener(mcp.notify_tools_changed_threadsafe)
        _freeze_heap()  # the SDK's models
        bridge = SdkBridge(mcp, self.wire, swallow_prefix=REPLAY_ID_PREFIX)
        bridge.start()
        event(log, logging.DEBUG, "sdk server started", era=self._era)
        if self._init_params is not None:
            self._replay(bridge, "initialize", self._init_params)
            if self._client_initialized:
                bridge.feed(dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        elif self._pinged:
            self._replay(bridge, "ping", {})  # the era a ping opened: the handshake one
        self._bridge = bridge
        return bridge

    def _replay(self, bridge: SdkBridge, method: str, params: Mapping[str, Any]) -> None:
        self._replays += 1
        rid = f"{REPLAY_ID_PREFIX}{self._replays}"
        bridge.feed(dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))

    def _tools_changed(self) -> None:
        # The SDK sends its own when it owns the connection (see _ensure_bridge).
        if self._era == "front" and self._client_initialized:
            self.wire.send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            event(log, logging.DEBUG, "tools/list_changed sent", legacy_clients=1)

    # ------------------------------------------------------------------ component calls

    def _submit(self, rid: str | int, params: Mapping[str, Any]) -> None:
        args = params.get("arguments")
        call = _Call(rid, params["name"], {} if args is None else args, progress_token(params))
        with self._lock:
            self._calls[rid] = call
        assert self._pool is not None
        self._pool.submit(lambda: self._run(call))

    def _cancel(self, call: _Call, reason: str) -> None:
        with self._lock:
            call.cancelled = True
            handle = call.handle
        if handle is not None:
            handle.cancel(reason)

    def _run(self, call: _Call) -> None:
        from wassette.runtime.cancel import CancelHandle  # wasmtime loads on the first call

        handle = CancelHandle()
        with self._lock:
            call.handle = handle
            cancelled = call.cancelled
        if cancelled:
            handle.cancel("the client cancelled the request")
        ticker = None
        if call.token is not None:
            ticker = threading.Thread(
                target=self._report_progress, args=(call,), name="wassette-progress", daemon=True
            )
            ticker.start()
        try:
            self._finish(call, handle)
        finally:
            call.done.set()
            with self._lock:
                if self._calls.get(call.rid) is call:
                    del self._calls[call.rid]

    def _finish(self, call: _Call, handle: CancelHandle) -> None:
        # The guest runs on this thread (no hand-off to a worker and back); a guest that
        # outlives its limit is answered for by the runtime's watchdog, through _abandoned.
        from wassette.runtime.invoke import CallAbandoned, deferred_frees

        assert self.tools is not None
        name, args = call.name, call.args
        response: dict[str, Any]
        fields: dict[str, Any]
        # The spent Store is freed after the answer is written, not before.
        with deferred_frees():
            try:
                res = self.tools.call_component(
                    name, args, handle, on_abandon=lambda exc: self._abandoned(call, exc)
                )
                response, fields = answered_call(res, args)
            except CallAbandoned:
                assert self._pool is not None
                self._pool.unlend()
                return  # answered when it was abandoned
            except Exception as exc:  # noqa: BLE001 - the server boundary (failed_call logs a bug)
                response, fields = failed_call(name, args, exc)
            self._respond(call, response, fields)

    def _abandoned(self, call: _Call, exc: WassetteError) -> None:
        """The guest outlived its limit (or its cancellation) in a host call: answer now, from
        the watchdog's thread; the guest's thread stays silent when it comes back (and, stuck
        meanwhile, does not count against the workers' bound)."""
        assert self._pool is not None
        self._pool.lend()
        self._respond(call, *failed_call(call.name, call.args, exc))

    def _respond(self, call: _Call, response: dict[str, Any], fields: dict[str, Any]) -> None:
        call.answered = True  # no progress after the answer
        if call.cancelled:
            # The SDK never answers a cancelled request; one cut short by the end of the
            # input gets the error the SDK gives it.
            log_call(call.name, {"ok": False, "cancelled": True}, call.started)
            if call.closed:
                self.wire.send({"jsonrpc": "2.0", "id": call.rid, "error": _CONNECTION_CLOSED})
            return
        log_call(call.name, fields, call.started)
        self.wire.send({"jsonrpc": "2.0", "id": call.rid, **response})

    def _report_progress(self, call: _Call) -> None:
        """``notifications/progress`` while the call runs: clients that reset their request
        timeout on progress keep waiting for a call that is still within its limit."""
        while not call.done.wait(self.progress_interval) and not call.answered:
            seconds = time.monotonic() - call.started
            with contextlib.suppress(OSError):
                self.wire.send(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {
                            "progressToken": call.token,
                            "progress": round(seconds, 1),
                            "message": f"{call.name} still running after {seconds:.0f} s",
                        },
                    }
                )
