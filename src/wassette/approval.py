"""Asking the operator before an untrusted party changes what a component may touch.

Only the operator is trusted. A change that arrives from anyone else (the MCP client, a policy
shipped with a component, a registry) is a *request*: it is described in plain words as an
:class:`ApprovalRequest` and applied only if an :class:`Approver` says yes.

Who answers depends on the entrance:

- the CLI on a terminal asks the person at it (``[y/N]`` on stderr);
- the CLI without a terminal answers from its flags (``--replace``, ``--accept-policy``);
- the MCP server asks the human behind the client through MCP elicitation, as the
  ``mcp_grants`` setting says (``ask``, ``require-approval``, ``allow``, ``deny``);
- manifest provisioning is operator-written, so it approves what the manifest states.

This module is pure (no I/O, no third-party imports) so every layer can depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

#: What is being asked. ``replace-component``: load a different source under an existing id;
#: ``accept-policy``: install (or widen to) a policy that arrived with a component;
#: ``grant``/``revoke``/``reset``/``load``/``unload``: state changes from the MCP client.
Action = Literal[
    "replace-component",
    "accept-policy",
    "grant",
    "revoke",
    "reset",
    "load",
    "unload",
]


@dataclass(frozen=True)
class ApprovalRequest:
    """One question for the operator, in plain words.

    ``summary`` is one sentence (what will change, for which component); ``details`` are the
    lines a person needs to decide (each permission, the old and new source, ...). Neither
    ever carries a secret value.
    """

    action: Action
    component_id: str
    summary: str
    details: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The request as a short block of text (summary, then one detail per line)."""
        lines = [self.summary, *(f"  - {d}" for d in self.details)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Decision:
    """The answer: ``approved``, and how it was reached (for the audit log).

    ``how`` is one of ``operator`` (CLI flag or prompt), ``manifest``, ``elicitation``,
    ``policy`` (the ``mcp_grants`` setting decided without asking), ``declined``, ``cancelled``,
    ``unavailable`` (nobody could be asked).
    """

    approved: bool
    how: str
    reason: str = ""


#: Answers one request. Called from worker threads; may block while a person decides.
Approver = Callable[[ApprovalRequest], Decision]


def approve_all(how: str) -> Approver:
    """An approver that says yes to everything (the operator's own CLI flags, a manifest)."""

    def _approve(request: ApprovalRequest) -> Decision:
        return Decision(True, how)

    return _approve


def refuse_all(how: str, reason: str) -> Approver:
    """An approver that says no to everything, with the reason shown to the requester."""

    def _refuse(request: ApprovalRequest) -> Decision:
        return Decision(False, how, reason)

    return _refuse


class ApprovalPending(Exception):
    """Raised by an approver that can only ask asynchronously (MCP 2026-07-28 clients answer
    in a retried request). Whoever asks for approval must do so *before* changing anything,
    and let this propagate: the request is then retried with the answer, from the start.
    """

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__(request.summary)
        self.request = request
