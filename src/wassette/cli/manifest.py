"""``wassette manifest check FILE`` and ``wassette manifest export``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wassette.cli.common import manager_for, plugin_dir_option
from wassette.cli.output import emit, output_option, render
from wassette.errors import ComponentError, ConfigError
from wassette.fsutil import os_reason

if TYPE_CHECKING:
    from wassette.manifest import Manifest


@click.group("manifest")
def manifest() -> None:
    """Provisioning manifests: validate one, or export today's components as one."""


@manifest.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output_option
@plugin_dir_option
def check_cmd(file: Path, fmt: str, plugin_dir: Path | None) -> None:
    """Validate FILE and show what `serve --manifest FILE` would change (fetches nothing).

    Exits 4 when the manifest is invalid (naming the field, line and column), 7 when a local
    file is missing or does not match its pin. Variables that value_from names and this
    environment lacks are warnings (the server's environment may differ).
    """
    from wassette.manifest import load_manifest, plan

    parsed = load_manifest(file)
    manager = manager_for(plugin_dir)
    changes = plan(parsed, manager)
    problems = _resolve(parsed, os.environ)
    errors = [p for p in problems if p["level"] == "error"]
    emit(
        render(
            {
                "status": "invalid" if errors else "valid",
                "manifest": str(file),
                "components": len(parsed.components),
                "changes": [c.as_dict() for c in changes],
                "problems": problems,
            },
            fmt,
        )
    )
    if errors:
        raise ComponentError(
            f"manifest {file} would fail to provision",
            why="; ".join(p["message"] for p in errors),
            fix="correct the entries named above",
        )


def _resolve(parsed: Manifest, environ: Mapping[str, str]) -> list[dict[str, str]]:
    """What can be checked without fetching: pins of local files, and the variables
    ``value_from`` names in this environment (a warning: the server's may differ)."""
    from wassette.manifest import file_sha256
    from wassette.secretstore.references import ENV_PREFIX, is_reference

    out: list[dict[str, str]] = []
    for comp in parsed.components:
        where = f"components[{comp.index}] ({comp.label})"
        if comp.uri.lower().startswith("file://"):
            path = Path(comp.uri[len("file://") :])
            if not path.is_file():
                out.append({"level": "error", "message": f"{where}: {path} does not exist"})
            elif comp.digest is not None and file_sha256(path) != comp.digest:
                out.append(
                    {"level": "error", "message": f"{where}: {path} does not match the digest"}
                )
        for key, source in comp.value_from.items():
            name = source[len(ENV_PREFIX) :] if source.startswith(ENV_PREFIX) else source
            if (source.startswith(ENV_PREFIX) or not is_reference(source)) and name not in environ:
                out.append(
                    {
                        "level": "warning",
                        "message": f"{where}: {key} reads {name}, which is not set here",
                    }
                )
    return out


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
        raise ConfigError(f"cannot write {output_file}", why=os_reason(exc)) from None
    click.echo(f"wrote {output_file}", err=True)
