"""The attacks of an untrusted MCP client on wassette's own files and credentials, replayed
through the real server (official MCP client over stdio and streamable HTTP) and the real CLI,
with a real file-reading component (fs-tool) and a real env-reading one (env-reader).

Every protected path is tried as a direct grant, a parent, ``$HOME``, a system path and a
symlink; over MCP, on the CLI and as a hand-written policy; and every server credential key
as a grant the server's own environment would satisfy. A canary sits in every protected place
and in the server's environment: it must never come back.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests.componentbuild import install_component
from tests.conftest import Home, isolated_env, run_cli
from tests.e2e.flows import assert_no_canary, text
from tests.e2e.mcpserver import HttpServer, install_prepared, stdio_client

CANARY = "CANARY-protect-77d0"
ENV_CANARY = "CANARY-server-environ-31f4"
# A valid 32-byte key (the server really uses it as its master key), itself a canary.
KEY_CANARY = base64.b64encode(b"CANARY-master-key-0123456789abcd").decode()
CREDENTIALS = {
    "WASSETTE_SECRETS_KEY": KEY_CANARY,
    "VAULT_TOKEN": f"{CANARY}-vault",
    "WASSETTE_OCI_USERNAME": "registry-user",
    "WASSETTE_OCI_PASSWORD": f"{CANARY}-oci",
    "BAO_TOKEN": f"{CANARY}-bao",
}
TRIED: dict[str, int] = {"mcp": 0, "cli": 0, "hand": 0, "credential": 0}


@dataclass
class Case:
    name: str
    directory: Path  # what is granted
    readable: str  # a file under `directory` (as the guest sees it) holding a canary


def _dirs(home: Home) -> dict[str, Path]:
    return {
        "config": home.root / "config" / "wassette",
        "state": home.root / "state" / "wassette",
        "cache": home.root / "cache" / "wassette",
    }


def _cases(home: Home, work: Path) -> list[Case]:
    d = _dirs(home)
    for path in (home.secrets_dir, d["config"], d["state"], d["cache"], home.plugin_dir):
        path.mkdir(parents=True, exist_ok=True)
        (path / "canary.txt").write_text(CANARY)
    rel_secret = "secrets/canary.txt"  # noqa: S105 - a path
    cases = [
        Case("secrets dir", home.secrets_dir, "canary.txt"),
        Case("data dir (parent of secrets)", home.data, rel_secret),
        Case("$HOME", home.root, f"data/wassette/{rel_secret}"),
        Case("/", Path("/"), str(home.secrets_dir / "canary.txt").lstrip("/")),
        Case("/proc", Path("/proc"), "self/environ"),
        Case("/proc/self", Path("/proc/self"), "environ"),
        Case("/sys", Path("/sys"), "kernel/hostname"),
        Case("/dev", Path("/dev"), "fd/0"),
        Case("config dir (key file's dir)", d["config"], "canary.txt"),
        Case("XDG config home (parent of config dir)", home.root / "config", "wassette/canary.txt"),
        Case("state dir (audit log)", d["state"], "canary.txt"),
        Case("cache dir", d["cache"], "canary.txt"),
        Case("component dir", home.plugin_dir, "canary.txt"),
    ]
    work.mkdir(exist_ok=True)
    links = []
    for case in list(cases):
        if case.name in ("/sys", "/dev"):
            continue
        link = work / ("link-to-" + "".join(c if c.isalnum() else "-" for c in case.name))
        link.symlink_to(case.directory)
        links.append(Case(f"symlink to {case.name}", link, case.readable))
    return cases + links


def _policy_text(path: Path) -> str:
    return (
        'version: "1.0"\npermissions:\n  storage:\n    allow:\n'
        f'      - uri: "fs://{path}"\n        access: ["read"]\n'
    )


def _all_text(result: types.CallToolResult) -> str:
    parts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    return "\n".join(parts) + json.dumps(result.structured_content)


@pytest.fixture
def server_home(home: Home) -> Home:
    """The isolated home with a canary in the server's environment (for /proc/self/environ)."""
    return Home(home.root, {**home.env, "SOME_SERVICE_SECRET": ENV_CANARY})


