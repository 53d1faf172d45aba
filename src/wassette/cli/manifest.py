"""``wassette manifest check FILE`` and ``wassette manifest export``."""

from __future__ import annotations

from pathlib import Path

import click

from wassette.cli.common import manager_for, plugin_dir_option
from wassette.cli.output import emit, output_option, render
from wassette.errors import ConfigError


@click.group("manifest")
def manifest() -> None:
    """Provisioning manifests: validate one, or export today's components as one."""


@manifest.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output_option
@plugin_dir_option
def check_cmd(file: Path, fmt: str, plugin_dir: Path | None) -> None:
    """Validate FILE and show what `serve --manifest FILE` would change (fetches nothing).

    Exits non-zero (4) when the manifest is invalid, naming the field, line and column.
    """
    from wassette.manifest import load_manifest, plan

    parsed = load_manifest(file)
    manager = manager_for(plugin_dir)
    changes = plan(parsed, manager)
    emit(
        render(
            {
                "status": "valid",
                "manifest": str(file),
                "components": len(parsed.components),
                "changes": [c.as_dict() for c in changes],
            },
            fmt,
        )
    )


@manifest.command("export")
@click.option(
    "--output-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the manifest to this file (atomically) instead of stdout.",
)
@plugin_dir_option
def export_cmd(output_file: Path | None, plugin_dir: Path | None) -> None:
    """Print today's components, digests and policies as a manifest (values never exported)."""
    from wassette import fsutil
    from wassette.manifest import export_manifest

    text = export_manifest(manager_for(plugin_dir))
    if output_file is None:
        emit(text)
        return
    try:
        fsutil.write_atomic(output_file, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {output_file}", why=exc.strerror or type(exc).__name__
        ) from None
    click.echo(f"wrote {output_file}", err=True)
