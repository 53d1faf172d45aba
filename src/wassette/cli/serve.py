"""``wassette serve`` (stdio, streamable HTTP or SSE) and ``wassette run`` (= serve --stdio)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from wassette.cli.common import plugin_dir_option
from wassette.errors import ConfigError, UsageError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_assignment(text: str, where: str) -> tuple[str, str]:
    """``K=V`` -> (K, V). Errors name the place and the key, never the value."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if key.startswith("export "):
        key = key[len("export ") :].strip()
    if not sep or not _ENV_NAME.match(key):
        shown = key if _ENV_NAME.match(key) else "(not a valid name)"
        raise UsageError(
            f"{where}: expected KEY=VALUE",
            why=f"key {shown} {'has no =' if not sep else 'is not a valid variable name'}",
            fix="write it as NAME=value, NAME made of letters, digits and _",
        )
    value = value.strip() if where.startswith("--env-file") else value
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def parse_env_file(path: Path) -> dict[str, str]:
    """A dotenv-style file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export``."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read --env-file {path}",
            why=exc.strerror or type(exc).__name__,
            fix="check the path and its permissions",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"--env-file {path} is not UTF-8", fix="re-save it as UTF-8") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, value = parse_env_assignment(line, f"--env-file {path} line {number}")
        out[key] = value
    return out


def read_token_file(path: Path) -> str:
    """The bearer token: the file's first line, stripped (never logged or echoed)."""
    try:
        token = path.read_text("utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read --auth-token-file {path}",
            why=getattr(exc, "strerror", None) or type(exc).__name__,
            fix="check the path and its permissions",
        ) from None
    if not token or len(token[0].strip()) < 16:
        raise ConfigError(
            f"--auth-token-file {path} holds no usable token",
            why="the first line must be a token of at least 16 characters",
            fix="write one, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))' "
            f"> {path}`",
        )
    return token[0].strip()


@dataclass(frozen=True)
class ServeOptions:
    """The options of ``serve`` / ``run`` (``run`` fixes the transport to stdio)."""

    transport: str = "stdio"
    bind_address: str | None = None
    env: tuple[str, ...] = ()
    env_file: Path | None = None
    disable_builtin_tools: bool = False
    plugin_dir: Path | None = None
    auth_token_file: Path | None = None
    allowed_host: tuple[str, ...] = ()
    mcp_grants: str | None = None
    insecure_no_auth: bool = False
    max_sessions: int | None = None
    session_idle_timeout: float | None = None


def _serve(opts: ServeOptions, verbose: int) -> None:
    import anyio

    from wassette.components.sources.environment import options_from_environment
    from wassette.config import load_settings
    from wassette.server import logs
    from wassette.server.app import WassetteMCP
    from wassette.server.transports import (
        HttpOptions,
        check_exposure,
        parse_bind_address,
        serve_http,
        serve_stdio,
    )
    from wassette.wiring import System

    logs.configure(logging.DEBUG if verbose else logging.INFO)
    settings = load_settings(
        plugin_dir=opts.plugin_dir, bind_address=opts.bind_address, mcp_grants=opts.mcp_grants
    )
    options: HttpOptions | None = None
    if opts.transport != "stdio":
        # Refuse an unsafe exposure before anything is built, listened on or compiled.
        host, port = parse_bind_address(settings.bind_address)
        token = read_token_file(opts.auth_token_file) if opts.auth_token_file else None
        options = HttpOptions(
            host=host,
            port=port,
            auth_token=token,
            allowed_hosts=opts.allowed_host,
            insecure_no_auth=opts.insecure_no_auth,
            max_sessions=opts.max_sessions or settings.http_max_sessions,
            session_idle_timeout=opts.session_idle_timeout or settings.http_session_idle_timeout,
        )
        check_exposure(options)
    explicit: dict[str, str] = dict(settings.environment_vars)
    if opts.env_file is not None:
        explicit.update(parse_env_file(opts.env_file))
    for item in opts.env:
        key, value = parse_env_assignment(item, "--env")
        explicit[key] = value
    environ: Mapping[str, str] = dict(os.environ)
    settings.plugin_dir.mkdir(parents=True, exist_ok=True)
    # Files holding the server's own credentials: no component may ever be granted them.
    guarded = tuple(
        (path, what, why)
        for path, what, why in (
            (opts.auth_token_file, "the --auth-token-file", "holds the MCP server's bearer token"),
            (opts.env_file, "the --env-file", "holds operator-provided environment values"),
        )
        if path is not None
    )
    system = System(settings, environ, explicit, guarded)
    manager = system.manager
    home = Path.home()

    def fetch_options(uri: str) -> Any:
        return options_from_environment(environ, home)

    mcp = WassetteMCP(
        manager,
        builtin=not opts.disable_builtin_tools,
        fetch_options=fetch_options,
        mcp_grants=settings.mcp_grants,
        audit=system.audit,
    )
    logs.event(
        logging.getLogger("wassette.server"),
        logging.INFO,
        "starting",
        component_dir=str(settings.plugin_dir),
        components=len(manager.component_ids()),
        builtin_tools=not opts.disable_builtin_tools,
        mcp_grants=settings.mcp_grants,
        operator_env_keys=sorted(explicit),
    )
    if options is None:
        anyio.run(serve_stdio, mcp)
        return
    anyio.run(serve_http, mcp, options, opts.transport)


