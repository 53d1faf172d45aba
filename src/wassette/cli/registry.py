"""``wassette registry search [QUERY]`` and ``wassette registry get <COMPONENT>``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from wassette.cli.common import manager_for, plugin_dir_option, settings_for
from wassette.cli.output import emit, output_option, render


def _catalogue(plugin_dir: Path | None) -> list[object]:
    from wassette.catalogue import catalogue_path, load_catalogue

    settings = settings_for(plugin_dir)
    return list(load_catalogue(catalogue_path(settings.raw, settings.config_file)))


@click.group("registry")
def registry() -> None:
    """Search the catalogue of known components, and load one by name."""


@registry.command("search")
@click.argument("query", required=False)
@output_option
@plugin_dir_option
def search_cmd(query: str | None, fmt: str, plugin_dir: Path | None) -> None:
    """List catalogue entries whose name, description or URI contains QUERY."""
    from wassette.catalogue import Entry, search

    entries = [e for e in _catalogue(plugin_dir) if isinstance(e, Entry)]
    found = search(entries, query)
    emit(
        render(
            {
                "status": "success",
                "count": len(found),
                "components": [e.as_dict() for e in found],
            },
            fmt,
        )
    )


@registry.command("get")
@click.argument("component")
@click.option(
    "--replace", is_flag=True, help="Allow replacing a component installed from another source."
)
@click.option(
    "--accept-policy", is_flag=True, help="Install the policy shipped with the component."
)
@plugin_dir_option
def get_cmd(component: str, replace: bool, accept_policy: bool, plugin_dir: Path | None) -> None:
    """Fetch and load COMPONENT (a catalogue name or URI), as `component load` would (the
    same questions: replacing another source, accepting a shipped policy)."""
    from wassette.catalogue import Entry, find
    from wassette.cli.component import terminal_approver
    from wassette.components.sources.environment import options_from_environment
    from wassette.components.sources.progress import stderr_progress

    entries = [e for e in _catalogue(plugin_dir) if isinstance(e, Entry)]
    entry = find(entries, component)
    manager = manager_for(plugin_dir)
    options = options_from_environment(
        os.environ, Path.home(), progress=stderr_progress(sys.stderr, entry.uri)
    )
    approver = terminal_approver({"--replace": replace, "--accept-policy": accept_policy})
    outcome, tools = manager.load(entry.uri, options, approver=approver)
    emit(
        render(
            {
                "status": outcome.status,
                "id": outcome.component_id,
                "name": entry.name,
                "uri": entry.uri,
                "tools": [t.name for t in tools],
                "digest": outcome.digest,
            },
            "json",
        )
    )
