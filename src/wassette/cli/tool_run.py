"""What ``wassette tool invoke`` does, without click (the fast path runs it as well).

``tool invoke`` runs exactly what the MCP server runs for a ``tools/call``: arguments validated
against the WIT signature, capabilities from the component's current policy and secrets, a
fresh sandbox, the result as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wassette.cli.fastpath import resume_collection
from wassette.cli.render import render
from wassette.cli.textio import echo, emit
from wassette.errors import UsageError


def parse_args(text: str) -> Any:
    """``--args``: a JSON object. Errors name the position only: the text may hold a secret."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
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


def invoke_tool(name: str, args_json: str, fmt: str, plugin_dir: Path | None) -> None:
    """Call the tool ``name`` once and print its result (the guest's stderr on stderr)."""
    from wassette.cli.progress import activity
    from wassette.wiring import build_system

    arguments = parse_args(args_json)
    manager = build_system(plugin_dir=plugin_dir).manager
    manager.instance_pool_size = 0  # one call: nothing to warm ahead of it
    try:
        # A component's first use compiles it (seconds); later ones load the cached artifact.
        # The activity line appears only when this takes noticeable time.
        with activity(f"compiling the component of {name} (first use; cached afterwards)"):
            manager.loaded(manager.find_tool(name).component_id)
        resume_collection()  # the call may run long: its garbage is collected as usual
        result = manager.call_tool(name, arguments)
    finally:
        if manager.injections is not None:
            manager.injections.flush()
    if result.stderr.strip():
        echo(result.stderr.rstrip(), err=True)  # the guest's stderr, secrets redacted
    out: dict[str, Any] = {
        "status": "success",
        "tool": result.tool,
        "component_id": result.component_id,
        "result": None if result.structured is None else result.structured["result"],
    }
    if result.stdout:
        out["stdout"] = result.stdout
    emit(render(out, fmt))
