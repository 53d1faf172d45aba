"""Options and helpers shared by command groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wassette.config import Settings, load_settings

if TYPE_CHECKING:
    from wassette.manager import ComponentManager

F = TypeVar("F", bound=Callable[..., Any])


def plugin_dir_option(func: F) -> F:
    """``--plugin-dir D`` (the spec's name), with ``--component-dir D`` as an alias."""
    return click.option(
        "--plugin-dir",
        "--component-dir",
        "plugin_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Component directory (default: $XDG_DATA_HOME/wassette/components).",
    )(func)


def settings_for(plugin_dir: Path | None) -> Settings:
    """Settings with the command-line flags applied on top of env and config."""
    return load_settings(plugin_dir=plugin_dir)


def require_component(component_dir: Path, component_id: str) -> None:
    """Raise ComponentNotFoundError (listing what is loaded) unless ``component_id`` is."""
    from wassette.components.registry import require_installed

    require_installed(component_dir, component_id)


def manager_for(plugin_dir: Path | None) -> ComponentManager:
    """The component manager for the selected component dir, with this process's
    environment as the inherited tier and the config's ``[environment_vars]`` as the
    operator tier."""
    import os

    from wassette.manager import ComponentManager
    from wassette.secretstore.audit import AuditLog
    from wassette.secretstore.factory import open_backend

    settings = settings_for(plugin_dir)
    return ComponentManager(
        settings.plugin_dir,
        open_backend(settings, os.environ),
        explicit_env=settings.environment_vars,
        inherited_env=dict(os.environ),
        audit=AuditLog(settings.state_dir / "audit.log"),
    )
