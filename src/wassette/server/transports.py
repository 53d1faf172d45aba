"""Serving the MCP server over streamable HTTP (``/mcp``) and legacy SSE (``/sse``); stdio is
served by ``stdio_front.py``.

HTTP is loopback by default, keeps the SDK's DNS-rebinding protection (Host and Origin
checked against an allow-list; ``--allowed-host`` extends it), can require a bearer token on
every request (compared in constant time), answers ``GET /health``, and shuts down cleanly on
SIGINT/SIGTERM (uvicorn's handlers).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import EventStore
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wassette.errors import UsageError
from wassette.server import jsonrpc
from wassette.server._sdk_compat import request_send
from wassette.server.app import WassetteMCP
from wassette.server.events import BoundedEventStore
from wassette.server.logs import event

if TYPE_CHECKING:
    from wassette.server.http_front import HttpFront

log = logging.getLogger("wassette.server")

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class HttpOptions:
    """How to serve over HTTP."""

    host: str
    port: int
    auth_token: str | None = None
    allowed_hosts: Sequence[str] = field(default_factory=tuple)
    # Serve pre-2026-07-28 clients with sessions (False: statelessly, no GET stream);
    # 2026-07-28 requests are always served statelessly.
    legacy_sessions: bool = True
    # Answer a simple stateless request with application/json instead of an event stream.
    json_response: bool = False
    #: Listening beyond loopback without a token was asked for explicitly.
    insecure_no_auth: bool = False
    #: Open sessions at most (streamable HTTP and SSE); a new one beyond gets 503.
    max_sessions: int = 256
    #: Seconds without a request before a streamable HTTP session is closed.
    session_idle_timeout: float = 900.0


def parse_bind_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:9001`` / ``[::1]:9001`` / ``localhost:9001`` -> (host, port)."""
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        ok = bool(sep)
    else:
        host, sep, port_text = value.rpartition(":")
        ok = bool(sep) and ":" not in host
    if not ok or not host or not port_text.isdigit() or not (0 <= int(port_text) <= 65535):
        raise UsageError(
            f"invalid bind address {text!r}",
            why="it must be HOST:PORT (IPv6 as [ADDR]:PORT)",
            fix="use e.g. --bind-address 127.0.0.1:9001",
        )
    return host, int(port_text)


WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names we refuse as Host headers


