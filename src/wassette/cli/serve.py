"""``wassette serve`` (streamable HTTP by default, stdio or SSE) and ``wassette run``
(= serve --stdio), with manifest provisioning for headless deployments."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from wassette.cli.common import plugin_dir_option
from wassette.errors import ConfigError, UsageError, WassetteError
from wassette.fsutil import os_reason

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_assignment(text: str, where: str) -> tuple[str, str]:
    """``K=V`` -> (K, V). Errors name the place and what is wrong, never the text: an
    argument without ``=`` may well be a bare secret pasted where ``NAME=secret`` belonged."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if key.startswith("export "):
        key = key[len("export ") :].strip()
    if not sep or not _ENV_NAME.match(key):
        raise UsageError(
            f"{where}: expected NAME=VALUE",
            why="the argument has no '='"
            if not sep
            else "the text before '=' is not a valid variable name",
            fix="write it as NAME=value, NAME made of letters, digits and _ "
            "(the argument is not shown: it may hold a secret)",
        )
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def parse_env_file(path: Path) -> dict[str, str]:
    """A dotenv file, in the one env format wassette reads and writes (the rules of
    ``secret import``/``export``: ``#`` comments, ``export``, single or double quotes with
    escapes). Errors name the line and what is wrong, never its content."""
    from wassette.secretstore.transfer import parse_env

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read --env-file {path}",
            why=os_reason(exc),
            fix="check the path and its permissions",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"--env-file {path} is not UTF-8", fix="re-save it as UTF-8") from None
    return parse_env(text, f"--env-file {path}")


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
    manifest: Path | None = None
    continue_on_provisioning_failure: bool = False
    watch_manifest: bool = False
    legacy_sessions: bool = True
    json_response: bool = False


def _progress_printer() -> Callable[[str], None]:
    from wassette.cli.progress import step_printer

    return step_printer()


def _provision(system: Any, manifest_path: Path, extras: ServeOptions, fetch_options: Any) -> Any:
    """Provision the manifest before serving: fail fast (after attempting every component)
    unless --continue-on-provisioning-failure."""
    from wassette.manifest import load_manifest, provision

    manifest = load_manifest(manifest_path)  # located errors, before anything is fetched
    report = provision(
        manifest,
        system.manager,
        fetch_options=fetch_options,
        remove_missing=True,
        progress=_progress_printer(),
    )
    log = logging.getLogger("wassette.server")
    log.info("manifest %s: %s", manifest_path, report.summary())
    if report.failed:
        if not extras.continue_on_provisioning_failure:
            raise report.error()
        for outcome in report.failed:
            log.error(
                "not serving %s (%s): %s",
                outcome.label,
                outcome.uri,
                outcome.error.message if outcome.error else "failed",
            )
    return manifest


class ManifestReloader:
    """Re-applies the manifest on SIGHUP and, with --watch-manifest, when the file changes.

    Runs on one background thread: new components are loaded, removed ones unloaded, changed
    policies rewritten (each component on its own, so one failure leaves the others applied),
    then one tools/list_changed goes out. A manifest that no longer parses is reported and
    the running set is left as it was.
    """

    def __init__(
        self, path: Path, system: Any, mcp: Any, fetch_options: Any, *, watch: bool
    ) -> None:
        self.path = path
        self.system = system
        self.mcp = mcp
        self.fetch_options = fetch_options
        self.watch = watch
        self._wake = threading.Event()
        self._stamp = self._file_stamp()
        self.applied = 0

    def _file_stamp(self) -> object:
        from wassette.statcache import file_stamp

        return file_stamp(self.path)

    def start(self) -> None:
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda _s, _f: self._wake.set())
        threading.Thread(target=self._run, name="wassette-manifest", daemon=True).start()

    def _run(self) -> None:
        while True:
            woke = self._wake.wait(timeout=1.0 if self.watch else None)
            self._wake.clear()
            stamp = self._file_stamp()
            if not woke and stamp == self._stamp:
                continue
            self._stamp = stamp
            self.apply()

    def apply(self) -> None:
        from wassette.manifest import load_manifest, provision

        log = logging.getLogger("wassette.server")
        try:
            manifest = load_manifest(self.path)
            report = provision(
                manifest,
                self.system.manager,
                fetch_options=self.fetch_options,
                remove_missing=True,
                progress=_progress_printer(),
            )
        except WassetteError as exc:
            log.error("manifest %s not re-applied: %s", self.path, exc.message)
            return
        self.applied += 1
        log.info("manifest %s re-applied: %s", self.path, report.summary())
        for outcome in report.failed:
            log.error(
                "manifest: %s failed: %s",
                outcome.label,
                outcome.error.message if outcome.error else "failed",
            )
        if report.changed or any(o.policy_applied for o in report.outcomes):
            self.mcp.notify_threadsafe()


def _catalogue(settings: Any) -> list[Any]:
    from wassette.catalogue import catalogue_path, load_catalogue

    return list(load_catalogue(catalogue_path(settings.raw, settings.config_file)))


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
            legacy_sessions=opts.legacy_sessions,
            json_response=opts.json_response,
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
    from wassette.components.sources.base import sweep_stale_staging

    sweep_stale_staging()  # downloads a killed server (or CLI) left staged
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
        return options_from_environment(environ, home, total_timeout=settings.fetch_timeout)

    if opts.manifest is not None:
        # Before anything listens: a failure exits here (unless told to continue).
        _provision(system, opts.manifest, opts, lambda uri, _digest: fetch_options(uri))
    mcp = WassetteMCP(
        manager,
        builtin=not opts.disable_builtin_tools,
        fetch_options=fetch_options,
        mcp_grants=settings.mcp_grants,
        audit=system.audit,
    )
    mcp.builtin_context.catalogue = _catalogue(settings)
    if opts.manifest is not None:
        ManifestReloader(
            opts.manifest,
            system,
            mcp,
            lambda uri, _digest: fetch_options(uri),
            watch=opts.watch_manifest,
        ).start()
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
