"""State changes the MCP client asks for need the human: the ``mcp_grants`` setting.

The MCP client is not trusted (an LLM agent can be prompt-injected), so a built-in tool that
changes what a component may touch is a *request*. How it is answered:

==================  ==============================================================  =========
mode                client declares ``elicitation``                                   it does not
==================  ==============================================================  =========
``ask`` (default)   ask the person (MCP elicitation); declined -> nothing changes    allowed [*]
``require-approval`` ask the person                                                  refused
``allow``           allowed without asking (Wassette's behaviour)                    allowed
``deny``            every state-changing built-in refused; the error names the CLI  refused
==================  ==============================================================  =========

[*] Except replacing a component's binary from another source: that hands the new binary the
old one's secrets, so it needs a person even in ``ask`` mode (refused when nobody can ask).

What is asked: every grant, every unload, loading a *different* binary under an existing id,
and installing or widening a policy that arrived with a component. Revoking and resetting only
take permissions away: they are not asked (``deny`` still refuses them). Every state change
made over MCP, and every refusal, is written to the audit log with the client's name and how
the approval was reached.

Both protocol eras are served. A handshake-era client (<= 2025-11-25) is asked with an
``elicitation/create`` request in the middle of the call. A 2026-07-28 client is asked the
multi-round-trip way: the call returns ``input_required`` with the question, and the client
retries it carrying the answer; answers from earlier rounds ride in a ``requestState`` that this
process signs (HMAC, a key made at start-up), so a client cannot forge an approval it was never
asked for, nor reuse one for a different question.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.from_thread
import mcp_types as types

from wassette.approval import ApprovalPending, ApprovalRequest, Decision

#: Built-ins that change state (``deny`` refuses each of them).
STATE_CHANGING = frozenset(
    {
        "load-component",
        "unload-component",
        "grant-storage-permission",
        "grant-network-permission",
        "grant-environment-variable-permission",
        "revoke-storage-permission",
        "revoke-network-permission",
        "revoke-environment-variable-permission",
        "reset-permission",
    }
)

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Approve",
            "description": "Allow this change (it is refused unless you tick this)",
            "default": False,
        }
    },
    "required": ["approve"],
}

_STATE_PREFIX = "wassette-approvals.v1."


def request_key(request: ApprovalRequest) -> str:
    """A stable key for one exact question (action, component, and every word of it)."""
    digest = hashlib.sha256(
        json.dumps(
            [request.action, request.component_id, request.summary, list(request.details)],
            ensure_ascii=False,
        ).encode("utf-8")
    ).hexdigest()
    return f"approve-{digest[:32]}"


def cli_equivalent(name: str, args: Mapping[str, Any]) -> str:
    """The ``wassette`` command the operator runs instead of built-in ``name``."""

    def text(value: Any) -> str:
        return shlex.quote(value) if isinstance(value, str) and value else "<...>"

    details = args.get("details") if isinstance(args.get("details"), Mapping) else {}
    assert isinstance(details, Mapping)
    cid = text(args.get("component_id"))
    if name == "load-component":
        return f"wassette component load {text(args.get('path'))}"
    if name == "unload-component":
        return f"wassette component unload {text(args.get('id'))}"
    if name == "reset-permission":
        return f"wassette permission reset {cid}"
    verb = "grant" if name.startswith("grant-") else "revoke"
    kind = name.split("-", 1)[1].removesuffix("-permission")
    if kind == "storage":
        command = f"wassette permission {verb} storage {cid} {text(details.get('uri'))}"
        access = details.get("access")
        if verb == "grant" and isinstance(access, list) and access:
            command += " --access " + shlex.quote(",".join(str(a) for a in access))
        return command
    if kind == "network":
        return f"wassette permission {verb} network {cid} {text(details.get('host'))}"
    return f"wassette permission {verb} environment-variable {cid} {text(details.get('key'))}"


class _StateSigner:
    """Signs the answers collected in earlier rounds (the ``requestState`` of a retry)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def seal(self, answers: Mapping[str, bool]) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps(dict(sorted(answers.items())), separators=(",", ":")).encode()
        ).decode()
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{_STATE_PREFIX}{body}.{mac}"

    def unseal(self, token: str | None) -> dict[str, bool]:
        """The answers in ``token``; an absent, foreign or forged token carries none."""
        if not token or not token.startswith(_STATE_PREFIX):
            return {}
        body, _, mac = token[len(_STATE_PREFIX) :].rpartition(".")
        good = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, good):
            return {}
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, bool)}