def is_wildcard(host: str) -> bool:
    """Whether ``host`` binds every interface (``0.0.0.0`` / ``::``)."""
    try:
        return host in WILDCARD_HOSTS or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def check_exposure(options: HttpOptions) -> None:
    """Refuse to serve where anyone on the network could use the built-in tools unasked.

    Beyond loopback, a bearer token is required (``--insecure-no-auth`` says otherwise,
    explicitly); a wildcard bind needs ``--allowed-host`` for the names clients will use (the
    Host header is checked against them); ``0.0.0.0`` is never an acceptable Host.
    """
    for extra in options.allowed_hosts:
        name = extra.strip()
        bare = name[1:].partition("]")[0] if name.startswith("[") else name.rpartition(":")[0]
        if is_wildcard(name) or (bare and is_wildcard(bare)):
            raise UsageError(
                f"--allowed-host {name} is not a name a client connects to",
                why="0.0.0.0 / :: mean 'every interface' when binding; as a Host header they "
                "would let any page or client that sends them through",
                fix="name the host or address clients use, e.g. --allowed-host mcp.example.lan",
            )
    if is_loopback(options.host):
        return
    if not options.auth_token and not options.insecure_no_auth:
        raise UsageError(
            f"refusing to serve on {options.host} without authentication",
            why="beyond loopback, anyone who can reach the port could load components, grant "
            "permissions and call every tool",
            fix="add --auth-token-file FILE (clients send 'Authorization: Bearer <token>'), "
            "or bind 127.0.0.1; --insecure-no-auth serves without a token anyway",
        )
    if is_wildcard(options.host) and not options.allowed_hosts:
        raise UsageError(
            f"binding every interface ({options.host}) needs --allowed-host",
            why="clients' Host headers are checked against an allow-list (DNS-rebinding "
            "protection), and 0.0.0.0 is never a valid Host",
            fix="add --allowed-host NAME for each name or address clients use to reach this "
            "machine, e.g. --allowed-host 192.0.2.10:9001",
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_settings(options: HttpOptions) -> TransportSecuritySettings:
    """Host/Origin allow-lists: the loopback names (or the bind address), plus extra hosts."""
    names: list[str] = []
    if is_loopback(options.host):
        names += ["127.0.0.1", "localhost", "[::1]"]
    elif not is_wildcard(options.host):
        names.append(f"[{options.host}]" if ":" in options.host else options.host)
    # A wildcard bind accepts only the --allowed-host names: never "0.0.0.0" as a Host.
    hosts: list[str] = []
    origins: list[str] = []
    for name in names:
        hosts += [name, f"{name}:*"]
    for raw in options.allowed_hosts:
        extra = raw.strip()
        if not extra:
            continue
        has_port = (
            extra.rsplit("]", 1)[-1].count(":") == 1
            if extra.startswith("[")
            else (extra.count(":") == 1)
        )
        hosts += [extra] if has_port else [extra, f"{extra}:*"]
        names.append(extra)
    for name in names:
        has_port = (
            name.rsplit("]", 1)[-1].count(":") == 1
            if name.startswith("[")
            else (name.count(":") == 1)
        )
        for scheme in ("http", "https"):
            origins += (
                [f"{scheme}://{name}"]
                if has_port
                else [
                    f"{scheme}://{name}",
                    f"{scheme}://{name}:*",
                ]
            )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerGuard:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = b""
            for key, value in scope.get("headers", []):
                if key == b"authorization":
                    given = value
                    break
            scheme, _, credential = given.partition(b" ")
            ok = scheme.lower() == b"bearer" and hmac.compare_digest(
                credential.strip(), self._token
            )
            if not ok:
                event(
                    log, logging.WARNING, "unauthorized request refused", path=scope.get("path", "")
                )
                response = JSONResponse(
                    {"error": "unauthorized", "message": "a valid bearer token is required"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="wassette"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _health_route(mcp: WassetteMCP) -> Route:
    async def health(_request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "components": len(mcp.manager.component_ids()),
                "compiling": sorted(mcp.pending()),
            }
        )

    return Route("/health", health, methods=["GET"])


RETRY_INTERVAL_MS = 1000
"""The reconnect delay suggested to clients (SSE ``retry:``) after a dropped stream."""

MAX_BODY_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE


class JsonRpcGuard:
    """ASGI middleware: a malformed JSON-RPC body POSTed to ``path`` gets the error JSON-RPC
    assigns it (``server/jsonrpc.py``), the same as over stdio; anything else goes on to the
    SDK untouched. The SDK's own Host/Origin/Content-Type checks answer first."""

    def __init__(
        self,
        app: ASGIApp,
        security: TransportSecuritySettings,
        path: str,
        front: HttpFront | None = None,
    ) -> None:
        self.app = app
        self._security = TransportSecurityMiddleware(security)
        self._path = path
        self._front = front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path", "").rstrip("/") != self._path
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = await self._security.validate_request(request, is_post=True)
        if refused is not None:
            await refused(scope, receive, send)
            return
        body = bytearray()
        messages: list[Message] = []
        complete = False
        while len(body) <= MAX_BODY_BYTES:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                complete = True
                break
        decoded, reply = jsonrpc.parse(bytes(body)) if complete else (None, None)
        front = self._front
        if reply is None and complete and front and await front.try_serve(request, decoded, send):
            return
        if reply is None:  # well-formed (or too large: the SDK answers 413)

            async def replay() -> Message:
                return messages.pop(0) if messages else await receive()

            await self.app(scope, replay, send)
        elif reply is jsonrpc.DROP:
            await Response(status_code=202)(scope, receive, send)
        else:
            await Response(
                json.dumps(reply, separators=(",", ":")),
                status_code=400,
                media_type="application/json",
            )(scope, receive, send)


def is_ready(mcp: WassetteMCP) -> bool:
    """Ready: serving has started (provisioning ran before it) and no component's first
    metadata load is still running."""
    return mcp.server_started() and not mcp.pending()


def _ready_route(mcp: WassetteMCP) -> Route:
    async def ready(_request: Request) -> Response:
        if is_ready(mcp):
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "not ready", "compiling": sorted(mcp.pending())},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    return Route("/ready", ready, methods=["GET"])


def _info_route(mcp: WassetteMCP) -> Route:
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

    from wassette import __version__
    from wassette.buildinfo import build_info, version_text

    async def info(_request: Request) -> Response:
        return JSONResponse(
            {
                "version": __version__,
                # Wassette's field is one line of text; the same facts as an object follow.
                "build_info": version_text(),
                "name": "wassette",
                "build": build_info(),
                "protocol_revisions": {
                    "stateless": list(MODERN_PROTOCOL_VERSIONS),
                    "sessions": list(HANDSHAKE_PROTOCOL_VERSIONS),
                },
                # What the warm-instance pool holds and an estimate of its memory, so an
                # operator can size instance_pool_size (counts and digests only, no values).
                "instance_pool": mcp.manager.pool.stats(),
            }
        )

    return Route("/info", info, methods=["GET"])


def _status_routes(mcp: WassetteMCP) -> list[Route]:
    return [_health_route(mcp), _ready_route(mcp), _info_route(mcp)]


def streamable_http_app(
    mcp: WassetteMCP, options: HttpOptions, event_store: EventStore | None = None
) -> ASGIApp:
    """The streamable HTTP app: ``/mcp``, ``/health``, ``/ready`` and ``/info``.

    Response streams are resumable: events carry ids from a bounded in-memory store, and a
    client that lost its connection reconnects with ``Last-Event-ID``.
    """
    security = security_settings(options)
    events = event_store if event_store is not None else BoundedEventStore()
    app: ASGIApp = mcp.server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        host=options.host,
        stateless_http=not options.legacy_sessions,
        json_response=options.json_response,
        custom_starlette_routes=_status_routes(mcp),
        event_store=events,
        retry_interval=RETRY_INTERVAL_MS,
        max_sessions=options.max_sessions,
        session_idle_timeout=options.session_idle_timeout,
    )
    front = None
    if options.legacy_sessions:
        from wassette.server.http_front import HttpFront

        front = HttpFront(
            mcp,
            mcp.server.session_manager,
            events,
            retry_ms=RETRY_INTERVAL_MS,
            json_only=options.json_response,
        )
    app = JsonRpcGuard(app, security, "/mcp", front)
    return BearerGuard(app, options.auth_token) if options.auth_token else app


