"""``wassette component load | unload | list``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from wassette.cli.common import manager_for, plugin_dir_option, require_component
from wassette.cli.output import emit, output_option, render, to_table
from wassette.cli.progress import activity


@click.group("component")
def component() -> None:
    """Load, unload and list components (file://, https:// and oci:// sources)."""


@component.command("load")
@click.argument("uri")
@click.option("--digest", default=None, help="Expected sha256:... of the wasm (https, oci).")
@click.option(
    "--insecure-registry", is_flag=True, help="Allow plain http to a non-loopback OCI registry."
)
@plugin_dir_option
def load_cmd(
    uri: str, digest: str | None, insecure_registry: bool, plugin_dir: Path | None
) -> None:
    """Fetch, validate and install a component; loading an existing id replaces it."""
    from wassette.components.sources.environment import options_from_environment
    from wassette.components.sources.progress import stderr_progress

    manager = manager_for(plugin_dir)
    options = options_from_environment(
        os.environ,
        Path.home(),
        digest=digest,
        insecure=insecure_registry,
        progress=stderr_progress(sys.stderr, uri),
    )
    with activity(f"loading {uri} (fetching, compiling)"):
        outcome, tools = manager.load(uri, options)
    if outcome.id_note:
        click.echo(f"note: {outcome.id_note}", err=True)
    emit(
        render(
            {
                "status": outcome.status,
                "id": outcome.component_id,
                "tools": [t.name for t in tools],
                "digest": outcome.digest,
                "policy_installed": outcome.policy_installed,
            },
            "json",
        )
    )


@component.command("unload")
@click.argument("component_id")
@plugin_dir_option
def unload_cmd(component_id: str, plugin_dir: Path | None) -> None:
    """Remove a component (its wasm, compiled artifact, metadata and policy).

    Its secrets are kept: delete them with `wassette secret delete`.
    """
    manager = manager_for(plugin_dir)
    require_component(manager.component_dir, component_id)
    removed = manager.unload(component_id)
    keys = manager.secrets.list_keys(component_id)
    out = {
        "status": "component unloaded successfully",
        "id": component_id,
        "removed": [p.name for p in removed],
        "secrets_kept": keys,
    }
    if keys:
        out["message"] = (
            f"{len(keys)} secret(s) kept; delete them with `wassette secret delete "
            f"{component_id} {' '.join(keys)}`"
        )
    emit(render(out, "json"))


@component.command("list")
@output_option
@plugin_dir_option
def list_cmd(fmt: str, plugin_dir: Path | None) -> None:
    """List the loaded components, their tool counts and whether they have a policy."""
    manager = manager_for(plugin_dir)
    rows: list[dict[str, object]] = []
    for cid in manager.component_ids():
        try:
            tools: int | None = len(manager.tools_of(cid))
        except Exception:  # noqa: BLE001 - one broken component must not hide the others
            tools = None
        rows.append({"id": cid, "tools": tools, "policy": manager.policies.exists(cid)})
    if fmt.lower() == "table":
        emit(
            to_table(
                ["ID", "TOOLS", "POLICY"],
                [
                    [
                        str(r["id"]),
                        "?" if r["tools"] is None else str(r["tools"]),
                        "yes" if r["policy"] else "no",
                    ]
                    for r in rows
                ],
            )
        )
        return
    emit(render({"components": rows, "total": len(rows)}, fmt))
