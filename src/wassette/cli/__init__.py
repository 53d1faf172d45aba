"""The ``wassette`` command line: a thin layer that parses, calls the library and renders.

This is one of the two places where exceptions are translated (the other is the MCP server):
every :class:`~wassette.errors.WassetteError` becomes a message on stderr in three parts (what,
why, how to fix) and the error's exit code. Anything else is a bug and keeps its traceback.

Command groups are imported lazily, so ``wassette secret ...`` never pays for importing
wasmtime or the MCP SDK.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from wassette.errors import WassetteError

# command name -> "module:attribute" of its click command or group, imported on first use.
SUBCOMMANDS: dict[str, str] = {
    "secret": "wassette.cli.secret:secret",
    "policy": "wassette.cli.policy:policy",
    "permission": "wassette.cli.permission:permission",
    "component": "wassette.cli.component:component",
    "tool": "wassette.cli.tool:tool",
    "inspect": "wassette.cli.inspect_cmd:inspect",
    "serve": "wassette.cli.serve:serve",
    "run": "wassette.cli.serve:run",
    "manifest": "wassette.cli.manifest:manifest",
    "registry": "wassette.cli.registry:registry",
    "autocomplete": "wassette.cli:autocomplete",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked (or listed in help)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"wassette: {record.levelname.lower()}: {record.getMessage()}"


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    root = logging.getLogger("wassette")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    root.propagate = False


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from wassette.buildinfo import version_text

    click.echo(version_text())
    ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and build information, then exit.",
)
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option(
    "--component-dir",
    "--plugin-dir",
    "component_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Component directory for the command that follows (as Wassette's global option).",
)
def cli(verbose: int, component_dir: Path | None) -> None:
    """Run WebAssembly components as MCP tools, with per-component secrets."""
    _configure_logging(verbose)


SHELLS = ("bash", "zsh", "fish")


@click.command("autocomplete")
@click.argument("shell", type=click.Choice(SHELLS))
def autocomplete(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  wassette autocomplete bash > ~/.local/share/bash-completion/completions/wassette
    zsh:   wassette autocomplete zsh > "${fpath[1]}/_wassette"
    fish:  wassette autocomplete fish > ~/.config/fish/completions/wassette.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is one click ships
    click.echo(cls(cli, {}, "wassette", "_WASSETTE_COMPLETE").source())


def report_error(exc: WassetteError) -> None:
    """Print a WassetteError on stderr: what and why, then how to fix it."""
    click.echo(f"error: {exc.message}", err=True)
    if exc.fix:
        click.echo(f"hint: {exc.fix}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to exit codes."""
    try:
        cli.main(args=argv, prog_name="wassette", standalone_mode=False)
    except WassetteError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `wassette secret list | head`: the reader went away; not our error.
        sys.exit(1)
    sys.exit(0)
