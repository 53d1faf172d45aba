"""Headless replicas: two `serve` processes on one manifest, one OpenBao (the Vault backend)
and --disable-builtin-tools, on two ports. Both list identical tools; a `wassette secret set`
through one machine's CLI is seen by both within the cache TTL; a management call is refused
on both."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import Home, run_cli
from tests.e2e.mcpserver import HttpServer, install_prepared, template_dir
from tests.secretstore.openbao import ROOT_TOKEN, BaoServer

CANARY = "CANARY-replica-7c41"


def _replica(root: Path, name: str, base: Home, config: str) -> Home:
    home_root = root / name
    home_root.mkdir()
    env = {
        **base.env,
        "HOME": str(home_root),
        "XDG_DATA_HOME": str(home_root / "data"),
        "XDG_CONFIG_HOME": str(home_root / "config"),
        "XDG_STATE_HOME": str(home_root / "state"),
        "XDG_CACHE_HOME": str(home_root / "cache"),
    }
    home = Home(home_root, env)
    home.config_file.parent.mkdir(parents=True)
    home.config_file.write_text(config)
    # Each replica has its own disk; the component is already there (as an image would
    # carry it), so provisioning verifies the pin and fetches nothing.
    install_prepared(home.plugin_dir, "env-reader")
    return home


async def _tools(server: HttpServer) -> list[str]:
    async with server.client(mode="auto") as c:
        return sorted(t.name for t in (await c.list_tools()).tools)


async def _get(server: HttpServer) -> object:
    async with server.client(mode="auto") as c:
        r = await c.call_tool("get-var", {"key": "API_KEY"})
        return (r.structured_content or {}).get("result")


async def _management_refused(server: HttpServer) -> bool:
    async with server.client(mode="auto") as c:
        try:
            r = await c.call_tool("load-component", {"path": "file:///etc/passwd"})
        except MCPError:
            return True
        return bool(r.is_error)


def test_two_replicas_one_manifest_one_openbao(
    home: Home, tmp_path: Path, bao_server: BaoServer
) -> None:
    token_file = tmp_path / "vault-token"
    token_file.write_text(ROOT_TOKEN)
    config = (
        'secrets_backend = "vault"\n[vault]\n'
        f'address = "{bao_server.address}"\ntoken_file = "{token_file}"\n'
        f'path_prefix = "replicas-{uuid.uuid4().hex[:8]}"\ncache_ttl = 1\n'
    )
    src = tmp_path / "env-reader.wasm"
    src.write_bytes((template_dir() / "env-reader.wasm").read_bytes())
    digest = "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        f"""version: 1
components:
  - uri: {src.as_uri()}
    digest: {digest}
    permissions:
      environment:
        allow:
          - key: API_KEY
            redact: false   # a test-only setting, so the value read can be compared
"""
    )
    a = _replica(tmp_path, "a", home, config)
    b = _replica(tmp_path, "b", home, config)
    run_cli(a, "secret", "set", "env-reader", f"API_KEY={CANARY}-1", check=True)
    args = ("--manifest", str(manifest), "--disable-builtin-tools")
    with HttpServer(a, args=args) as one, HttpServer(b, args=args) as two:

        async def go() -> None:
            assert await _tools(one) == await _tools(two) == ["get-var", "list-vars"]
            assert await _get(one) == await _get(two) == f"{CANARY}-1"
            # Through the other machine's CLI: both see it within the TTL (1 s here).
            run_cli(b, "secret", "set", "env-reader", f"API_KEY={CANARY}-2", check=True)
            changed = time.monotonic()
            seen: dict[str, float] = {}
            while len(seen) < 2 and time.monotonic() - changed < 10:
                for label, server in (("one", one), ("two", two)):
                    if label not in seen and await _get(server) == f"{CANARY}-2":
                        seen[label] = time.monotonic() - changed
                await anyio.sleep(0.1)
            assert set(seen) == {"one", "two"}, seen
            assert max(seen.values()) < 1 + 3  # the TTL plus a call's worth of slack
            print(f"secret change seen by both replicas after {max(seen.values()):.2f}s")
            assert await _management_refused(one)
            assert await _management_refused(two)

        anyio.run(go)
        one.stop()
        two.stop()
    for server in (one, two):
        assert "env-reader: unchanged" in server.stderr()
        assert CANARY not in server.stderr()


@pytest.fixture(autouse=True)
def _prepared() -> None:
    template_dir()  # build (or reuse) the compiled component once, outside the timed part
