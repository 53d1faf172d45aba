"""The commands run most, without click: ``secret list`` and ``tool invoke`` (one-shot,
run by scripts) and ``run`` / ``serve --stdio`` (an MCP client spawning the server, where
every millisecond before the ``initialize`` answer is start-up the client waits for).

Importing click costs more than the whole of Wassette's ``secret list`` process on the same
machine (about 25 ms against 20), so these commands' common forms are parsed here and run
through the very functions their click commands call (:func:`wassette.cli.secret_views.
list_secrets`, :func:`wassette.cli.tool_run.invoke_tool`). This is not a second CLI: it
accepts only argument lists whose meaning is unambiguous and identical under click, and
returns False for anything else (``--help``, a global option, any other option or command, a
repeated option, ``--``, a value click would refuse or convert, shell completion), which then
goes through click unchanged. tests/cli/test_fastpath.py checks, form by form, that both
paths print the same bytes and exit with the same code.

Accepted, options in any order around the one argument, ``--opt=VALUE`` and ``-oFMT`` too:

- ``secret list ID [--show-values] [-y|--yes] [-o|--output|--output-format FMT]``
- ``tool invoke NAME [--args JSON] [-o|--output|--output-format FMT]``

FMT is json, yaml or table as typed (lower case); a JSON value must not start with ``-``.
``run`` and ``serve --stdio`` are accepted exactly so, without any option (what the click
commands do with no option: ``serve_with(ServeOptions(), 0)``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator

_FORMATS = ("json", "yaml", "table")
_OUTPUT = ("-o", "--output", "--output-format")

# command -> (flags: spelling -> name, valued options: spelling -> name)
_COMMANDS: dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]] = {
    ("secret", "list"): (
        {"-y": "yes", "--yes": "yes", "--show-values": "show_values"},
        dict.fromkeys(_OUTPUT, "fmt"),
    ),
    ("tool", "invoke"): ({}, {**dict.fromkeys(_OUTPUT, "fmt"), "--args": "args"}),
}


def _utf8(stream: object) -> bool:
    # click re-wraps a stream whose encoding is ASCII; leave such set-ups to click.
    encoding = str(getattr(stream, "encoding", "") or "").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8")


def _valid(name: str, value: str | None) -> bool:
    if value is None:
        return False
    if name == "fmt":
        return value in _FORMATS
    return not value.startswith("-")


def _option(
    token: str, rest: Iterator[str], flags: dict[str, str], valued: dict[str, str]
) -> tuple[str, str | bool] | None:
    """One option token (and its value) as ``(name, value)``; None: not an accepted form."""
    spelling, value = token, None
    if token.startswith("--") and "=" in token:
        spelling, _, value = token.partition("=")
    elif token.startswith("-o") and len(token) > 2 and not token.startswith("--"):
        spelling, value = "-o", token[2:]
    if spelling in flags and value is None:
        return flags[spelling], True
    if spelling in valued:
        name = valued[spelling]
        if value is None:
            value = next(rest, None)
        # Missing, another spelling or a bad choice: click decides (and words the error).
        return (name, value) if value is not None and _valid(name, value) else None
    return None


def parse(args: list[str]) -> tuple[tuple[str, str], str, dict[str, str | bool]] | None:
    """``(command, argument, options)`` for an accepted form, else None."""
    if len(args) < 3 or (args[0], args[1]) not in _COMMANDS:
        return None
    command = (args[0], args[1])
    flags, valued = _COMMANDS[command]
    positional: list[str] = []
    options: dict[str, str | bool] = {}
    rest = iter(args[2:])
    for token in rest:
        if not token.startswith("-"):
            positional.append(token)
            continue
        parsed = _option(token, rest, flags, valued)
        if parsed is None or parsed[0] in options:
            return None  # not ours, or repeated (click's last-one-wins or a double flag)
        options[parsed[0]] = parsed[1]
    if len(positional) != 1:
        return None  # missing or extra argument: click's error
    return command, positional[0], options


def run_fast(args: list[str]) -> bool:
    """Run ``args`` here if it is an accepted form; False: use click."""
    if "_WASSETTE_COMPLETE" in os.environ:  # shell completion is click's business
        return False
    if args[:1] == ["run"] or args[:1] == ["serve"]:
        return _serve_fast(args)
    parsed = parse(args)
    if parsed is None or not (_utf8(sys.stdout) and _utf8(sys.stderr)):
        return False
    from wassette.cli.logsetup import configure_logging_on_import

    # What the click root group does before any command, once something imports logging.
    configure_logging_on_import(0)
    with one_shot_gc():
        _run_parsed(*parsed)
    return True


def _run_parsed(command: tuple[str, str], argument: str, options: dict[str, str | bool]) -> None:
    fmt = str(options.get("fmt", "json"))
    if command == ("secret", "list"):
        from wassette.cli.secret_views import list_secrets

        show, yes = bool(options.get("show_values")), bool(options.get("yes"))
        list_secrets(argument, show, yes, fmt, None)
    else:
        from wassette.cli.tool_run import invoke_tool

        invoke_tool(argument, str(options.get("args", "{}")), fmt, None)


def _serve_fast(args: list[str]) -> bool:
    from wassette.cli.serving import ServeOptions, serve_with, stdio_fast_form

    if not stdio_fast_form(args):
        return False
    from wassette.cli.logsetup import configure_logging

    configure_logging(0)  # what the click root group does before any command
    serve_with(ServeOptions(), 0)
    return True


_collector_paused = False  # one_shot_gc turned the collector off (and resume_collection may)


@contextlib.contextmanager
def one_shot_gc() -> Iterator[None]:
    """No cyclic garbage collection while a one-shot command starts, and none of its objects
    for the collections at exit.

    The cyclic collector walks every tracked object; start-up creates most of them (modules,
    classes, functions) and none of those is garbage. A ``tool invoke`` ran some 60 automatic
    collections while importing (~10 ms) and then walked everything twice more at exit, in the
    engine's exit hook and in interpreter finalization (~25 ms). Objects without a cycle are
    still freed by reference counting at once. A command whose own work may run long turns
    the collector back on when start-up is over (:func:`resume_collection`). What is left when
    the command ends is frozen: it lives until the process exits, and nothing is finalized
    during interpreter shutdown (what the engine's exit hook guards against: wasmtime freed
    late).
    """
    global _collector_paused  # noqa: PLW0603 - one command per process
    enabled = gc.isenabled()
    gc.disable()
    _collector_paused = enabled
    try:
        yield
    finally:
        _collector_paused = False
        gc.freeze()
        if enabled:
            gc.enable()


def resume_collection() -> None:
    """Start-up is over: freeze what it made and turn the collector back on, if
    :func:`one_shot_gc` turned it off. A long tool call's cyclic garbage (host calls, HTTP
    requests through the shim) is then collected as usual, and no collection walks the
    start-up objects again. Elsewhere (the click path, a library caller) this does nothing."""
    global _collector_paused  # noqa: PLW0603 - one command per process
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()
