"""``wassette tool list | read | invoke``: the components' tools, without an MCP client.

``tool invoke`` runs exactly what the MCP server runs for a ``tools/call``: arguments validated
against the WIT signature, capabilities from the component's current policy and secrets, a
fresh sandbox, the result as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from wassette.cli.common import manager_for, plugin_dir_option
from wassette.cli.output import emit, output_option, render, to_table
from wassette.errors import UsageError


@click.group("tool")
def tool() -> None:
    """List, describe and call the tools of the loaded components."""


@tool.command("list")
@output_option
@plugin_dir_option
def list_cmd(fmt: str, plugin_dir: Path | None) -> None:
    """List every tool of every loaded component."""
    tools = manager_for(plugin_dir).all_tools()
    rows = [
        {"name": t.name, "component_id": t.component_id, "description": t.spec.description}
        for t in tools
    ]
    if fmt.lower() == "table":
        emit(
            to_table(
                ["NAME", "COMPONENT", "DESCRIPTION"],
                [[r["name"], r["component_id"], r["description"]] for r in rows],
            )
        )
        return
    emit(render({"status": "success", "tools": rows, "total": len(rows)}, fmt))


@tool.command("read")
@click.argument("name")
@output_option
@plugin_dir_option
def read_cmd(name: str, fmt: str, plugin_dir: Path | None) -> None:
    """Show a tool's description and JSON schemas."""
    found = manager_for(plugin_dir).find_tool(name)
    emit(render({"component_id": found.component_id, **found.spec.as_mcp_tool()}, fmt))


def _parse_args(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position only: the text itself may hold a secret.
        raise UsageError(
            "--args is not valid JSON",
            why=f"{exc.msg} at line {exc.lineno}, column {exc.colno}",
            fix='pass a JSON object, e.g. --args \'{"name": "value"}\'',
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            "--args must be a JSON object",
            why=f"got a JSON {type(value).__name__}",
            fix='pass a JSON object, e.g. --args \'{"name": "value"}\'',
        )
    return value


@tool.command("invoke")
@click.argument("name")
@click.option(
    "--args", "args_json", default="{}", show_default=True, help="The arguments as a JSON object."
)
@output_option
@plugin_dir_option
def invoke_cmd(name: str, args_json: str, fmt: str, plugin_dir: Path | None) -> None:
    """Call a tool with JSON arguments and print its result."""
    arguments = _parse_args(args_json)
    manager = manager_for(plugin_dir)
    manager.instance_pool_size = 0  # one call: nothing to warm ahead of it
    try:
        from wassette.cli.progress import activity

        # A component's first use compiles it (seconds); later ones load the cached artifact.
        # The activity line appears only when this takes noticeable time.
        with activity(f"compiling the component of {name} (first use; cached afterwards)"):
            manager.loaded(manager.find_tool(name).component_id)
        result = manager.call_tool(name, arguments)
    finally:
        if manager.injections is not None:
            manager.injections.flush()
    if result.stderr.strip():
        click.echo(result.stderr.rstrip(), err=True)  # the guest's stderr, secrets redacted
    out: dict[str, Any] = {
        "status": "success",
        "tool": result.tool,
        "component_id": result.component_id,
        "result": None if result.structured is None else result.structured["result"],
    }
    if result.stdout:
        out["stdout"] = result.stdout
    emit(render(out, fmt))
