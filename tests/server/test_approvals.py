"""State changes asked for by the (untrusted) MCP client need the human (``mcp_grants``).

In-process with the official client, in both protocol eras: elicitation accepted applies the
grant, declined changes nothing; a client that cannot ask gets what each mode documents; every
change or refusal is in the audit log with the client's name and how it was approved; a
2026-07-28 client cannot forge an answer it was never asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tests.conftest import Home
from tests.e2e.flows import text
from tests.e2e.mcpserver import install_prepared
from wassette.approval import ApprovalRequest
from wassette.server.app import WassetteMCP
from wassette.server.approvals import Approvals, _StateSigner, cli_equivalent, request_key
from wassette.wiring import build_system

GRANT_NET = (
    "grant-network-permission",
    {"component_id": "env-reader", "details": {"host": "api.example.com"}},
)
GRANT_ENV = (
    "grant-environment-variable-permission",
    {"component_id": "env-reader", "details": {"key": "API_KEY"}},
)


def _server(home: Home, mode: str) -> tuple[WassetteMCP, Any]:
    install_prepared(home.plugin_dir, "env-reader")
    system = build_system(plugin_dir=home.plugin_dir, environ=home.env, mcp_grants=mode)
    return WassetteMCP(
        system.manager, mcp_grants=system.settings.mcp_grants, audit=system.audit
    ), system


class Person:
    """An elicitation callback that answers every question the same way, and remembers it."""

    def __init__(self, answer: str, approve: bool = True) -> None:
        self.answer, self.approve, self.asked = answer, approve, []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        self.asked.append(params.message)
        if self.answer == "accept":
            return types.ElicitResult(action="accept", content={"approve": self.approve})
        return types.ElicitResult(action=self.answer)  # type: ignore[arg-type]


def _call(mcp: WassetteMCP, era: str, person: Person | None, *calls: tuple[str, dict[str, Any]]):
    results: list[types.CallToolResult] = []

    async def go() -> None:
        kw: dict[str, Any] = {"mode": era}
        if person is not None:
            kw["elicitation_callback"] = person
        kw["client_info"] = types.Implementation(name="test-agent", version="1")
        async with Client(mcp.server, **kw) as c:
            for name, args in calls:
                results.append(await c.call_tool(name, args))

    anyio.run(go)
    return results


def _audit(system: Any) -> list[dict[str, Any]]:
    path = system.audit.path
    if not path.exists():
        return []
    return [
        r
        for r in (json.loads(line) for line in path.read_text().splitlines())
        if r["event"] == "mcp-change"
    ]


def _allowed_hosts(home: Home) -> str:
    policy = home.plugin_dir / "env-reader.policy.yaml"
    return policy.read_text() if policy.exists() else ""


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_accepted_elicitation_applies_the_grant(home: Home, prepared: Path, era: str) -> None:
    mcp, system = _server(home, "ask")
    person = Person("accept")
    [result] = _call(mcp, era, person, GRANT_NET)
    assert not result.is_error, text(result)
    assert "api.example.com" in _allowed_hosts(home)
    assert len(person.asked) == 1
    assert "env-reader" in person.asked[0] and "api.example.com" in person.asked[0]
    [record] = _audit(system)
    assert record["client"] == "test-agent" and record["outcome"] == "done"
    assert record["approval"] == [{"action": "grant", "approved": True, "how": "elicitation"}]
    assert record["host"] == "api.example.com" and record["via"] == "mcp"


@pytest.mark.parametrize("era", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("answer", "approve"), [("decline", True), ("cancel", True), ("accept", False)]
)
def test_declined_elicitation_changes_nothing(
    home: Home, prepared: Path, era: str, answer: str, approve: bool
) -> None:
    mcp, system = _server(home, "ask")
    [net, env] = _call(mcp, era, Person(answer, approve), GRANT_NET, GRANT_ENV)
    for result in (net, env):
        assert result.is_error
        assert "not approved" in text(result) and "nothing was changed" in text(result)
        assert "wassette permission grant" in text(result)
    assert not (home.plugin_dir / "env-reader.policy.yaml").exists()
    outcomes = [r["outcome"] for r in _audit(system)]
    assert outcomes == ["refused", "refused"]
    assert _audit(system)[1]["keys"] == ["API_KEY"]


@pytest.mark.parametrize(
    ("mode", "granted", "how"),
    [
        ("ask", True, "policy"),
        ("allow", True, "policy"),
        ("require-approval", False, "unavailable"),
    ],
)
def test_client_without_elicitation(
    home: Home, prepared: Path, mode: str, granted: bool, how: str
) -> None:
    mcp, system = _server(home, mode)
    [result] = _call(mcp, "legacy", None, GRANT_NET)
    assert result.is_error is not granted, text(result)
    assert ("api.example.com" in _allowed_hosts(home)) is granted
    [record] = _audit(system)
    assert record["approval"][0]["how"] == how
    assert record["mcp_grants"] == mode


def test_allow_never_asks_even_a_client_that_could(home: Home, prepared: Path) -> None:
    mcp, _ = _server(home, "allow")
    person = Person("decline")
    [result] = _call(mcp, "auto", person, GRANT_NET)
    assert not result.is_error and person.asked == []


def test_deny_refuses_every_state_change_and_names_the_cli(home: Home, prepared: Path) -> None:
    mcp, system = _server(home, "deny")
    (home.plugin_dir / "env-reader.policy.yaml").write_text(
        'version: "1.0"\npermissions:\n  network:\n    allow:\n      - host: "a.example.com"\n'
    )
    before = _allowed_hosts(home)
    calls = [
        GRANT_NET,
        GRANT_ENV,
        (
            "grant-storage-permission",
            {"component_id": "env-reader", "details": {"uri": "fs:///tmp", "access": ["read"]}},
        ),
        (
            "revoke-network-permission",
            {"component_id": "env-reader", "details": {"host": "a.example.com"}},
        ),
        ("reset-permission", {"component_id": "env-reader"}),
        ("unload-component", {"id": "env-reader"}),
        ("load-component", {"path": "file:///tmp/x.wasm"}),
    ]
    results = _call(mcp, "legacy", Person("accept"), *calls, ("list-components", {}))
    for (name, args), result in zip(calls, results, strict=False):
        assert result.is_error, name
        assert "mcp_grants is deny" in text(result)
        assert cli_equivalent(name, args) in text(result)
    assert not results[-1].is_error  # reading is still allowed
    assert _allowed_hosts(home) == before
    assert (home.plugin_dir / "env-reader.wasm").exists()
    assert [r["outcome"] for r in _audit(system)] == ["refused"] * len(calls)


def test_unload_is_asked_revoke_is_not(home: Home, prepared: Path) -> None:
    mcp, _ = _server(home, "ask")
    person = Person("decline")
    revoke = (
        "revoke-network-permission",
        {"component_id": "env-reader", "details": {"host": "x.example.com"}},
    )
    [rev, unload] = _call(mcp, "legacy", person, revoke, ("unload-component", {"id": "env-reader"}))
    assert not rev.is_error
    assert unload.is_error and (home.plugin_dir / "env-reader.wasm").exists()
    assert len(person.asked) == 1 and "Unload component 'env-reader'" in person.asked[0]


def test_modern_answers_cannot_be_forged_or_reused(home: Home, prepared: Path) -> None:
    """A 2026-07-28 client retrying with an answer to a question it was never asked, or with a
    tampered requestState, gets asked (input_required) instead of the change."""
    mcp, _ = _server(home, "ask")
    other = ApprovalRequest("grant", "env-reader", "Grant component 'env-reader' everything")
    forged_key = request_key(other)
    yes = types.ElicitResult(action="accept", content={"approve": True})
    signer = _StateSigner()  # a different process's key: its signature is worthless here
    forged_state = signer.seal({forged_key: True})
    outcomes: list[Any] = []

    async def go() -> None:
        async with Client(mcp.server, mode="auto", elicitation_callback=Person("accept")) as c:
            for responses, state in (
                ({forged_key: yes}, None),
                (None, forged_state),
                (None, forged_state[:-4] + "abcd"),
            ):
                out = await c.session.call_tool(
                    GRANT_NET[0],
                    GRANT_NET[1],
                    input_responses=responses,
                    request_state=state,
                    allow_input_required=True,
                )
                outcomes.append(out)

    anyio.run(go)
    for out in outcomes:
        assert isinstance(out, types.InputRequiredResult), out
    assert not (home.plugin_dir / "env-reader.policy.yaml").exists()


def test_state_signer_round_trip_and_tamper() -> None:
    signer = _StateSigner()
    token = signer.seal({"approve-a": True, "approve-b": False})
    assert signer.unseal(token) == {"approve-a": True, "approve-b": False}
    prefix, body, mac = token.rsplit(".", 2)
    forged_body = signer.seal({"approve-a": True, "approve-b": True}).rsplit(".", 2)[1]
    assert signer.unseal(f"{prefix}.{forged_body}.{mac}") == {}  # body swapped, old MAC
    assert signer.unseal(f"{prefix}.{body}.{mac[:-1]}0") == {} or mac.endswith("0")
    assert signer.unseal(None) == {} and signer.unseal("garbage") == {}
    assert Approvals("ask").mode == "ask"


def test_request_key_binds_every_word() -> None:
    a = ApprovalRequest("grant", "c", "Grant c network access to a.example.com")
    b = ApprovalRequest("grant", "c", "Grant c network access to b.example.com")
    assert request_key(a) != request_key(b)
    assert request_key(a) == request_key(ApprovalRequest("grant", "c", a.summary))
