"""``wassette permission grant|revoke|reset``: edit a component's policy.

Edits go through :class:`~wassette.policy.store.PolicyStore`: validated before saving, atomic,
comments a person wrote kept, and seen by a running server on its next call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wassette.cli.common import plugin_dir_option
from wassette.cli.output import emit, render
from wassette.cli.policy import policy_store as _store
from wassette.errors import UsageError
from wassette.policy.model import Policy
from wassette.results import ENVIRONMENT_KIND, permission_changed, permissions_reset


@click.group("permission")
def permission() -> None:
    """Grant, revoke or reset a component's permissions."""


@permission.group("grant")
def grant() -> None:
    """Grant a permission (storage, network, environment-variable, memory, timeout)."""


@permission.group("revoke")
def revoke() -> None:
    """Revoke a permission (storage, network, environment-variable, memory, timeout)."""


def _done(
    verb: str,
    component_id: str,
    kind: str,
    details: dict[str, Any],
    new: Policy | None,
) -> None:
    emit(render(permission_changed(verb, component_id, kind, details, new), "json"))


def _access(value: str) -> list[str]:
    modes = [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("read", "write")]
    if not modes or bad:
        raise UsageError(
            f"invalid --access {value!r}",
            why="access is a comma-separated list of read and write",
            fix="use --access read, --access write or --access read,write",
        )
    return modes


@grant.command("storage")
@click.argument("component_id")
@click.argument("uri")
@click.option("--access", required=True, help="read, write or read,write")
@plugin_dir_option
def grant_storage(component_id: str, uri: str, access: str, plugin_dir: Path | None) -> None:
    """Allow a host directory (fs:///absolute/path)."""
    modes = _access(access)
    new = _store(plugin_dir, component_id).grant_storage(component_id, uri, modes)
    _done("granted", component_id, "storage", {"uri": uri, "access": modes}, new)


@grant.command("network")
@click.argument("component_id")
@click.argument("host")
@plugin_dir_option
def grant_network(component_id: str, host: str, plugin_dir: Path | None) -> None:
    """Allow outgoing HTTP to a host (exact, *.domain, optional scheme and :port)."""
    new = _store(plugin_dir, component_id).grant_network(component_id, host)
    _done("granted", component_id, "network", {"host": host}, new)


@grant.command("environment-variable")
@click.argument("component_id")
@click.argument("key")
@click.option(
    "--required",
    is_flag=True,
    help="Refuse calls (before the guest runs) while no source provides a value.",
)
@click.option(
    "--no-redact",
    is_flag=True,
    help="Let the value appear in the component's results (not for secrets).",
)
@plugin_dir_option
def grant_env(
    component_id: str, key: str, required: bool, no_redact: bool, plugin_dir: Path | None
) -> None:
    """Allow an environment variable (its value comes from a secret or the server)."""
    new = _store(plugin_dir, component_id).grant_environment_variable(
        component_id,
        key,
        required=True if required else None,
        redact=False if no_redact else None,
    )
    details: dict[str, Any] = {"key": key}
    if required:
        details["required"] = True
    if no_redact:
        details["redact"] = False
    _done("granted", component_id, ENVIRONMENT_KIND, details, new)


@grant.command("memory")
@click.argument("component_id")
@click.argument("limit")
@plugin_dir_option
def grant_memory(component_id: str, limit: str, plugin_dir: Path | None) -> None:
    """Set the memory limit (512Mi, 1Gi, or bytes)."""
    new = _store(plugin_dir, component_id).grant_memory(component_id, limit)
    _done("granted", component_id, "memory", {"limit": limit}, new)


@grant.command("timeout")
@click.argument("component_id")
@click.argument("duration")
@plugin_dir_option
def grant_timeout(component_id: str, duration: str, plugin_dir: Path | None) -> None:
    """Set the per-call time limit (30s, 500ms, 2m); the server default is 60s."""
    new = _store(plugin_dir, component_id).grant_timeout(component_id, duration)
    _done("granted", component_id, "timeout", {"timeout": duration}, new)


@revoke.command("storage")
@click.argument("component_id")
@click.argument("uri")
@plugin_dir_option
def revoke_storage(component_id: str, uri: str, plugin_dir: Path | None) -> None:
    """Remove every storage entry for a URI."""
    new = _store(plugin_dir, component_id).revoke_storage(component_id, uri)
    _done("revoked", component_id, "storage", {"uri": uri}, new)


@revoke.command("network")
@click.argument("component_id")
@click.argument("host")
@plugin_dir_option
def revoke_network(component_id: str, host: str, plugin_dir: Path | None) -> None:
    """Remove a network entry."""
    new = _store(plugin_dir, component_id).revoke_network(component_id, host)
    _done("revoked", component_id, "network", {"host": host}, new)


@revoke.command("environment-variable")
@click.argument("component_id")
@click.argument("key")
@plugin_dir_option
def revoke_env(component_id: str, key: str, plugin_dir: Path | None) -> None:
    """Remove an environment variable from the allow list."""
    new = _store(plugin_dir, component_id).revoke_environment_variable(component_id, key)
    _done("revoked", component_id, ENVIRONMENT_KIND, {"key": key}, new)


@revoke.command("memory")
@click.argument("component_id")
@plugin_dir_option
def revoke_memory(component_id: str, plugin_dir: Path | None) -> None:
    """Remove the memory limit."""
    new = _store(plugin_dir, component_id).revoke_memory(component_id)
    _done("revoked", component_id, "memory", {}, new)


@revoke.command("timeout")
@click.argument("component_id")
@plugin_dir_option
def revoke_timeout(component_id: str, plugin_dir: Path | None) -> None:
    """Remove the per-call time limit (back to the server default)."""
    new = _store(plugin_dir, component_id).revoke_timeout(component_id)
    _done("revoked", component_id, "timeout", {}, new)


@permission.command("reset")
@click.argument("component_id")
@plugin_dir_option
def reset(component_id: str, plugin_dir: Path | None) -> None:
    """Delete the component's policy file: it is denied everything again."""
    _store(plugin_dir, component_id).reset(component_id)
    emit(render(permissions_reset(component_id), "json"))
