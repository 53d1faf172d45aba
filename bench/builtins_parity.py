"""Side by side: every built-in tool's result keys and status strings, ours vs a peer.

Runs the same calls with the same arguments against `wassette run` (this checkout) and a peer
server (Wassette 0.8.0's `wassette run`, given by $WASSETTE_PEER or --peer), each with its own
temporary HOME, over stdio with the official MCP client, and prints a Markdown table (and,
with --json, the raw results).

    python bench/builtins_parity.py --peer /path/to/wassette
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# bench/ holds a module named mcp.py: keep that directory off the path, or `import mcp` finds it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

WAT = """(component
  (core module $m (func (export "f") (result i32) i32.const 42))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (export "answer" (func $f)))"""


def _calls(wasm: Path, workdir: Path) -> list[tuple[str, dict[str, Any]]]:
    cid = "answer"
    return [
        ("load-component", {"path": wasm.as_uri()}),
        ("list-components", {}),
        ("get-policy", {"component_id": cid}),
        (
            "grant-storage-permission",
            {"component_id": cid, "details": {"uri": f"fs://{workdir}", "access": ["read"]}},
        ),
        ("grant-network-permission", {"component_id": cid, "details": {"host": "example.com"}}),
        (
            "grant-environment-variable-permission",
            {"component_id": cid, "details": {"key": "API_KEY"}},
        ),
        ("get-policy", {"component_id": cid}),
        ("revoke-storage-permission", {"component_id": cid, "details": {"uri": f"fs://{workdir}"}}),
        ("revoke-network-permission", {"component_id": cid, "details": {"host": "example.com"}}),
        (
            "revoke-environment-variable-permission",
            {"component_id": cid, "details": {"key": "API_KEY"}},
        ),
        ("reset-permission", {"component_id": cid}),
        ("search-components", {"query": "weather"}),
        (
            "grant-network-permission",
            {"component_id": cid, "details": {"host": "example.com", "extra": 1}},
        ),
        (
            "grant-storage-permission",
            {"component_id": cid, "details": {"uri": f"fs://{workdir}", "access": "read"}},
        ),
        ("unload-component", {"id": cid}),
    ]


async def _run(command: list[str], home: Path, wasm: Path) -> list[dict[str, Any]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WASSETTE_")},
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    out = []
    workdir = home / "work"
    workdir.mkdir()
    async with Client(params, mode="legacy") as c:  # type: ignore[arg-type]
        for name, args in _calls(wasm, workdir):
            r = await c.call_tool(name, args)
            text = r.content[0].text if r.content and hasattr(r.content[0], "text") else None
            out.append(
                {
                    "tool": name,
                    "args": args,
                    "is_error": bool(r.is_error),
                    "structured": r.structured_content,
                    "text": text,
                }
            )
    return out


def _keys(data: Any) -> str:
    if not isinstance(data, dict):
        return "-"
    parts = []
    for k, v in data.items():
        if isinstance(v, dict) and k in ("details", "policy_info"):
            parts.append(f"{k}{{{','.join(v)}}}")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            parts.append(f"{k}[{','.join(v[0])}]")
        else:
            parts.append(k)
    return ", ".join(parts)


def _unwrap(row: dict[str, Any]) -> Any:
    s = row["structured"]
    if s is None and row["text"]:
        try:
            s = json.loads(row["text"])
        except ValueError:
            return None
    # Wassette wraps some results as {"result": {...}} in structuredContent.
    if isinstance(s, dict) and set(s) == {"result"} and isinstance(s["result"], dict):
        return s["result"]
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default=os.environ.get("WASSETTE_PEER"))
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    import wasmtime

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wasm = root / "answer.wasm"
        wasm.write_bytes(bytes(wasmtime.wat2wasm(WAT)))
        sides = {"ours": [sys.executable, "-m", "wassette", "run"]}
        if opts.peer:
            sides["peer"] = [opts.peer, "run"]
        results = {}
        for side, command in sides.items():
            home = root / side
            home.mkdir()
            results[side] = anyio.run(_run, command, home, wasm)
    if opts.json:
        print(json.dumps(results, indent=2))
        return
    print("| call | ours: keys | ours: status | peer: keys | peer: status |")
    print("|---|---|---|---|---|")
    for i, row in enumerate(results["ours"]):
        peer = results.get("peer", [None] * len(results["ours"]))[i]
        ours_s = _unwrap(row)
        cells = [
            row["tool"] + (" (bad details)" if i >= 12 and i < 14 else ""),
            "isError" if row["is_error"] else _keys(ours_s),
            _status_of(ours_s, row["is_error"]),
        ]
        if peer is not None:
            peer_s = _unwrap(peer)
            cells += [
                "isError" if peer["is_error"] else _keys(peer_s),
                _status_of(peer_s, peer["is_error"]),
            ]
        print("| " + " | ".join(cells) + " |")


def _status_of(data: Any, is_error: bool) -> str:
    if is_error:
        return "isError"
    if not isinstance(data, dict):
        return "-"
    status = str(data.get("status", "-"))
    if "permission_type" in data:
        status += f" ({data['permission_type']})"
    return status


if __name__ == "__main__":
    main()
