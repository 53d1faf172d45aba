"""``wassette secret list | set | delete``: manage a component's secrets (the specification).

Results go to stdout (JSON by default); prompts, warnings and errors go to stderr, so
``wassette secret list ID --show-values --yes -o yaml > backup.yaml`` captures only data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from wassette.cli.common import plugin_dir_option, require_component, settings_for
from wassette.cli.output import emit, output_option, to_json, to_table, to_yaml
from wassette.errors import (
    AbortedError,
    ComponentNotFoundError,
    InvalidSecretKeyError,
    UsageError,
)
from wassette.ids import ENV_KEY_PATTERN, validate_component_id, validate_secret_key
from wassette.secretstore.backend import SecretBackend
from wassette.secretstore.factory import open_backend


def _store(plugin_dir: Path | None) -> tuple[SecretBackend, Path]:
    settings = settings_for(plugin_dir)
    return open_backend(settings, os.environ), settings.plugin_dir


@click.group()
def secret() -> None:
    """Manage per-component secrets (injected as environment variables the policy allows)."""


def _confirm_reveal(component_id: str) -> None:
    """Ask on stderr before printing values; refuse when nobody can answer."""
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise AbortedError(
            "refusing to show secret values without confirmation",
            why="standard input is not a terminal, so the prompt cannot be answered",
            fix="add --yes to confirm non-interactively",
        )
    click.echo(f"Show secret values for '{component_id}'? [y/N] ", nl=False, err=True)
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise AbortedError("aborted: secret values were not shown")


@secret.command("list")
@click.argument("component_id")
@click.option("--show-values", is_flag=True, help="Include values (asks for confirmation).")
@click.option("-y", "--yes", is_flag=True, help="Skip the confirmation for --show-values.")
@output_option
@plugin_dir_option
def list_cmd(
    component_id: str, show_values: bool, yes: bool, fmt: str, plugin_dir: Path | None
) -> None:
    """List a component's secret keys (values only with --show-values)."""
    validate_component_id(component_id)
    store, _ = _store(plugin_dir)
    secrets = store.get_all(component_id)  # errors (corrupt file) surface before any prompt
    if show_values and not yes:
        _confirm_reveal(component_id)
    keys = sorted(secrets)
    fmt = fmt.lower()
    if show_values:
        values = {key: secrets[key] for key in keys}
        result = {"status": "success", "component_id": component_id, "secrets": values}
        table = to_table(["KEY", "VALUE"], [[k, values[k]] for k in keys])
    else:
        result = {"status": "success", "component_id": component_id, "secret_keys": keys}
        table = to_table(["KEY"], [[k] for k in keys])
    if fmt == "yaml":
        emit(to_yaml(result))
    elif fmt == "table":
        emit(table)
    else:
        emit(to_json(result))


def _parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` arguments -> dict (last one wins). Never echoes an argument: a mistyped
    argument may be a bare secret value."""
    items: dict[str, str] = {}
    for position, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(
                f"secret argument {position} is not KEY=VALUE",
                why="it contains no '=' (it is not shown, as it may be a secret value)",
                fix="write each secret as KEY=VALUE, e.g. API_KEY=sk_live_abc123",
            )
        if not key:
            raise UsageError(
                f"secret argument {position} has an empty key",
                why="the text before the first '=' is empty",
                fix="write each secret as KEY=VALUE, e.g. API_KEY=sk_live_abc123",
            )
        try:
            validate_secret_key(key)
        except InvalidSecretKeyError:
            raise InvalidSecretKeyError(
                f"secret argument {position} has an invalid key",
                why="the text before the first '=' is not a valid environment variable name",
                fix=f"keys must match {ENV_KEY_PATTERN}, e.g. API_KEY",
            ) from None
        items[key] = value
    return items


@secret.command("set")
@click.argument("component_id")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option(
    "--force",
    is_flag=True,
    help="Set secrets even if the component is not loaded (pre-provisioning).",
)
@plugin_dir_option
def set_cmd(
    component_id: str, assignments: tuple[str, ...], force: bool, plugin_dir: Path | None
) -> None:
    """Add or update secrets (KEY=VALUE; the value may contain '=')."""
    validate_component_id(component_id)
    items = _parse_assignments(assignments)
    store, component_dir = _store(plugin_dir)
    if not force:
        try:
            require_component(component_dir, component_id)
        except ComponentNotFoundError as exc:
            raise ComponentNotFoundError(
                exc.what,
                why=exc.why,
                fix=f"{exc.fix}, or pass --force to store secrets for a component you will "
                "load later",
            ) from None
    store.set_many(component_id, items)
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "message": f"Set {len(items)} secret(s) for component {component_id}",
            }
        )
    )


@secret.command("delete")
@click.argument("component_id")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@plugin_dir_option
def delete_cmd(component_id: str, keys: tuple[str, ...], plugin_dir: Path | None) -> None:
    """Delete secrets by key; keys that do not exist are ignored."""
    validate_component_id(component_id)
    store, _ = _store(plugin_dir)
    removed = store.delete_many(component_id, keys)
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "message": f"Deleted {len(removed)} secret(s) from component {component_id}",
                "deleted_keys": removed,
            }
        )
    )
