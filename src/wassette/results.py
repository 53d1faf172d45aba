"""The JSON results the CLI and the MCP built-in tools share, built in one place.

``wassette permission grant ...`` and ``grant-*-permission``, ``policy get`` and
``get-policy``, ``permission reset`` and ``reset-permission``, ``component unload`` and
``unload-component`` answer with the same document, in Wassette 0.8.0's field names and status
wording (our extra fields are additive). No result carries a secret value: policies go through
:func:`~wassette.policy.view.policy_to_dict` (policy-defined values hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wassette.policy.model import Policy
from wassette.policy.view import policy_to_dict

__all__ = [
    "ENVIRONMENT_KIND",
    "permission_changed",
    "permissions_reset",
    "policy_info",
    "policy_result",
    "unloaded",
]

#: The ``permission_type`` of an environment-variable grant (Wassette's wording).
ENVIRONMENT_KIND = "environment variable"


def permission_changed(
    verb: str, component_id: str, kind: str, details: dict[str, Any], policy: Policy | None
) -> dict[str, Any]:
    """The result of a grant (``verb`` ``granted``) or revoke (``revoked``) of a ``kind``
    (``storage``, ``network``, ``environment variable``, ``memory``, ``timeout``) permission;
    ``details`` as the caller gave them, ``policy`` the component's policy now."""
    # Wassette's wording: grants and the storage revoke say "... successfully", the network
    # and environment revokes say "permission revoked".
    status = (
        "permission revoked"
        if verb == "revoked" and kind in ("network", ENVIRONMENT_KIND)
        else f"permission {verb} successfully"
    )
    out: dict[str, Any] = {
        "status": status,
        "component_id": component_id,
        "permission_type": kind,
        "details": details,
    }
    if verb == "revoked" and kind == "storage":
        out["uri"] = details["uri"]
        out["message"] = "All access (read and write) to the specified URI has been revoked"
    out["policy"] = None if policy is None else policy_to_dict(policy)
    return out


def permissions_reset(component_id: str) -> dict[str, Any]:
    """The result of deleting a component's policy."""
    return {
        "status": "permissions reset successfully",
        "component_id": component_id,
        "message": "policy removed; the component is denied everything",
    }


def policy_info(component_id: str, path: Path) -> dict[str, Any]:
    """Wassette's description of where a policy lives."""
    try:
        created: int | None = int(path.stat().st_mtime)
    except OSError:
        created = None
    return {
        "policy_id": f"{component_id}-policy",
        "source_uri": path.resolve().as_uri(),
        "local_path": str(path),
        "created_at": created,
    }


def policy_result(component_id: str, policy: Policy | None, path: Path) -> dict[str, Any]:
    """The result of showing a component's policy (``path``: its policy file)."""
    out: dict[str, Any] = {
        "status": "policy found" if policy is not None else "no policy found",
        "component_id": component_id,
    }
    if policy is not None:
        out["policy_info"] = policy_info(component_id, path)
    out["policy_file"] = str(path) if policy is not None else None
    out["policy"] = None if policy is None else policy_to_dict(policy)
    if policy is None:
        out["message"] = (
            "no policy file: the component is denied everything (grant permissions to allow "
            "storage, network or environment variables)"
        )
    return out


def unloaded(component_id: str, removed: Sequence[Path], secrets_kept: list[str]) -> dict[str, Any]:
    """The result of unloading a component (its secrets are kept, and the result says how to
    delete them)."""
    out: dict[str, Any] = {
        "status": "component unloaded successfully",
        "id": component_id,
        "removed": [p.name for p in removed],
        "secrets_kept": secrets_kept,
    }
    if secrets_kept:
        out["message"] = (
            f"{len(secrets_kept)} secret(s) kept; delete them with `wassette secret delete "
            f"{component_id} {' '.join(secrets_kept)}`"
        )
    return out