_MCP_GRANTS_HELP = (
    "How state changes asked for by the MCP client are approved: ask (default: ask the "
    "person via the client, allow if it cannot ask), require-approval, allow, deny."
)


@click.command("serve")
@click.option("--stdio", "transport", flag_value="stdio", help="MCP over stdin/stdout (default).")
@click.option(
    "--streamable-http",
    "transport",
    flag_value="streamable-http",
    help="MCP over streamable HTTP at http://BIND/mcp.",
)
@click.option(
    "--sse", "transport", flag_value="sse", help="Legacy MCP over SSE at http://BIND/sse."
)
@click.option(
    "--bind-address",
    default=None,
    help="HOST:PORT for HTTP transports (default 127.0.0.1:9001, or config/WASSETTE_BIND_ADDRESS).",
)
@click.option("--env", "env", multiple=True, metavar="K=V", help="Operator-provided variable.")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file of KEY=VALUE lines (operator-provided variables).",
)
@click.option("--disable-builtin-tools", is_flag=True, help="Offer only the components' tools.")
@click.option(
    "--auth-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require 'Authorization: Bearer <token>' (the file's first line) on every HTTP request.",
)
@click.option(
    "--allowed-host",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Also accept this Host/Origin (DNS-rebinding protection stays on).",
)
@click.option(
    "--mcp-grants",
    type=click.Choice(["ask", "require-approval", "allow", "deny"]),
    default=None,
    help=_MCP_GRANTS_HELP,
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve beyond loopback without --auth-token-file (anyone who reaches the port can "
    "use every tool).",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(min=1),
    default=None,
    help="Open HTTP sessions at most; a new one beyond gets 503 (default 256).",
)
@click.option(
    "--session-idle-timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds without a request before an HTTP session is closed (default 900).",
)
@plugin_dir_option
@click.pass_context
def serve(  # noqa: PLR0917 - click passes options positionally by name
    ctx: click.Context,
    transport: str | None,
    bind_address: str | None,
    env: tuple[str, ...],
    env_file: Path | None,
    disable_builtin_tools: bool,
    auth_token_file: Path | None,
    allowed_host: tuple[str, ...],
    mcp_grants: str | None,
    insecure_no_auth: bool,
    max_sessions: int | None,
    session_idle_timeout: float | None,
    plugin_dir: Path | None,
) -> None:
    """Run the MCP server: the components' tools plus the built-in management tools."""
    opts = ServeOptions(
        transport=transport or "stdio",
        bind_address=bind_address,
        env=env,
        env_file=env_file,
        disable_builtin_tools=disable_builtin_tools,
        plugin_dir=plugin_dir,
        auth_token_file=auth_token_file,
        allowed_host=allowed_host,
        mcp_grants=mcp_grants,
        insecure_no_auth=insecure_no_auth,
        max_sessions=max_sessions,
        session_idle_timeout=session_idle_timeout,
    )
    _serve(opts, _verbosity(ctx))


@click.command("run")
@click.option("--env", "env", multiple=True, metavar="K=V", help="Operator-provided variable.")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file of KEY=VALUE lines (operator-provided variables).",
)
@click.option("--disable-builtin-tools", is_flag=True, help="Offer only the components' tools.")
@click.option(
    "--mcp-grants",
    type=click.Choice(["ask", "require-approval", "allow", "deny"]),
    default=None,
    help=_MCP_GRANTS_HELP,
)
@plugin_dir_option
@click.pass_context
def run(  # noqa: PLR0917 - click passes options positionally by name
    ctx: click.Context,
    env: tuple[str, ...],
    env_file: Path | None,
    disable_builtin_tools: bool,
    mcp_grants: str | None,
    plugin_dir: Path | None,
) -> None:
    """Run the MCP server over stdio (the same as `serve --stdio`)."""
    opts = ServeOptions(
        env=env,
        env_file=env_file,
        disable_builtin_tools=disable_builtin_tools,
        plugin_dir=plugin_dir,
        mcp_grants=mcp_grants,
    )
    _serve(opts, _verbosity(ctx))


def _verbosity(ctx: click.Context) -> int:
    parent = ctx.find_root()
    value = parent.params.get("verbose", 0)
    return int(value) if isinstance(value, int) else 0
