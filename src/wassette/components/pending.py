"""Pending policy proposals: a shipped policy the operator has not (yet) approved.

A load that is not allowed to grant what the component's policy asks keeps the proposal
privately in ``<id>.proposal.json``, tied to the digest of the binary it came with;
``component accept-policy`` grants exactly what was shown, and only while that binary is
still the one installed. A later load or an unload discards it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette import fsutil, layout
from wassette.components import provenance
from wassette.errors import NotFoundError, PolicyError, StorageError
from wassette.policy import proposal as proposals
from wassette.policy.model import Policy

if TYPE_CHECKING:
    from wassette.policy.store import PolicyStore

__all__ = [
    "ACCEPT_COMMAND",
    "PROPOSAL_FORMAT",
    "accept_command",
    "accept_proposal",
    "discard_proposal",
    "pending_proposal_view",
    "read_proposal",
    "write_proposal",
]

PROPOSAL_FORMAT = 1

#: The command that applies a pending proposal (named in results and errors).
ACCEPT_COMMAND = "wassette component accept-policy {id}"


def accept_command(component_id: str) -> str:
    """``wassette component accept-policy <id>``."""
    return ACCEPT_COMMAND.format(id=component_id)


def write_proposal(
    component_dir: Path,
    *,
    cid: str,
    record: provenance.SourceRecord | None,
    added: Policy,
    lines: tuple[str, ...],
    dropped: tuple[str, ...],
) -> None:
    from wassette.policy.parser import dump_policy

    data = {
        "format": PROPOSAL_FORMAT,
        "component_id": cid,
        "source": record.uri if record is not None else None,
        "digest": record.digest if record is not None else None,
        "proposed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "permissions": list(lines),
        "dropped": list(dropped),
        "policy": dump_policy(added),
    }
    target = layout.path(component_dir, cid, layout.PROPOSAL)
    try:
        fsutil.write_atomic(target, json.dumps(data, indent=2).encode("utf-8"))
    except OSError as exc:
        raise StorageError(
            f"cannot keep the proposed policy of '{cid}' in {target}",
            why=fsutil.os_reason(exc),
            fix="check free space and the component directory's permissions; the component "
            "was installed without the proposed permissions",
        ) from None


def discard_proposal(component_dir: Path, component_id: str) -> None:
    """Forget a pending proposal (a new load or an unload makes it stale)."""
    layout.path(component_dir, component_id, layout.PROPOSAL).unlink(missing_ok=True)


def read_proposal(component_dir: Path, component_id: str) -> dict[str, Any] | None:
    """The pending proposal of a component, as stored (None if there is none)."""
    target = layout.path(component_dir, component_id, layout.PROPOSAL)
    try:
        raw = provenance.read_small(target, 1024 * 1024)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {target}", why=fsutil.os_reason(exc)) from None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != PROPOSAL_FORMAT:
        raise StorageError(
            f"the pending proposal {target} is damaged",
            fix="delete it and load the component again to see its proposal "
            "(`wassette component load <uri>`)",
        )
    return data


def pending_proposal_view(component_dir: Path, component_id: str) -> dict[str, Any] | None:
    """What ``inspect`` shows of a pending proposal."""
    try:
        data = read_proposal(component_dir, component_id)
    except StorageError as exc:
        return {"error": exc.message}
    if data is None:
        return None
    return {
        "permissions": data.get("permissions", []),
        "dropped": data.get("dropped", []),
        "source": data.get("source"),
        "digest": data.get("digest"),
        "proposed_at": data.get("proposed_at"),
        "accept_with": accept_command(component_id),
    }


def accept_proposal(component_dir: Path, component_id: str, store: PolicyStore) -> dict[str, Any]:
    """Grant exactly the permissions of the pending proposal (what the load showed).

    Refused when there is none, or when the installed binary is no longer the one the
    proposal arrived with (a later load replaced it).
    """
    from wassette.policy.parser import parse_policy

    cid = component_id
    data = read_proposal(component_dir, cid)
    if data is None:
        raise NotFoundError(
            f"component '{cid}' has no pending policy proposal",
            why="nothing was proposed, it was accepted already, or a later load replaced it",
            fix=f"see its policy with `wassette policy get {cid}`; grant single permissions "
            "with `wassette permission grant`",
        )
    record = provenance.read_record(component_dir, cid)
    if record is None or record.digest != data.get("digest"):
        raise PolicyError(
            f"the pending proposal of '{cid}' is for another binary",
            why="the component was replaced or modified since the proposal was made",
            fix="load the component again to see what its policy proposes now",
        )
    added = parse_policy(str(data["policy"]), source=f"the pending proposal of '{cid}'")
    from wassette.policy.view import policy_to_dict

    policy = store.update(cid, lambda now: proposals.merge(now, added))
    discard_proposal(component_dir, cid)
    return {
        "status": "policy proposal accepted",
        "component_id": cid,
        "granted": proposals.describe(added),
        "policy": policy_to_dict(policy),
    }
