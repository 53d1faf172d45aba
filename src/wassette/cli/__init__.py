"""The ``wassette`` command line: a thin layer that parses, calls the library and renders.

This is one of the two places where exceptions are translated (the other is the MCP server):
every :class:`~wassette.errors.WassetteError` becomes a message on stderr in three parts (what,
why, how to fix) and the error's exit code. Anything else is a bug and keeps its traceback.

Start-up is most of a short command's time, and importing click alone costs more than the
whole of Wassette's ``secret list``. So this module imports no click: :func:`main` first offers
the arguments to :mod:`wassette.cli.fastpath`, which runs ``secret list ID`` (the common,
scripted forms only) without click, and hands everything else (help, errors, every other
command) to the click application in :mod:`wassette.cli.app`, whose command groups load lazily.
"""

from __future__ import annotations

import sys
from typing import Any

from wassette.errors import WassetteError

# The click application, resolved on first use (PEP 562): `from wassette.cli import cli`.
_APP_NAMES = frozenset({"cli", "LazyGroup", "SUBCOMMANDS", "autocomplete", "SHELLS"})


def __getattr__(name: str) -> Any:
    if name in _APP_NAMES:
        from wassette.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def report_error(exc: WassetteError) -> None:
    """Print a WassetteError on stderr: what and why, then how to fix it."""
    from wassette.cli.textio import echo

    echo(f"error: {exc.message}", err=True)
    if exc.fix:
        echo(f"hint: {exc.fix}", err=True)


def _run(args: list[str], fast: bool) -> None:
    if fast:
        from wassette.cli.fastpath import run_fast

        if run_fast(args):
            return
    from wassette.cli.app import cli

    cli.main(args=args, prog_name="wassette", standalone_mode=False)


def main(argv: list[str] | None = None, *, fast: bool = True) -> None:
    """Console-script entry point: run the CLI and map errors to exit codes.

    ``fast=False`` sends every command through click (the tests compare both paths).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _run(args, fast)
    except WassetteError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _say("error: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        # `wassette secret list | head`: the reader went away; not our error.
        sys.exit(1)
    except Exception as exc:
        # click's own exceptions; click is loaded whenever one can have been raised.
        click = sys.modules.get("click")
        if click is None:
            raise
        if isinstance(exc, click.exceptions.Abort):
            _say("error: aborted")
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(0)


def _say(text: str) -> None:
    from wassette.cli.textio import echo

    echo(text, err=True)
