"""The HTTP front (server/http_front.py): component calls on open streamable-HTTP sessions
answered without the SDK, on a real `wassette serve --streamable-http`, over the raw wire.

What is checked: which requests the front takes (quick component calls: one JSON body) and
which it leaves to the SDK (built-ins, progress, unknown or closed sessions, JSON-only
clients: their exact SDK answers); that a slow call is still a resumable event stream, also
when the client resumes before the answer exists; cancellation; and that a session the
front serves is held open while a call runs and expires when idle, as the SDK's own are.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Home
from tests.e2e.mcpserver import HttpServer, install_prepared, raw_session, sse_events
from tests.e2e.mcpserver import tools_call as _call

VERSION = "2025-11-25"


def _session(client: httpx.Client, url: str) -> dict[str, str]:
    return raw_session(client, url, VERSION)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a POST's response, whichever form it came in."""
    if response.headers["content-type"].startswith("application/json"):
        answer: dict[str, Any] = response.json()
        return answer
    for event in sse_events(iter(response.text.splitlines())):
        if event.get("data"):
            message: dict[str, Any] = json.loads(event["data"])
            if "id" in message:
                return message
    raise AssertionError(f"no answer in {response.text!r}")


@pytest.fixture
def server(home: Home, prepared: Path) -> Iterator[HttpServer]:
    install_prepared(home.plugin_dir, "misbehaver")
    with HttpServer(home) as running:
        yield running


def test_quick_component_calls_get_one_json_body_and_builtins_stay_with_the_sdk(
    server: HttpServer,
) -> None:
    with httpx.Client(timeout=60) as client:
        headers = _session(client, server.url)
        for rid in range(2, 5):
            r = client.post(server.url, json=_call(rid, "ok"), headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            assert r.headers["mcp-session-id"] == headers["mcp-session-id"]
            answer = r.json()
            assert answer["id"] == rid
            assert answer["result"]["content"][0]["text"] == "ok"
            assert answer["result"]["isError"] is False
        # A built-in (approvals may ask the person through elicitation): the SDK's stream.
        r = client.post(server.url, json=_call(9, "list-components"), headers=headers)
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "result" in _answer(r)
        # A failing guest is an isError result, as through the SDK.
        r = client.post(server.url, json=_call(10, "crash", {"reason": "boom"}), headers=headers)
        assert r.headers["content-type"] == "application/json"
        assert r.json()["result"]["isError"] is True
        # An unknown tool: the SDK's JSON-RPC error, same code and message.
        r = client.post(server.url, json=_call(11, "no-such-tool"), headers=headers)
        error = _answer(r)["error"]
        assert error["code"] == -32602 and "no-such-tool" in error["message"]


def test_what_the_front_leaves_to_the_sdk_gets_the_sdks_answer(server: HttpServer) -> None:
    with httpx.Client(timeout=60) as client:
        headers = _session(client, server.url)
        # No such session: 404, from the SDK.
        r = client.post(
            server.url, json=_call(2, "ok"), headers={**headers, "mcp-session-id": "f" * 32}
        )
        assert r.status_code == 404
        # A client that does not accept event streams: the SDK's 406 (it could not answer a
        # slow call), though the front could have answered this one in JSON.
        r = client.post(
            server.url, json=_call(3, "ok"), headers={**headers, "accept": "application/json"}
        )
        assert r.status_code == 406
        # Progress asked for: it goes on the SDK's event stream.
        r = client.post(
            server.url, json=_call(4, "ok", _meta={"progressToken": "p"}), headers=headers
        )
        assert r.headers["content-type"].startswith("text/event-stream")
        assert _answer(r)["result"]["content"][0]["text"] == "ok"
        # Params the front does not recognise as plain: the SDK judges them.
        odd = _call(5, "ok")
        odd["params"]["extra"] = 1
        r = client.post(server.url, json=odd, headers=headers)
        assert r.headers["content-type"].startswith("text/event-stream")
        # The session ends (DELETE): a call on it is the SDK's 404.
        assert client.delete(server.url, headers=headers).status_code in (200, 204)
        r = client.post(server.url, json=_call(6, "ok"), headers=headers)
        assert r.status_code == 404


def test_a_slow_call_is_a_resumable_stream_even_resumed_before_its_answer(
    server: HttpServer,
) -> None:
    with httpx.Client(timeout=60) as client:
        headers = _session(client, server.url)
        call = _call(7, "nap", {"seconds": 1.5})
        started = time.monotonic()
        with client.stream("POST", server.url, json=call, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            priming = next(sse_events(response.iter_lines()))
            # Dropped right after the priming event, long before the answer.
        assert priming.get("data", "") == ""
        assert int(priming["retry"]) > 0
        resume = {**headers, "accept": "text/event-stream", "last-event-id": priming["id"]}
        resume.pop("content-type")
        answer: dict[str, Any] | None = None
        with client.stream("GET", server.url, headers=resume) as stream:
            assert stream.status_code == 200
            for event in sse_events(stream.iter_lines()):
                if event.get("data"):
                    answer = json.loads(event["data"])
                    break
        waited = time.monotonic() - started
        assert answer is not None and answer["id"] == 7, answer
        assert answer["result"]["isError"] is False
        assert 1.4 < waited < 10  # it really was waiting for the guest

        # After the answer exists, a resumption replays it from the store.
        with client.stream(
            "POST", server.url, json=_call(8, "nap", {"seconds": 0.4}), headers=headers
        ) as response:
            priming = next(sse_events(response.iter_lines()))
        time.sleep(1.0)
        resume["last-event-id"] = priming["id"]
        with client.stream("GET", server.url, headers=resume) as stream:
            replayed = next(e for e in sse_events(stream.iter_lines()) if e.get("data"))
        assert json.loads(replayed["data"])["id"] == 8


def test_cancelling_a_call_the_front_runs_stops_it_and_answers_request_cancelled(
    server: HttpServer,
) -> None:
    with httpx.Client(timeout=60) as client:
        headers = _session(client, server.url)
        cancel_status: list[int] = []

        def cancel_soon() -> None:
            time.sleep(0.6)
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 21, "reason": "test"},
            }
            cancel_status.append(httpx.post(server.url, json=note, headers=headers).status_code)

        threading.Thread(target=cancel_soon, daemon=True).start()
        started = time.monotonic()
        r = client.post(server.url, json=_call(21, "spin"), headers=headers)
        assert time.monotonic() - started < 3
        assert cancel_status == [202]
        assert _answer(r) == {
            "jsonrpc": "2.0",
            "id": 21,
            "error": {"code": -32800, "message": "Request cancelled"},
        }
        r = client.post(server.url, json=_call(22, "ok"), headers=headers)
        assert r.json()["result"]["content"][0]["text"] == "ok"


