"""CLI commands import only what they use (start-up time is mostly imports).

Each command runs in a real subprocess through the real entry point; afterwards we look at
``sys.modules``. ``secret list`` must not pull in the runtime (wasmtime), the MCP SDK, the
cipher library or the server; ``--version``/``--help`` even less.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import Home

PROBE = """
import json, sys
sys.argv = ["wassette", *sys.argv[1:]]
from wassette.cli import main
try:
    main()
except SystemExit:
    pass
sys.__stderr__.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""

HEAVY = ("wasmtime", "mcp", "mcp_types", "cryptography", "hvac", "pydantic", "starlette")


def _modules(home: Home, *args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=home.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(
        (ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")),
        None,
    )
    assert line is not None, proc.stderr[-2000:]
    return set(json.loads(line.removeprefix("MODULES=")))


def _roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "args",
    [
        ("secret", "list", "some-component"),
        ("--version",),
        ("secret", "--help"),
    ],
)
def test_light_commands_import_no_heavy_library(home: Home, args: tuple[str, ...]) -> None:
    modules = _modules(home, *args)
    assert "wassette.cli" in modules  # the probe really ran the CLI
    heavy = _roots(modules) & set(HEAVY)
    assert not heavy, f"wassette {' '.join(args)} imported {sorted(heavy)}"
    ours = {m for m in modules if m.startswith("wassette.")}
    for module in ("wassette.server", "wassette.runtime", "wassette.manager"):
        assert not any(m == module or m.startswith(module + ".") for m in ours), module


def test_secret_list_imports_no_yaml_writer_side_of_the_server(home: Home) -> None:
    # The policy parser (ruamel, the comment-keeping YAML writer) is not needed to list keys.
    modules = _modules(home, "secret", "list", "some-component")
    assert "ruamel" not in _roots(modules)
    assert "wassette.policy.parser" not in modules
