"""Options and helpers shared by command groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wassette.config import Settings, load_settings

if TYPE_CHECKING:
    from wassette.manager import ComponentManager
    from wassette.wiring import System

F = TypeVar("F", bound=Callable[..., Any])


def _global_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    # `wassette --component-dir D <command>`: the global option applies when the command's
    # own option is not given (the command's own wins).
    if value is not None:
        return value
    root = ctx.find_root()
    given = root.params.get("component_dir")
    return given if isinstance(given, Path) else None


def plugin_dir_option(func: F) -> F:
    """``--plugin-dir D`` (the spec's name), with ``--component-dir D`` as an alias."""
    return click.option(
        "--plugin-dir",
        "--component-dir",
        "plugin_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        callback=_global_dir,
        help="Component directory (default: $XDG_DATA_HOME/wassette/components).",
    )(func)


def settings_for(plugin_dir: Path | None) -> Settings:
    """Settings with the command-line flags applied on top of env and config."""
    return load_settings(plugin_dir=plugin_dir)


def require_component(component_dir: Path, component_id: str) -> None:
    """Raise ComponentNotFoundError (listing what is loaded) unless ``component_id`` is."""
    from wassette.components.registry import require_installed

    require_installed(component_dir, component_id)


def system_for(plugin_dir: Path | None) -> System:
    """The live system (composition root) for a CLI command, with its flags applied."""
    from wassette.wiring import build_system

    return build_system(plugin_dir=plugin_dir)


def manager_for(plugin_dir: Path | None) -> ComponentManager:
    """The component manager for the selected component dir, built by the composition root
    (this process's environment as the inherited tier, the config's ``[environment_vars]`` as
    the operator tier, the audit log recording injections)."""
    return system_for(plugin_dir).manager