def test_a_session_is_held_while_the_front_runs_a_call_and_expires_when_idle(
    home: Home, prepared: Path
) -> None:
    install_prepared(home.plugin_dir, "misbehaver")
    home.config_file.parent.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text("http_session_idle_timeout = 1\n")
    with HttpServer(home) as server, httpx.Client(timeout=60) as client:
        headers = _session(client, server.url)
        # Longer than the idle timeout: the call holds the session, as an SDK request does.
        r = client.post(server.url, json=_call(2, "nap", {"seconds": 1.6}), headers=headers)
        assert _answer(r)["result"]["isError"] is False
        r = client.post(server.url, json=_call(3, "ok"), headers=headers)
        assert r.status_code == 200 and r.json()["result"]["content"][0]["text"] == "ok"
        # Idle past the timeout (counted from the end of the last call): gone.
        time.sleep(2.5)
        r = client.post(server.url, json=_call(4, "ok"), headers=headers)
        assert r.status_code == 404


def test_official_clients_on_many_sessions_get_their_own_answers(server: HttpServer) -> None:
    """Eight official clients at once, each on its own session, calling through the front:
    every answer is the one asked for (ids and sessions never cross)."""
    seen: list[tuple[int, str]] = []

    async def one(n: int) -> None:
        async with server.client(mode="legacy") as c:
            for _ in range(5):
                result = await c.call_tool("chatter", {"text": f"client-{n}"})
                assert not result.is_error
                seen.append((n, json.dumps(result.structured_content)))

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(one, n)

    anyio.run(go)
    assert len(seen) == 40
    for n, answer in seen:
        assert f"client-{n}" in answer
        assert all(f'client-{m}"' not in answer for m in range(8) if m != n)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_IDS = st.integers() | st.text(max_size=6) | st.none() | st.booleans() | st.floats()
_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["ok", "chatter", "nap", "list-components", "nope"]) | _JSON,
        "arguments": _JSON,
        "_meta": _JSON | st.fixed_dictionaries({"progressToken": _JSON}),
        "extra": _JSON,
    },
)
_MESSAGES = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"])},
    optional={
        "id": _IDS,
        "method": st.sampled_from(["tools/call", "tools/call", "notifications/cancelled"]),
        "params": _PARAMS | _JSON,
    },
)


def test_hostile_messages_on_a_session_never_break_the_front(server: HttpServer) -> None:
    """Untrusted bodies on a valid session (odd ids, params, _meta, arguments, names): each
    gets an HTTP answer the SDK could give (never a 500 or a hang), a JSON answer is a well-
    formed JSON-RPC response for the id asked, and the session keeps working."""
    with httpx.Client(timeout=30) as client:
        headers = _session(client, server.url)

        @settings(max_examples=120, deadline=None)
        @given(_MESSAGES)
        def one(message: dict[str, Any]) -> None:
            params = message.get("params")
            if isinstance(params, dict) and params.get("name") == "nap":
                params["arguments"] = {"seconds": 0.01}
            # Encoded by Python's json, which writes Infinity/NaN for such float ids (httpx
            # refuses to): not JSON, so those get the parse error.
            r = client.post(server.url, content=json.dumps(message), headers=headers)
            assert r.status_code in (200, 202, 400), (message, r.status_code, r.text)
            if r.headers.get("content-type") == "application/json" and r.status_code == 200:
                answer = r.json()
                if "id" in message and ("result" in answer or "error" in answer):
                    assert answer["jsonrpc"] == "2.0"

        one()
        r = client.post(server.url, json=_call(1, "chatter", {"text": "still"}), headers=headers)
        assert r.json()["result"]["structuredContent"] == {"result": "still"}
    assert "internal error" not in server.stderr()
