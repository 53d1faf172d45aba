"""Commands that never run a component do not load wasmtime (nor the MCP server stack).

``ToolSpec`` and the WIT type model are plain data (``schema/``); only ``runtime/`` reads them
out of a compiled component. Each check runs in a fresh interpreter, since this test process
has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import Home

HEAVY = ("wasmtime", "mcp", "starlette")

_PROBE = """
import json, sys
{body}
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
sys.stderr.write("\\nLOADED=" + json.dumps(loaded) + "\\n")
"""


def _loaded(body: str, env: dict[str, str] | None = None) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body, heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LOADED=")]
    assert marker, f"probe failed (exit {proc.returncode}):\n{proc.stderr}"
    loaded: list[str] = json.loads(marker[-1].removeprefix("LOADED="))
    return loaded


@pytest.mark.parametrize(
    "module",
    ["wassette.schema.tools", "wassette.schema", "wassette.manager", "wassette.policy.model"],
)
def test_importing_does_not_load_wasmtime(module: str) -> None:
    assert _loaded(f"import {module}") == [], (
        f"`import {module}` loads a heavy library; ToolSpec and the manager's top level must "
        "stay free of wasmtime (import runtime modules lazily, inside the function that runs "
        "a component)"
    )


def test_a_tool_spec_round_trips_without_wasmtime() -> None:
    body = (
        "from wassette.schema.tools import ToolSpec\n"
        "from wassette.schema.wit import WitType\n"
        "spec = ToolSpec.from_json({'name': 'get-weather', 'description': 'd',"
        " 'export_path': ['get-weather'], 'params': [['city', {'kind': 'string'}]],"
        " 'result': {'kind': 'u32'}})\n"
        "assert spec.params == (('city', WitType('string')),), spec\n"
        "assert spec.input_schema['properties']['city']['type'] == 'string'\n"
    )
    assert _loaded(body) == []


def test_secret_status_does_not_load_wasmtime(home: Home) -> None:
    """The whole `wassette secret status` command, policy and all, runs without wasmtime."""
    home.plugin_dir.mkdir(parents=True)
    (home.plugin_dir / "c.wasm").write_bytes(b"\0asm")  # status never compiles the component
    (home.plugin_dir / "c.policy.yaml").write_text(
        'version: "1.0"\npermissions:\n  environment:\n    allow:\n      - key: API_KEY\n'
        "  network:\n    allow:\n      - host: api.example.com\n"
    )
    body = (
        "from wassette.cli import main\n"
        "try:\n"
        "    main(['secret', 'status', 'c'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    assert _loaded(body, env=home.env) == []
