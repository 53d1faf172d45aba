"""One-shot commands import only what they use: start-up is most of their time.

Every check runs the real entry point in a fresh interpreter and reads ``sys.modules`` at exit
(this test process has long since imported everything). ``secret list`` is the short command
scripts run most: it must not load the runtime (wasmtime), the MCP SDK, the cipher library,
the server, the comment-keeping YAML writer, click or platformdirs. ``tool invoke`` runs a
component, so it loads wasmtime, but never the MCP SDK, the server or click.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Home, load_env_reader_cli, run_cli

PROBE = """
import json, sys
from wassette.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.__stderr__.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
"""


def _modules(env: dict[str, str], *args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        input="",
        timeout=120,
        check=False,
    )
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")), None)
    assert line is not None, proc.stderr[-2000:]
    return set(json.loads(line.removeprefix("MODULES=")))


def _under(modules: set[str], *packages: str) -> list[str]:
    return sorted(m for m in modules for p in packages if m == p or m.startswith(p + "."))


SECRET_LIST_NEVER = (
    "wasmtime",
    "mcp",
    "mcp_types",
    "cryptography",
    "ruamel",
    "click",
    "platformdirs",
    "filelock",
    "importlib.metadata",
    "logging",  # imported (and configured) only when something logs
    "dataclasses",  # and with it inspect: a sixth of the command's run
    "inspect",
    "wassette.server",
    "wassette.runtime",
    "wassette.manager",
    "wassette.policy",
)


@pytest.mark.parametrize(
    "args",
    [
        ("secret", "list", "c"),
        ("secret", "list", "c", "-o", "table"),
        ("secret", "list", "c", "--show-values", "--yes"),
    ],
)
def test_secret_list_imports_nothing_heavy(home: Home, args: tuple[str, ...]) -> None:
    run_cli(home, "secret", "set", "c", "API_KEY=v", "--force", check=True)
    modules = _modules(home.env, *args)
    assert "wassette.cli.secret_views" in modules  # the probe really listed
    # --show-values writes a reveal to the audit log first, under its file lock.
    never = [m for m in SECRET_LIST_NEVER if not (m == "filelock" and "--show-values" in args)]
    assert _under(modules, *never) == []


def test_secret_list_yaml_output_loads_only_the_yaml_writer_it_needs(home: Home) -> None:
    # -o yaml renders with ruamel (every string double-quoted); still no click, no runtime.
    modules = _modules(home.env, "secret", "list", "c", "-o", "yaml")
    assert "ruamel.yaml" in modules
    assert _under(modules, "click", "wasmtime", "mcp", "cryptography", "wassette.runtime") == []


def test_secret_help_still_loads_click_and_stays_light(home: Home) -> None:
    modules = _modules(home.env, "secret", "list", "--help")
    assert "click" in modules
    assert _under(modules, "wasmtime", "mcp", "cryptography", "wassette.runtime") == []


def test_tool_invoke_loads_no_mcp_sdk_nor_server(
    home: Home, env_reader: Path, tmp_path: Path
) -> None:
    load_env_reader_cli(home, env_reader, tmp_path, "K", "v")
    args = ("tool", "invoke", "get-var", "--args", '{"key": "K"}')
    proc = run_cli(home, *args)
    assert proc.returncode == 0, proc.stderr
    modules = _modules(home.env, *args)
    assert "wasmtime" in modules  # the probe really ran the component
    never = (
        "mcp",
        "mcp_types",
        "starlette",
        "pydantic",
        "wassette.server",
        "importlib.metadata",
        "importlib.resources",
        "click",  # the fast path runs `tool invoke NAME --args JSON`
        "filelock",  # the cache and audit locks are fsutil's flock
        "platformdirs",
        "ruamel",  # the policy file we wrote is read in its plain form (policy/plainform.py)
        "_hashlib",  # OpenSSL: the audit chain hashes with CPython's built-in SHA-256
    )
    assert _under(modules, *never) == []


@pytest.mark.parametrize(
    "env",
    [
        {"HOME": "/home/u"},
        {"HOME": "/home/u/", "XDG_DATA_HOME": "/data", "XDG_STATE_HOME": "/st//"},
        {"HOME": "/home/u", "XDG_CONFIG_HOME": "relative", "XDG_CACHE_HOME": ""},
        {"HOME": "relative"},
        {},
    ],
)
def test_paths_agree_with_platformdirs(env: dict[str, str]) -> None:
    code = (
        "import platformdirs\n"
        "from pathlib import Path\n"
        "from wassette import paths\n"
        "a = (paths.data_dir(), paths.config_dir(), paths.state_dir(), paths.cache_dir())\n"
        "kw = dict(appauthor=False, roaming=True)\n"
        "b = (Path(platformdirs.user_data_dir('wassette', **kw)),\n"
        "     Path(platformdirs.user_config_dir('wassette', **kw)),\n"
        "     Path(platformdirs.user_state_dir('wassette', **kw)),\n"
        "     Path(platformdirs.user_cache_dir('wassette', appauthor=False)))\n"
        "assert a == b, (a, b)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HOME"))}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_engine_reads_what_the_libraries_would_say() -> None:
    # The artifact cache key is built without importlib.metadata and platform (start-up
    # cost); it must still name exactly the installed wasmtime and this machine.
    import platform
    from importlib import metadata

    from wassette.runtime.engine import _machine, wasmtime_version

    assert wasmtime_version() == metadata.version("wasmtime")
    assert _machine() == platform.machine()


def test_default_actor_names_this_host() -> None:
    import socket

    from wassette.secretstore.records import default_actor

    assert default_actor().endswith("@" + socket.gethostname())