@dataclass
class CallApprover:
    """Answers the approval requests of one ``tools/call`` (see the module docstring).

    Called from the worker thread that runs the built-in. ``decisions`` keeps what was
    decided, for the audit record.
    """

    mode: str
    can_ask: bool
    modern: bool
    elicit: Callable[[str], types.ElicitResult] | None = None
    answers: dict[str, bool] = field(default_factory=dict)
    decisions: list[tuple[ApprovalRequest, Decision]] = field(default_factory=list)

    def __call__(self, request: ApprovalRequest) -> Decision:
        decision = self._decide(request)
        self.decisions.append((request, decision))
        return decision

    def _decide(self, request: ApprovalRequest) -> Decision:  # noqa: PLR0911 - one per mode
        if self.mode == "allow":
            return Decision(True, "policy", "mcp_grants is allow")
        if self.mode == "deny":
            return Decision(False, "policy", "mcp_grants is deny")
        if not self.can_ask:
            if self.mode == "ask" and request.action == "replace-component":
                # A different binary under an existing id would inherit that component's
                # secrets: isolation itself is at stake, so only a person may say yes.
                return Decision(
                    False,
                    "unavailable",
                    "replacing a component's binary hands it that component's secrets, so a "
                    "person must approve it, and this MCP client cannot ask (it declares no "
                    "elicitation capability)",
                )
            if self.mode == "ask":
                return Decision(
                    True, "policy", "the client cannot ask the person; mcp_grants ask allows"
                )
            return Decision(
                False,
                "unavailable",
                "the MCP client cannot ask the person (it declares no elicitation capability) "
                "and mcp_grants is require-approval",
            )
        key = request_key(request)
        if self.modern:
            if key in self.answers:
                ok = self.answers[key]
                return Decision(ok, "elicitation" if ok else "declined", "" if ok else _DECLINED)
            raise ApprovalPending(request)
        assert self.elicit is not None
        try:
            result = self.elicit(request_message(request))
        except Exception as exc:  # noqa: BLE001 - any failure to ask is a refusal, never a yes
            return Decision(False, "unavailable", f"the question could not be asked ({exc})")
        return decision_of(result)


_DECLINED = "the person declined it"


def decision_of(result: types.ElicitResult) -> Decision:
    """Accepted with ``approve: true`` is a yes; anything else is a no."""
    if result.action == "accept" and (result.content or {}).get("approve") is True:
        return Decision(True, "elicitation")
    if result.action == "cancel":
        return Decision(False, "cancelled", "the person dismissed the question")
    return Decision(False, "declined", _DECLINED)


def request_message(request: ApprovalRequest) -> str:
    """What the person reads: the request, then what saying yes means."""
    return (
        "An AI agent connected to wassette asks for a change.\n\n"
        f"{request.text()}\n\n"
        "Approve only if you asked for this. Nothing changes unless you approve."
    )


class Approvals:
    """The ``mcp_grants`` policy of one server, and the signer of its retry state."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._signer = _StateSigner()

    def approver_for(self, session: Any, params: types.CallToolRequestParams) -> CallApprover:
        """An approver for one call from ``session`` (either protocol era)."""
        caps = getattr(session, "client_capabilities", None)
        can_ask = caps is not None and getattr(caps, "elicitation", None) is not None
        modern = _is_modern(session)
        answers = self._signer.unseal(params.request_state)
        for key, response in (params.input_responses or {}).items():
            if key.startswith("approve-") and isinstance(response, types.ElicitResult):
                answers[key] = decision_of(response).approved
        elicit: Callable[[str], types.ElicitResult] | None = None
        if not modern and can_ask:

            def elicit(message: str) -> types.ElicitResult:
                result: types.ElicitResult = anyio.from_thread.run(
                    session.elicit_form, message, _SCHEMA
                )
                return result

        return CallApprover(self.mode, can_ask, modern, elicit, answers)

    def input_required(
        self, approver: CallApprover, request: ApprovalRequest
    ) -> types.InputRequiredResult:
        """The 2026-07-28 answer to a pending approval: ask, and carry earlier answers."""
        key = request_key(request)
        ask = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=request_message(request), requested_schema=_SCHEMA
            )
        )
        return types.InputRequiredResult(
            input_requests={key: ask}, request_state=self._signer.seal(approver.answers)
        )


def _is_modern(session: Any) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    version = getattr(session, "protocol_version", None)
    return version in MODERN_PROTOCOL_VERSIONS


def client_name(session: Any) -> str:
    """The client's self-declared name (for the audit log; untrusted, so cut short)."""
    params = getattr(session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = getattr(info, "name", None)
    if not isinstance(name, str) or not name:
        return "(unnamed client)"
    return "".join(ch for ch in name if ch.isprintable())[:80]
