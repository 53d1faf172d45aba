"""Serving without click: what ``wassette serve`` and ``wassette run`` do once their options
are parsed (``serve.py`` holds the click commands).

Kept free of click so a fast command-line path can start ``run`` / ``serve --stdio`` without
importing it: over stdio the server answers ``initialize`` as early as it can.
"""

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

from wassette.errors import ConfigError, UsageError, WassetteError
from wassette.fsutil import os_reason

__all__ = [
    "ManifestReloader",
    "ServeOptions",
    "parse_env_assignment",
    "parse_env_file",
    "read_token_file",
    "serve_with",
    "stdio_fast_form",
]

#: Argument lists (after the program name) that mean "serve MCP over stdio with defaults":
#: a command-line fast path may run them as ``serve_with(ServeOptions(), 0)`` without click.
STDIO_FORMS: tuple[tuple[str, ...], ...] = (("run",), ("serve", "--stdio"))


def stdio_fast_form(args: list[str]) -> bool:
    """Whether ``args`` is exactly ``run`` or ``serve --stdio`` (no option, no help)."""
    return tuple(args) in STDIO_FORMS


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


def serve_with(opts: ServeOptions, verbose: int) -> None:
    """Serve as ``opts`` say until stopped (stdin EOF or a signal for stdio, a signal for
    HTTP); ``verbose`` > 0 logs at debug level."""
    from wassette.server import logs

    logs.configure(logging.DEBUG if verbose else logging.INFO)
    front = None
    if opts.transport == "stdio":
        # Claim stdin/stdout and answer `initialize` while the rest is built (the SDK-free
        # front needs nothing but constants for it).
        from wassette.server.stdio_front import StdioFront
        from wassette.server.stdio_wire import Wire

        front = StdioFront(Wire.claim())
        _stop_on_signals(front)
        front.start()
    _limit_malloc_arenas()  # before the call threads start (off the initialize answer's path)

    from wassette.config import load_settings
    from wassette.wiring import System

    settings = load_settings(
        plugin_dir=opts.plugin_dir, bind_address=opts.bind_address, mcp_grants=opts.mcp_grants
    )
    # Refuse an unsafe exposure before anything is built, listened on or compiled.
    options: Any = None if front is not None else _http_options(opts, settings)
    explicit: dict[str, str] = dict(settings.environment_vars)
    if opts.env_file is not None:
        explicit.update(parse_env_file(opts.env_file))
    for item in opts.env:
        key, value = parse_env_assignment(item, "--env")
        explicit[key] = value
    environ: Mapping[str, str] = dict(os.environ)
    settings.plugin_dir.mkdir(parents=True, exist_ok=True)
    if front is None:
        _sweep_staging()
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
        # Imported on the first fetch: it pulls in the HTTP client stack.
        from wassette.components.sources.environment import options_from_environment

        return options_from_environment(environ, home, total_timeout=settings.fetch_timeout)

    if opts.manifest is not None:
        # Before anything listens: a failure exits here (unless told to continue).
        _provision(system, opts.manifest, opts, lambda uri, _digest: fetch_options(uri))
    from wassette.server.toolset import ToolSet

    tools = ToolSet(manager, builtin=not opts.disable_builtin_tools)

    def make_mcp() -> Any:
        # Over stdio, built when the front first needs the SDK (it shares `tools`).
        from wassette.server.app import WassetteMCP

        mcp = WassetteMCP(
            manager,
            builtin=not opts.disable_builtin_tools,
            fetch_options=fetch_options,
            mcp_grants=settings.mcp_grants,
            audit=system.audit,
            tools=tools if front is not None else None,
        )
        mcp.builtin_context.catalogue = _catalogue(settings)
        return mcp

    mcp: Any = None if front is not None else make_mcp()
    if opts.manifest is not None:
        ManifestReloader(
            opts.manifest,
            system,
            tools if mcp is None else mcp,
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
    if front is not None:
        front.attach(tools, make_mcp)
        # After the front can list the tools: this housekeeping imports the fetch machinery.
        _sweep_staging()
        _serve_front(front)
        return
    import anyio

    from wassette.server.transports import serve_http

    anyio.run(serve_http, mcp, options, opts.transport)


MALLOC_ARENAS = 2
"""glibc malloc arenas a server keeps (its default is 8 per core). Every thread that mallocs
gets an arena of its own up to that default, and wasmtime mallocs on whichever thread builds
or calls an instance: with 16 calls in flight the arenas' free space alone was ~8 MB of peak
RSS (62.7 -> 55.0 MB measured), at no cost in calls/s on 2 cores (347 vs 322 over HTTP)."""


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at :data:`MALLOC_ARENAS` (a no-op on another libc)."""
    import ctypes

    m_arena_max = -8  # <malloc.h>
    try:
        ctypes.CDLL(None).mallopt(m_arena_max, MALLOC_ARENAS)
    except (AttributeError, OSError):
        return


def _sweep_staging() -> None:
    """Remove the staged downloads a killed server (or CLI) left behind."""
    from wassette.components.sources.base import sweep_stale_staging

    sweep_stale_staging()


def _http_options(opts: ServeOptions, settings: Any) -> Any:
    from wassette.server.transports import HttpOptions, check_exposure, parse_bind_address

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
    return options


def _stop_on_signals(front: Any) -> None:
    """SIGINT/SIGTERM stop the stdio server cleanly (exit 0): in-flight calls are cancelled."""
    from wassette.server import logs

    def stop(signum: int, _frame: Any) -> None:
        logs.event(
            logging.getLogger("wassette.server"),
            logging.INFO,
            "stopping",
            signal=signal.Signals(signum).name,
        )
        front.stop()
        # A guest blocked in a host call is abandoned, not joined; leave even if one lingers.
        timer = threading.Timer(1.5, os._exit, (0,))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _serve_front(front: Any) -> None:
    """Serve over stdio until the client closes stdin or a signal arrives."""
    from wassette.server import logs

    log = logging.getLogger("wassette.server")
    logs.event(log, logging.INFO, "serving", transport="stdio")
    while not front.finished.wait(1.0):
        pass
    front.wait_calls(1.0)
    logs.event(log, logging.INFO, "stopped", transport="stdio")
