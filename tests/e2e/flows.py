"""The main MCP scenario, run by the tests over each transport and protocol era."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp import Client

from tests.componentbuild import build_component
from tests.conftest import Home, run_cli

BUILTINS = {
    "load-component",
    "unload-component",
    "list-components",
    "get-policy",
    "grant-storage-permission",
    "grant-network-permission",
    "grant-environment-variable-permission",
    "revoke-storage-permission",
    "revoke-network-permission",
    "revoke-environment-variable-permission",
    "reset-permission",
    "search-components",
}
MODERN = "2026-07-28"


class Changes:
    """Counts tools/list_changed, whichever era delivered it."""

    def __init__(self) -> None:
        self.count = 0

    async def handler(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.count += 1

    async def wait_beyond(self, seen: int, timeout: float = 30) -> None:
        with anyio.fail_after(timeout):
            while self.count <= seen:
                await anyio.sleep(0.02)


def text(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


async def listening(client: Client, changes: Changes, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` with a 2026-07-28 listen stream feeding ``changes`` (legacy clients get
    notifications through the message handler instead)."""
    if client.protocol_version != MODERN:
        await body()
        return
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()

        async def listen() -> None:
            async with client.listen(tools_list_changed=True) as sub:
                ready.set()
                async for _event in sub:
                    changes.count += 1

        tg.start_soon(listen)
        with anyio.fail_after(10):
            await ready.wait()
        await body()
        tg.cancel_scope.cancel()


async def tool_names(client: Client) -> set[str]:
    listing = await client.list_tools(cache_mode="refresh")
    return {t.name for t in listing.tools}


async def main_flow(
    client: Client, changes: Changes, home: Home, *, load: bool, canary: str
) -> None:
    """List, load (or unload), grant, set a secret from another process, call, bad args."""
    names = await tool_names(client)
    assert names >= BUILTINS
    seen = changes.count
    if load:
        assert "get-var" not in names
        src = home.root / "env-reader.wasm"
        shutil.copyfile(build_component("env-reader"), src)
        loaded = await client.call_tool("load-component", {"path": src.as_uri()})
        assert not loaded.is_error, text(loaded)
        assert '"id":"env-reader"' in text(loaded)
    else:
        # env-reader and misbehaver are pre-installed: unloading one changes the list.
        assert {"get-var", "ok"} <= names
        unloaded = await client.call_tool("unload-component", {"id": "misbehaver"})
        assert not unloaded.is_error, text(unloaded)
    await changes.wait_beyond(seen)
    listing = await client.list_tools(cache_mode="refresh")
    by_name = {t.name: t for t in listing.tools}
    assert "get-var" in by_name
    assert ("ok" in by_name) is load  # misbehaver stays unless it was unloaded
    assert by_name["get-var"].input_schema["required"] == ["key"]
    assert by_name["get-var"].output_schema is not None

    # Deny by default: the key is not visible before a grant, even with a secret set.
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={canary}-1", check=True)
    denied = await client.call_tool("get-var", {"key": "API_KEY"})
    assert not denied.is_error and denied.structured_content == {"result": None}

    granted = await client.call_tool(
        "grant-environment-variable-permission",
        {"component_id": "env-reader", "details": {"key": "API_KEY"}},
    )
    assert not granted.is_error, text(granted)
    # The guest reads the secret; the value it returns never reaches the client: it is
    # replaced by a placeholder, which only happens when it is exactly the injected value.
    first = await client.call_tool("get-var", {"key": "API_KEY"})
    assert first.structured_content == {"result": "[REDACTED:API_KEY]"}
    assert text(first) == "[REDACTED:API_KEY]"  # a string result is sent as raw text

    # A secret set by another process is seen by the very next call: no restart, no reload.
    # (Had the guest still seen the old value, it would not match the new placeholder.)
    run_cli(home, "secret", "set", "env-reader", f"API_KEY={canary}-2", check=True)
    second = await client.call_tool("get-var", {"key": "API_KEY"})
    assert second.structured_content == {"result": "[REDACTED:API_KEY]"}
    assert canary not in text(first) + text(second)
    # The operator opts this key out of redaction: now the value itself comes back.
    run_cli(
        home,
        "permission",
        "grant",
        "environment-variable",
        "env-reader",
        "API_KEY",
        "--no-redact",
        check=True,
    )
    third = await client.call_tool("get-var", {"key": "API_KEY"})
    assert third.structured_content == {"result": f"{canary}-2"}

    # A grant revoked from another process, likewise.
    run_cli(
        home, "permission", "revoke", "environment-variable", "env-reader", "API_KEY", check=True
    )
    revoked = await client.call_tool("get-var", {"key": "API_KEY"})
    assert revoked.structured_content == {"result": None}

    policy = await client.call_tool("get-policy", {"component_id": "env-reader"})
    assert not policy.is_error and canary not in text(policy)

    # Bad arguments: a useful isError result, not a protocol error.
    wrong_type = await client.call_tool("get-var", {"key": 5})
    assert wrong_type.is_error
    assert "key" in text(wrong_type) and "fix:" in text(wrong_type)
    missing = await client.call_tool("get-var", {})
    assert missing.is_error and "key" in text(missing)
    no_component = await client.call_tool("get-policy", {"component_id": "nope"})
    assert no_component.is_error
    assert "not loaded" in text(no_component) and "load" in text(no_component).split("fix:")[1]


def assert_no_canary(log: str, canary: str) -> None:
    """The server's log must never carry a secret value (compare without echoing it)."""
    assert canary not in log, "a secret value appeared in the server log"
