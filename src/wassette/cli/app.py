"""The click application behind ``wassette``: the root group and its lazily loaded commands.

Command groups are imported only when invoked (or listed in help), so ``wassette secret ...``
never pays for importing wasmtime or the MCP SDK. The entry point and the error translation
are in :mod:`wassette.cli` (``main``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from wassette.cli.logsetup import configure_logging

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
    "autocomplete": "wassette.cli.app:autocomplete",
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
    configure_logging(verbose)


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
