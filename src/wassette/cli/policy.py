"""``wassette policy get``: the permissions a component actually has.

Policy edits go through :class:`~wassette.policy.store.PolicyStore`: validated before saving,
atomic, comments a person wrote kept, and seen by a running server on its next call.
"""

from __future__ import annotations

from pathlib import Path

import click

from wassette.cli.common import plugin_dir_option, require_component, system_for
from wassette.cli.output import emit, output_option, render
from wassette.policy.store import PolicyStore
from wassette.results import policy_result


def policy_store(plugin_dir: Path | None, component_id: str) -> PolicyStore:
    system = system_for(plugin_dir)
    require_component(system.settings.plugin_dir, component_id)
    return system.policies


@click.group("policy")
def policy() -> None:
    """Show a component's policy."""


@policy.command("get")
@click.argument("component_id")
@output_option
@plugin_dir_option
def get_cmd(component_id: str, fmt: str, plugin_dir: Path | None) -> None:
    """Print the permissions a component actually has (no policy file: nothing)."""
    store = policy_store(plugin_dir, component_id)
    current = store.load(component_id)
    emit(render(policy_result(component_id, current, store.path_for(component_id)), fmt))
