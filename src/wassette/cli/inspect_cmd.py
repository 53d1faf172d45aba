"""``wassette inspect <id>``: a component's files, tools with their schemas, and policy."""

from __future__ import annotations

from pathlib import Path

import click

from wassette.cli.common import manager_for, plugin_dir_option
from wassette.cli.output import emit, output_option, render


@click.command("inspect")
@click.argument("component_id")
@output_option
@plugin_dir_option
def inspect(component_id: str, fmt: str, plugin_dir: Path | None) -> None:
    """Describe a loaded component: tools and schemas, policy, secret keys (never values)."""
    emit(render(manager_for(plugin_dir).inspect(component_id), fmt))
