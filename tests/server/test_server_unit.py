"""The server's pieces in-process: built-in schemas and errors, secrets never in results or
logs, redaction, and the parsers of serve's options (with property tests)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from tests.conftest import CANARY, Home
from tests.e2e.flows import BUILTINS, text
from tests.e2e.mcpserver import install_prepared
from wassette.cli.serve import parse_env_assignment, parse_env_file
from wassette.config import load_settings
from wassette.errors import ConfigError, UsageError
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server import logs
from wassette.server.app import WassetteMCP
from wassette.server.builtin_tools import SCHEMAS
from wassette.server.transports import (
    HttpOptions,
    is_loopback,
    parse_bind_address,
    security_settings,
)


def _mcp(home: Home, **kw: Any) -> WassetteMCP:
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    home.plugin_dir.mkdir(parents=True, exist_ok=True)
    manager = ComponentManager(
        settings.plugin_dir,
        open_backend(settings, home.env),
        explicit_env=kw.pop("explicit_env", {}),
        inherited_env={},
    )
    return WassetteMCP(manager, **kw)


def test_builtin_schemas_are_the_reference_ones() -> None:
    assert set(SCHEMAS) == BUILTINS
    props = {name: schema["properties"] for name, (_d, schema) in SCHEMAS.items()}
    assert set(props["load-component"]) == {"path"}
    assert set(props["unload-component"]) == {"id"}
    assert props["list-components"] == {}
    assert set(props["search-components"]) == {"query"}
    assert SCHEMAS["search-components"][1]["required"] == []
    details = {
        "grant-storage-permission": {"uri", "access"},
        "grant-network-permission": {"host"},
        "grant-environment-variable-permission": {"key"},
        "revoke-storage-permission": {"uri"},
        "revoke-network-permission": {"host"},
        "revoke-environment-variable-permission": {"key"},
    }
    for name, keys in details.items():
        assert set(props[name]) == {"component_id", "details"}
        assert set(props[name]["details"]["properties"]) == keys
        assert SCHEMAS[name][1]["required"] == ["component_id", "details"]
    assert props["grant-storage-permission"]["details"]["properties"]["access"]["type"] == "array"


def test_builtins_in_process_and_secrets_never_returned(
    home: Home, prepared: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    # A policy-defined value and an operator value are secret: never in a result.
    (home.plugin_dir / "env-reader.policy.yaml").write_text(
        'version: "1.0"\npermissions:\n  environment:\n    allow:\n'
        f'      - key: "TOKEN"\n        value: "{CANARY}-policy"\n'
        '      - key: "NEEDED"\n        required: true\n'
    )
    mcp = _mcp(home, explicit_env={"OPERATOR": f"{CANARY}-op"})
    caplog.set_level(logging.DEBUG, logger="wassette")
    outputs: list[str] = []

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:

            async def call(name: str, args: dict[str, Any]) -> Any:
                result = await c.call_tool(name, args)
                outputs.append(text(result))
                return result

            listed = json.loads(text(await call("list-components", {})))
            assert listed["components"][0]["id"] == "env-reader"
            assert listed["components"][0]["status"] == "ready"
            policy = await call("get-policy", {"component_id": "env-reader"})
            shown = json.loads(text(policy))["policy"]["permissions"]["environment"]["allow"]
            assert shown[0] == {"key": "TOKEN", "value_set": True}
            # The required key is missing: the error says which key and how to set it.
            missing = await call("get-var", {"key": "TOKEN"})
            assert missing.is_error
            assert "NEEDED" in text(missing) and "wassette secret set env-reader" in text(missing)
            # search-components searches the catalogue of known components (as Wassette's).
            found = json.loads(text(await call("search-components", {"query": "weather"})))
            assert found["status"] == "Component list found"
            assert [r["name"] for r in found["components"]] == [
                "Weather Server",
                "Open-Meteo Weather",
            ]
            assert not any(r["loaded"] for r in found["components"])
            none = json.loads(text(await call("search-components", {"query": "GET-VAR"})))
            assert none["total"] == 0
            for bad_args, needle in (
                ({"component_id": "env-reader"}, "details: is required"),
                ({"component_id": "env-reader", "details": {"uri": "fs:///tmp"}}, "access"),
                (
                    {"component_id": "env-reader", "details": {"uri": 3, "access": ["read"]}},
                    "string",
                ),
                (
                    {
                        "component_id": "env-reader",
                        "details": {"uri": "fs:///tmp", "access": ["exec"]},
                    },
                    "read",
                ),
                (
                    {"component_id": "../etc", "details": {"uri": "fs:///t", "access": ["read"]}},
                    "component",
                ),
            ):
                bad = await call("grant-storage-permission", bad_args)
                assert bad.is_error and needle in text(bad), text(bad)
                assert "fix:" in text(bad)
            granted = await call(
                "grant-storage-permission",
                {
                    "component_id": "env-reader",
                    "details": {"uri": "fs:///tmp/data", "access": ["read", "write"]},
                },
            )
            assert not granted.is_error, text(granted)
            revoked = await call(
                "revoke-storage-permission",
                {"component_id": "env-reader", "details": {"uri": "fs:///tmp/data"}},
            )
            assert not revoked.is_error
            net = await call(
                "grant-network-permission",
                {"component_id": "env-reader", "details": {"host": "api.example.com"}},
            )
            assert "api.example.com" in text(net)
            reset = await call("reset-permission", {"component_id": "env-reader"})
            assert not reset.is_error
            assert not (home.plugin_dir / "env-reader.policy.yaml").exists()
            bad_load = await call("load-component", {"path": "file:///nonexistent/x.wasm"})
            assert bad_load.is_error and "fix:" in text(bad_load)

    anyio.run(go)
    everything = "\n".join(outputs) + "\n".join(
        r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records
    )
    assert CANARY not in everything, "a secret value left the server"


def test_tool_without_metadata_is_listed_after_background_compile(
    home: Home, prepared: Path
) -> None:
    install_prepared(home.plugin_dir, "env-reader")
    (home.plugin_dir / "env-reader.tools.json").unlink()  # the .compiled stays: fast compile
    mcp = _mcp(home)

    async def go() -> None:
        async with Client(mcp.server, mode="auto") as c:
            async with c.listen(tools_list_changed=True) as sub:
                first = {t.name for t in (await c.list_tools()).tools}
                if "get-var" not in first:
                    with anyio.fail_after(60):
                        async for _event in sub:
                            break
            listed = await c.list_tools(cache_mode="refresh")
            assert "get-var" in {t.name for t in listed.tools}

    anyio.run(go)
    assert (home.plugin_dir / "env-reader.tools.json").exists()


def test_disable_builtin_tools(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    mcp = _mcp(home, builtin=False)

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "ok" in names and not names & BUILTINS

    anyio.run(go)


# ------------------------------------------------------------------------------ logs


def test_redact_hides_secretish_keys_at_any_depth() -> None:
    args = {
        "key": "K",
        "name": "n",
        "nested": {"api_token": "t", "list": [{"Password": "p"}]},
        "AUTHORIZATION": "b",
    }
    out = logs.redact(args)
    assert out["key"] == logs.REDACTED and out["AUTHORIZATION"] == logs.REDACTED
    assert out["name"] == "n"
    assert out["nested"]["api_token"] == logs.REDACTED
    assert out["nested"]["list"][0]["Password"] == logs.REDACTED


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_redact_never_keeps_a_value_under_a_secret_key(value: Any) -> None:
    def check(original: Any, shown: Any) -> None:
        if isinstance(original, dict):
            for k, v in original.items():
                if logs.looks_secret(str(k)):
                    assert shown[str(k)] == logs.REDACTED
                else:
                    check(v, shown[str(k)])

    check(value, logs.redact(value))
    json.dumps(logs.redact(value))


def test_json_log_lines() -> None:
    record = logging.LogRecord(
        "wassette.server", logging.INFO, __file__, 1, "hello %s", ("x",), None
    )
    record.fields = {"tool": "t"}
    line = json.loads(logs.JsonLineFormatter().format(record))
    assert line["msg"] == "hello x" and line["tool"] == "t" and line["level"] == "info"


# ------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        ("127.0.0.1:9001", ("127.0.0.1", 9001)),
        ("[::1]:80", ("::1", 80)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),  # noqa: S104
    ],
)
def test_bind_address(text_: str, expected: tuple[str, int]) -> None:
    assert parse_bind_address(text_) == expected


@given(st.text(max_size=40))
def test_bind_address_fuzz(value: str) -> None:
    try:
        host, port = parse_bind_address(value)
    except UsageError:
        return
    assert host and 0 <= port <= 65535


def test_loopback_and_allowed_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")  # noqa: S104
    sec = security_settings(HttpOptions("127.0.0.1", 9001, allowed_hosts=("a.test", "b.test:8")))
    assert "localhost:*" in sec.allowed_hosts and "a.test:*" in sec.allowed_hosts
    assert "b.test:8" in sec.allowed_hosts and "b.test:8:*" not in sec.allowed_hosts
    assert "http://a.test:*" in sec.allowed_origins
    wide = security_settings(HttpOptions("10.1.2.3", 9001))
    assert "10.1.2.3:*" in wide.allowed_hosts and "localhost:*" not in wide.allowed_hosts


def test_env_assignments_and_files(tmp_path: Path) -> None:
    assert parse_env_assignment("A=b=c", "--env") == ("A", "b=c")
    assert parse_env_assignment("A=", "--env") == ("A", "")
    env_file = tmp_path / "vars.env"
    env_file.write_text(f'# comment\n\nexport API_KEY="{CANARY}"\nPLAIN = x \n')
    assert parse_env_file(env_file) == {"API_KEY": CANARY, "PLAIN": "x"}
    env_file.write_text(f"GOOD=1\nnot a var {CANARY}\n")
    with pytest.raises(UsageError) as info:
        parse_env_file(env_file)
    assert "line 2" in str(info.value) and CANARY not in str(info.value)
    with pytest.raises(ConfigError):
        parse_env_file(tmp_path / "missing.env")


@given(st.text(max_size=60))
def test_env_assignment_errors_never_echo_the_value(line: str) -> None:
    try:
        key, _value = parse_env_assignment(line, "--env")
    except UsageError as exc:
        _key, sep, value = line.partition("=")
        if sep and len(value) > 3:
            assert value not in str(exc).replace("--env", "")
        return
    assert key.isidentifier() or key.replace("_", "a").isalnum()


def test_no_env_read_in_server_package() -> None:
    """Library rule: the server package never reads os.environ (the CLI passes it in)."""
    root = Path(__file__).resolve().parents[2] / "src" / "wassette" / "server"
    for path in root.glob("*.py"):
        assert "os.environ" not in path.read_text(), path.name
    assert os.sep  # keep os imported for the path math above


def test_a_broken_component_never_breaks_listing(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    (home.plugin_dir / "broken.wasm").write_bytes(b"\0asm not really a component")
    mcp = _mcp(home)

    async def go() -> None:
        async with Client(mcp.server, mode="legacy") as c:
            for _ in range(3):
                names = {t.name for t in (await c.list_tools()).tools}
                assert names >= BUILTINS | {"ok"}
                await anyio.sleep(0.2)
            listed = json.loads(text(await c.call_tool("list-components", {})))
            assert {r["id"] for r in listed["components"]} == {"broken", "misbehaver"}
            assert (await c.call_tool("ok", {})).structured_content == {"result": "ok"}

    anyio.run(go)
    assert "broken" in mcp._failed  # not retried on every tools/list
