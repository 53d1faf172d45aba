"""``wassette serve`` (streamable HTTP by default, stdio or SSE) and ``wassette run``
(= serve --stdio), with manifest provisioning for headless deployments. The click commands;
what they run is in ``serving.py``."""

from __future__ import annotations

from pathlib import Path

import click

from wassette.cli.common import plugin_dir_option
from wassette.cli.serving import (
    ServeOptions,
    parse_env_assignment,
    parse_env_file,
    read_token_file,
    serve_with,
)
from wassette.errors import UsageError

__all__ = ["parse_env_assignment", "parse_env_file", "read_token_file", "run", "serve"]

_MCP_GRANTS_HELP = (
    "How state changes asked for by the MCP client are approved: ask (default: ask the "
    "person via the client, allow if it cannot ask), require-approval, allow, deny."
)


@click.command("serve")
@click.option("--stdio", "transport", flag_value="stdio", help="MCP over stdin/stdout.")
@click.option(
    "--streamable-http",
    "transport",
    flag_value="streamable-http",
    help="MCP over streamable HTTP at http://BIND/mcp (the default).",
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
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Provision the components of this manifest before serving (headless deployment).",
)
@click.option(
    "--continue-on-provisioning-failure",
    is_flag=True,
    help="Serve the manifest components that did load (default: exit if any fails).",
)
@click.option(
    "--watch-manifest",
    is_flag=True,
    help="Re-apply the manifest when the file changes (SIGHUP always re-applies it).",
)
@click.option(
    "--legacy-sessions",
    type=click.BOOL,
    default=True,
    show_default=True,
    metavar="BOOL",
    help="Keep the pre-2026-07-28 session lifecycle; 2026-07-28 requests are always stateless.",
)
@click.option(
    "--json-response",
    type=click.BOOL,
    default=False,
    is_flag=False,
    flag_value=True,
    metavar="[BOOL]",
    help="Reply to a simple stateless request with application/json (default: false).",
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
    manifest: Path | None,
    continue_on_provisioning_failure: bool,
    watch_manifest: bool,
    legacy_sessions: bool,
    json_response: bool,
    plugin_dir: Path | None,
) -> None:
    """Run the MCP server: the components' tools plus the built-in management tools.

    Serves streamable HTTP on 127.0.0.1:9001 unless told otherwise (--stdio, --sse).
    """
    if watch_manifest and manifest is None:
        raise UsageError("--watch-manifest needs --manifest FILE", fix="add --manifest FILE")
    opts = ServeOptions(
        transport=transport or "streamable-http",
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
        manifest=manifest,
        continue_on_provisioning_failure=continue_on_provisioning_failure,
        watch_manifest=watch_manifest,
        legacy_sessions=legacy_sessions,
        json_response=json_response,
    )
    serve_with(opts, _verbosity(ctx))


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
    serve_with(opts, _verbosity(ctx))


def _verbosity(ctx: click.Context) -> int:
    parent = ctx.find_root()
    value = parent.params.get("verbose", 0)
    return int(value) if isinstance(value, int) else 0
