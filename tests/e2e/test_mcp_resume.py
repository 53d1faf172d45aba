"""Resumable streamable-HTTP response streams: a client whose connection drops mid-call
reconnects with Last-Event-ID and still gets the call's result; the store stays bounded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types

from tests.conftest import Home
from tests.e2e.mcpserver import POST_HEADERS, HttpServer, install_prepared, raw_session, sse_events
from wassette.server.events import BoundedEventStore

VERSION = "2025-11-25"  # the first revision with priming events (an id before any data)
HEADERS = POST_HEADERS


def _rpc(mid: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": mid, "method": method, "params": params}


def _session(client: httpx.Client, url: str) -> dict[str, str]:
    return raw_session(client, url, VERSION)


def test_dropped_stream_resumes_with_last_event_id(home: Home, prepared: Path) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    with HttpServer(home) as server, httpx.Client(timeout=30) as client:
        headers = _session(client, server.url)
        call = _rpc(7, "tools/call", {"name": "nap", "arguments": {"seconds": 1.5}})
        with client.stream("POST", server.url, json=call, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            priming = next(sse_events(response.iter_lines()))
            # The connection is dropped here, before the result.
        assert priming.get("data", "") == ""
        assert int(priming["retry"]) > 0
        last_id = priming["id"]
        assert len(last_id) >= 20  # random: another client cannot guess it

        time.sleep(2.0)  # the call finishes while nobody is connected
        resume = {**headers, "accept": "text/event-stream", "last-event-id": last_id}
        resume.pop("content-type")
        result: dict[str, Any] | None = None
        with client.stream("GET", server.url, headers=resume) as response:
            assert response.status_code == 200
            for event in sse_events(response.iter_lines()):
                if not event.get("data"):
                    continue
                message = json.loads(event["data"])
                if message.get("id") == 7:
                    assert event["id"] and event["id"] != last_id
                    result = message["result"]
                    break
        assert result is not None, "the result was not replayed"
        assert result.get("isError") is not True
        assert json.loads(result["content"][0]["text"]) == 1


def test_event_store_is_bounded() -> None:
    store = BoundedEventStore(max_events=10, max_bytes=2000, ttl_seconds=60)
    assert store  # the SDK tests `if event_store`: an empty store must still count as one
    big = types.JSONRPCResponse(jsonrpc="2.0", id=1, result={"x": "y" * 500})
    small = types.JSONRPCResponse(jsonrpc="2.0", id=2, result={})

    async def go() -> None:
        first = await store.store_event("s", None)
        for _ in range(8):
            await store.store_event("s", big)
        assert store.size_bytes <= 2000 and store.count <= 10
        # The oldest events went first: the first id can no longer be resumed from.
        sent: list[object] = []

        async def collect(message: object) -> None:
            sent.append(message)

        assert await store.replay_events_after(first, collect) is None
        for _ in range(30):
            last = await store.store_event("t", small)
        assert store.count <= 10
        assert await store.replay_events_after(last, collect) == "t"
        assert sent == []  # nothing after the newest event
        assert await store.replay_events_after("not-an-id", collect) is None

    anyio.run(go)


def test_event_store_forgets_oldsse_events() -> None:
    store = BoundedEventStore(ttl_seconds=0.05)
    message = types.JSONRPCResponse(jsonrpc="2.0", id=1, result={})

    async def go() -> None:
        event_id = await store.store_event("s", message)
        await anyio.sleep(0.1)

        async def ignore(_message: object) -> None:
            return None

        assert await store.replay_events_after(event_id, ignore) is None
        assert store.count == 0

    anyio.run(go)