def _installed(home: Home) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    install_component("fs-tool", home.plugin_dir)


def test_every_protected_grant_is_refused_over_mcp_and_a_hand_written_one_reads_nothing(
    server_home: Home, tmp_path: Path
) -> None:
    home = server_home
    _installed(home)
    cases = _cases(home, tmp_path / "work")
    legit = tmp_path / "shared"
    legit.mkdir()
    (legit / "hello.txt").write_text("hello")
    swap = tmp_path / "work" / "swap"
    swap.symlink_to(legit)
    log = home.root / "server.log"
    policy_file = home.plugin_dir / "fs-tool.policy.yaml"

    async def go() -> None:
        async with stdio_client(home, log=log, mode="legacy") as c:
            for case in cases:
                uri = f"fs://{case.directory}"
                r = await c.call_tool(
                    "grant-storage-permission",
                    {"component_id": "fs-tool", "details": {"uri": uri, "access": ["read"]}},
                )
                TRIED["mcp"] += 1
                assert r.is_error, case.name
                message = text(r)
                assert f"refusing to grant storage {uri}" in message, case.name
                assert "no flag overrides" in message and "which " in message, case.name
                assert not policy_file.exists(), case.name  # nothing written

            for case in cases:
                # A hand-written (or shipped, or component-written) policy: the call fails
                # before the guest runs, naming the entry and the command that removes it.
                policy_file.write_text(_policy_text(case.directory))
                target = f"{case.directory}/{case.readable}".replace("//", "/")
                r = await c.call_tool("read-file", {"path": target})
                TRIED["hand"] += 1
                assert r.is_error, case.name
                everything = _all_text(r)
                assert f"permissions.storage.allow[0] (fs://{case.directory})" in everything
                assert (
                    f"wassette permission revoke storage fs-tool fs://{case.directory}"
                    in everything
                ), case.name
                assert CANARY not in everything and ENV_CANARY not in everything, case.name

            # A symlink that was fine at grant time and swapped afterwards.
            policy_file.unlink()
            ok = await c.call_tool(
                "grant-storage-permission",
                {"component_id": "fs-tool", "details": {"uri": f"fs://{swap}", "access": ["read"]}},
            )
            assert not ok.is_error, text(ok)
            read = await c.call_tool("read-file", {"path": f"{swap}/hello.txt"})
            assert read.structured_content == {"result": {"ok": "hello"}}
            swap.unlink()
            swap.symlink_to(home.secrets_dir)
            stolen = await c.call_tool("read-file", {"path": f"{swap}/canary.txt"})
            TRIED["hand"] += 1
            assert stolen.is_error
            assert "permissions.storage.allow[0]" in text(stolen)
            assert CANARY not in _all_text(stolen)

    anyio.run(go)
    assert_no_canary(log.read_text(), CANARY)
    assert_no_canary(log.read_text(), ENV_CANARY)


def test_every_protected_grant_is_refused_on_the_cli(home: Home, tmp_path: Path) -> None:
    install_component("fs-tool", home.plugin_dir)
    for case in _cases(home, tmp_path / "work"):
        uri = f"fs://{case.directory}"
        proc = run_cli(home, "permission", "grant", "storage", "fs-tool", uri, "--access", "read")
        TRIED["cli"] += 1
        assert proc.returncode == 6, (case.name, proc.stderr)  # PolicyError
        assert f"refusing to grant storage {uri}" in proc.stderr, case.name
        assert "no flag overrides" in proc.stderr
        assert not (home.plugin_dir / "fs-tool.policy.yaml").exists(), case.name
    allowed = tmp_path / "shared"
    allowed.mkdir()
    proc = run_cli(
        home, "permission", "grant", "storage", "fs-tool", f"fs://{allowed}", "--access", "read"
    )
    assert proc.returncode == 0, proc.stderr


def _vars(result: types.CallToolResult) -> dict[str, str]:
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    return {k: v for k, v in result.structured_content["result"]}


