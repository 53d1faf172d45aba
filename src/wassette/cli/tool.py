"""``wassette tool list | read | invoke``: the components' tools, without an MCP client.

``tool invoke`` runs exactly what the MCP server runs for a ``tools/call``
(:mod:`wassette.cli.tool_run`, shared with the click-free fast path).
"""

from __future__ import annotations

from pathlib import Path

import click

from wassette.cli.common import manager_for, plugin_dir_option
from wassette.cli.output import emit, output_option, render, to_table
from wassette.cli.tool_run import invoke_tool


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


@tool.command("invoke")
@click.argument("name")
@click.option(
    "--args", "args_json", default="{}", show_default=True, help="The arguments as a JSON object."
)
@output_option
@plugin_dir_option
def invoke_cmd(name: str, args_json: str, fmt: str, plugin_dir: Path | None) -> None:
    """Call a tool with JSON arguments and print its result."""
    # The same function runs on the click-free fast path (wassette.cli.fastpath).
    invoke_tool(name, args_json, fmt, plugin_dir)