def sse_app(mcp: WassetteMCP, options: HttpOptions) -> ASGIApp:
    """The legacy SSE app: ``GET /sse`` (event stream), ``POST /messages/`` and ``/health``."""
    sse = SseServerTransport("/messages/", security_settings=security_settings(options))
    open_streams = 0

    async def handle_sse(request: Request) -> Response:
        nonlocal open_streams
        if open_streams >= options.max_sessions:
            event(log, logging.WARNING, "too many sessions", limit=options.max_sessions)
            return JSONResponse(
                {
                    "error": "too many open sessions",
                    "message": f"this server allows {options.max_sessions} open sessions; "
                    "try again when one closes (http_max_sessions in the config raises it)",
                },
                status_code=503,
                headers={"Retry-After": "5"},
            )
        open_streams += 1
        try:
            send = request_send(request)
            async with sse.connect_sse(request.scope, request.receive, send) as streams:
                await mcp.server.run(
                    streams[0], streams[1], mcp.server.create_initialization_options()
                )
        finally:
            open_streams -= 1
        return Response()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        mcp.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            mcp.close()

    app: ASGIApp = Starlette(
        routes=[
            Route("/sse", handle_sse, methods=["GET"]),
            Mount("/messages/", app=sse.handle_post_message),
            *_status_routes(mcp),
        ],
        lifespan=lifespan,
    )
    return BearerGuard(app, options.auth_token) if options.auth_token else app


async def serve_http(mcp: WassetteMCP, options: HttpOptions, transport: str) -> None:
    """Serve ``transport`` ("streamable-http" or "sse") until SIGINT/SIGTERM."""
    import uvicorn

    check_exposure(options)

    app = (
        streamable_http_app(mcp, options)
        if transport == "streamable-http"
        else sse_app(mcp, options)
    )
    path = "/mcp" if transport == "streamable-http" else "/sse"
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
        server_header=False,
    )

    class _Server(uvicorn.Server):
        # uvicorn re-raises a caught SIGINT/SIGTERM after its graceful shutdown, so the
        # process would die by the signal; a clean stop should exit 0 instead.
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if not self.should_exit:
                event(log, logging.INFO, "stopping", signal=signal.Signals(sig).name)
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    server = _Server(config)
    host = f"[{options.host}]" if ":" in options.host else options.host
    event(
        log,
        logging.INFO,
        "serving",
        transport=transport,
        url=f"http://{host}:{options.port}{path}",
        auth="bearer" if options.auth_token else "none",
    )
    if not is_loopback(options.host) and not options.auth_token:
        event(
            log,
            logging.WARNING,
            "listening beyond loopback WITHOUT authentication (--insecure-no-auth)",
            host=options.host,
        )
    await server.serve()
    mcp.close()
    event(log, logging.INFO, "stopped", transport=transport)


def client_config_snippet(command: Sequence[str], name: str = "wassette") -> str:
    """The JSON an MCP client config wants for a stdio server."""
    return json.dumps(
        {"mcpServers": {name: {"command": command[0], "args": list(command[1:])}}}, indent=2
    )