def test_server_credentials_never_come_from_the_inherited_environment(home: Home) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    server = Home(home.root, {**home.env, **CREDENTIALS})
    keys = [k for k in CREDENTIALS if k != "WASSETTE_OCI_USERNAME"]
    log = home.root / "server.log"

    async def go() -> None:
        async with stdio_client(server, log=log, mode="legacy") as c:
            for key in keys:
                r = await c.call_tool(
                    "grant-environment-variable-permission",
                    {"component_id": "env-reader", "details": {"key": key}},
                )
                assert not r.is_error, text(r)
            seen = await c.call_tool("list-vars", {})
            TRIED["credential"] += len(keys)
            assert _vars(seen) == {}
            for secret in CREDENTIALS.values():
                assert secret not in _all_text(seen)

            status = run_cli(server, "secret", "status", "env-reader", check=True)
            report = json.loads(status.stdout)
            rows = {e["key"]: e for e in report["environment"]}
            for key in keys:
                assert rows[key]["source"] == "blocked", rows[key]
                assert key in rows[key]["reason"] and "never taken" in rows[key]["reason"]
            for secret in CREDENTIALS.values():
                assert secret not in status.stdout + status.stderr

            # The component's own secret may supply such a key: set by the operator.
            run_cli(
                server, "secret", "set", "env-reader", "VAULT_TOKEN=own-vault-token", check=True
            )
            own = _vars(await c.call_tool("list-vars", {}))
            assert own == {"VAULT_TOKEN": "[REDACTED:VAULT_TOKEN]"}

    anyio.run(go)
    text_log = log.read_text()
    for secret in CREDENTIALS.values():
        if secret != "registry-user":  # noqa: S105 - the one non-secret
            assert_no_canary(text_log, secret)

    # The operator's explicit value (serve --env) may supply one too.
    async def explicit() -> None:
        async with stdio_client(
            server, "--env", "WASSETTE_OCI_PASSWORD=operator-oci-password", log=log, mode="legacy"
        ) as c:
            got = _vars(await c.call_tool("list-vars", {}))
            assert got["WASSETTE_OCI_PASSWORD"] == "[REDACTED:WASSETTE_OCI_PASSWORD]"  # noqa: S105
            assert "WASSETTE_SECRETS_KEY" not in got and "BAO_TOKEN" not in got
            TRIED["credential"] += 1

    anyio.run(explicit)


def test_serve_protects_its_auth_token_file_and_env_file(tmp_path: Path) -> None:
    # wassette's own directories live away from $HOME here, so the only thing under $HOME
    # that makes it protected is the server's --auth-token-file (HttpServer writes it there).
    root = tmp_path / "h"
    root.mkdir()
    xdg = tmp_path / "x"
    home = Home(root, isolated_env(root, xdg))
    plugin_dir = xdg / "data" / "wassette" / "components"
    install_component("fs-tool", plugin_dir)
    env_dir = tmp_path / "envdir"
    env_dir.mkdir()
    (env_dir / "server.env").write_text("OPERATOR_VALUE=x\n")
    results: dict[str, Any] = {}

    async def go(server: HttpServer) -> None:
        async with server.client(mode="legacy") as c:
            for name, directory in (("token", root), ("env", env_dir)):
                results[name] = await c.call_tool(
                    "grant-storage-permission",
                    {
                        "component_id": "fs-tool",
                        "details": {"uri": f"fs://{directory}", "access": ["read"]},
                    },
                )

    with HttpServer(
        home, args=("--env-file", str(env_dir / "server.env")), token="t" * 24 + "-tok"
    ) as server:
        anyio.run(go, server)
    TRIED["mcp"] += 2
    assert results["token"].is_error and "--auth-token-file" in text(results["token"])
    assert results["env"].is_error and "--env-file" in text(results["env"])


def test_report_the_count(request: pytest.FixtureRequest) -> None:
    """Not an assertion of its own: prints how many cases the tests above tried."""
    total = sum(TRIED.values())
    print(f"\nprotected-path and credential cases tried: {TRIED} total={total}")
