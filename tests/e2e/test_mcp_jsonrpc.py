"""JSON-RPC hygiene on every transport: each malformed input gets the error JSON-RPC 2.0 and
MCP assign it (never silence, which leaves a client waiting forever), over stdio and over
streamable HTTP alike, from a real `wassette serve` subprocess. Plus `server/discover`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.conftest import Home, isolated_env
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, StdioWire
from wassette.server.jsonrpc import rejection

NULL = None
# (case id, raw input, expected code or None for "no answer", expected id)
TABLE: list[tuple[str, bytes, int | None, object]] = [
    ("not-json", b"{not json", -32700, NULL),
    ("bad-utf8", b'{"jsonrpc":"2.0","id":7,"method":"\xff\xfe"}', -32700, NULL),
    ("empty-batch", b"[]", -32600, NULL),
    ("batch", b'[{"jsonrpc":"2.0","id":7,"method":"ping"}]', -32600, NULL),
    ("number", b"42", -32600, NULL),
    ("string", b'"ping"', -32600, NULL),
    ("id-null", b'{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600, NULL),
    ("id-float", b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600, NULL),
    ("id-object", b'{"jsonrpc":"2.0","id":{},"method":"ping"}', -32600, NULL),
    ("id-bool", b'{"jsonrpc":"2.0","id":true,"method":"ping"}', -32600, NULL),
    ("no-jsonrpc", b'{"id":7,"method":"ping"}', -32600, 7),
    ("jsonrpc-1.0", b'{"jsonrpc":"1.0","id":7,"method":"ping"}', -32600, 7),
    ("no-method", b'{"jsonrpc":"2.0","id":7}', -32600, 7),
    ("no-method-no-id", b'{"jsonrpc":"2.0","params":{}}', -32600, NULL),
    ("method-number", b'{"jsonrpc":"2.0","id":"a","method":5}', -32600, "a"),
    ("params-number", b'{"jsonrpc":"2.0","id":7,"method":"ping","params":5}', -32600, 7),
    ("params-string", b'{"jsonrpc":"2.0","id":7,"method":"ping","params":"x"}', -32600, 7),
    ("params-array", b'{"jsonrpc":"2.0","id":7,"method":"ping","params":[1]}', -32602, 7),
    ("notif-params-array", b'{"jsonrpc":"2.0","method":"notifications/x","params":[1]}', None, 0),
]
IDS = [case[0] for case in TABLE]
ALIVE = b'{"jsonrpc":"2.0","id":"alive","method":"ping"}'


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    root = tmp_path_factory.mktemp("jsonrpc") / "home"
    root.mkdir()
    yield Home(root=root, env=isolated_env(root))


@pytest.fixture(scope="module")
def stdio_wire(module_home: Home) -> Iterator[StdioWire]:
    wire = StdioWire(module_home)
    yield wire
    wire.close()


@pytest.fixture(scope="module")
def http_server(module_home: Home) -> Iterator[HttpServer]:
    with HttpServer(module_home) as server:
        yield server


def _check(reply: dict[str, Any], code: int, rid: object) -> None:
    assert reply["jsonrpc"] == "2.0"
    assert "id" in reply and reply["id"] == rid, reply
    assert reply["error"]["code"] == code, reply
    assert "result" not in reply


@pytest.mark.parametrize(("name", "raw", "code", "rid"), TABLE, ids=IDS)
def test_stdio_answers_malformed_input(
    stdio_wire: StdioWire, name: str, raw: bytes, code: int | None, rid: object
) -> None:
    stdio_wire.send(raw)
    if code is None:
        # A notification gets no answer: the next answer is the liveness ping's.
        stdio_wire.send(ALIVE)
        assert stdio_wire.receive(10)["id"] == "alive"
        return
    _check(stdio_wire.receive(10), code, rid)
    # The connection survives every malformed input.
    stdio_wire.send(ALIVE)
    assert stdio_wire.receive(10)["id"] == "alive"


@pytest.mark.parametrize(("name", "raw", "code", "rid"), TABLE, ids=IDS)
def test_http_answers_malformed_input(
    http_server: HttpServer, name: str, raw: bytes, code: int | None, rid: object
) -> None:
    response = httpx.post(http_server.url, content=raw, headers=POST_HEADERS, timeout=10)
    if code is None:
        assert response.status_code == 202 and not response.content
        return
    assert response.status_code == 400
    _check(response.json(), code, rid)


def test_http_checks_host_before_the_body(http_server: HttpServer) -> None:
    """DNS-rebinding protection still speaks first: a malformed body from a foreign Host is
    refused as such, not parsed."""
    response = httpx.post(
        http_server.url,
        content=b"{not json",
        headers={**POST_HEADERS, "host": "evil.example"},
        timeout=10,
    )
    assert response.status_code == 421


@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_rejection_never_raises(raw: bytes) -> None:
    reply = rejection(raw)
    if reply:
        assert reply["error"]["code"] in (-32700, -32600, -32602)
        assert set(reply) == {"jsonrpc", "id", "error"}


def test_discover_lists_every_revision(http_server: HttpServer) -> None:
    async def go() -> None:
        async with http_server.client(mode="auto") as c:
            assert c.protocol_version == "2026-07-28"  # the client still picks the newest
            result = await c.session.discover()
            assert list(result.supported_versions) == [
                *HANDSHAKE_PROTOCOL_VERSIONS,
                *MODERN_PROTOCOL_VERSIONS,
            ]
            assert "2024-11-05" in result.supported_versions

    anyio.run(go)
