"""``wassette secret ...``: manage a component's secrets.

``list | set | delete`` are the specification's commands. Beyond it: ``encrypt | decrypt``
(values encrypted at rest), ``key status | rotate``, ``history | rollback | purge-history``
(and ``delete --purge-history``), ``audit``,
``import | export``, and ``set ID KEY`` without ``=`` to read the value safely (a hidden prompt
on a terminal, or one value from a pipe) so it never sits in shell history or ``ps``.

Every change goes through :mod:`wassette.secretstore.operations` (history and audit in the
right order); this module declares the commands, :mod:`~wassette.cli.secret_prompts` asks the
operator and :mod:`~wassette.cli.secret_views` renders. Results go to stdout (JSON by default);
prompts, warnings and errors go to stderr, so
``wassette secret list ID --show-values --yes -o yaml > backup.yaml`` captures only data.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wassette.cli import secret_prompts as prompts
from wassette.cli import secret_views as views
from wassette.cli.common import plugin_dir_option, require_component, system_for
from wassette.cli.output import emit, output_option, to_json, to_table, to_yaml
from wassette.errors import (
    AuditLogError,
    ComponentNotFoundError,
    UsageError,
)
from wassette.fsutil import os_reason
from wassette.ids import validate_component_id, validate_secret_key

if TYPE_CHECKING:
    from wassette.secretstore.operations import SecretOperations
    from wassette.wiring import System


def _system(plugin_dir: Path | None) -> System:
    return system_for(plugin_dir)


def _ops(plugin_dir: Path | None) -> SecretOperations:
    return system_for(plugin_dir).secrets


def _require_loaded(system: System, component_id: str) -> None:
    try:
        require_component(system.settings.plugin_dir, component_id)
    except ComponentNotFoundError as exc:
        raise ComponentNotFoundError(
            exc.what,
            why=exc.why,
            fix=f"{exc.fix}, or pass --force to store secrets for a component you will load later",
        ) from None


def _references(values: dict[str, str], component_id: str, system: System) -> dict[str, object]:
    """Which stored values are references and whether they are in scope (warned on stderr)."""
    from wassette.secretstore.references import reference_report

    report = reference_report(values, component_id, system.settings.references, system.backend)
    for entry in report:
        if not entry["in_scope"]:
            click.echo(f"warning: {entry['note']}", err=True)
    return {"references": report} if report else {}


@click.group()
def secret() -> None:
    """Manage per-component secrets (injected as environment variables the policy allows)."""


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
    # The same function runs on the click-free fast path (wassette.cli.fastpath).
    views.list_secrets(component_id, show_values, yes, fmt, plugin_dir)


@secret.command("set")
@click.argument("component_id")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE|KEY...")
@click.option(
    "--force",
    is_flag=True,
    help="Set secrets even if the component is not loaded (pre-provisioning).",
)
@plugin_dir_option
def set_cmd(
    component_id: str, assignments: tuple[str, ...], force: bool, plugin_dir: Path | None
) -> None:
    """Add or update secrets (KEY=VALUE; the value may contain '=').

    A KEY without '=' reads its value safely: a hidden prompt on a terminal, or from standard
    input when piped (one value; one trailing newline is removed), e.g.
    `printf %s "$TOKEN" | wassette secret set my-comp API_KEY`. The value then never appears
    in shell history or in the process list.
    """
    validate_component_id(component_id)
    bare: list[str] = []
    items = prompts.parse_assignments(assignments, bare)
    system = _system(plugin_dir)
    if not force:
        _require_loaded(system, component_id)
    if bare:
        items.update(prompts.read_values(bare))
    system.secrets.set(component_id, items)
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "message": f"Set {len(items)} secret(s) for component {component_id}",
                **_references(items, component_id, system),
            }
        )
    )


@secret.command("status")
@click.argument("component_id")
@output_option
@plugin_dir_option
def status_cmd(component_id: str, fmt: str, plugin_dir: Path | None) -> None:
    """Show which source supplies each environment variable the policy allows.

    Sources, by precedence: policy (a value in the policy or the operator's config),
    secret, inherited (this process's environment: a server's may differ), blocked (a server
    credential such as WASSETTE_*/VAULT_*/BAO_* that only that environment holds), or missing.
    Also lists secrets that are set but not allowed (never injected) and required keys with
    no value. Never shows values.
    """
    validate_component_id(component_id)
    system = _system(plugin_dir)
    report = system.manager.status(component_id)
    views.flag_plaintext(system.secrets, component_id, report)
    if fmt.lower() == "table":
        rows = [
            [
                e["key"],
                e["source"] + (f": {e['reason']}" if "reason" in e else ""),
                "yes" if e["required"] else "",
            ]
            for e in report["environment"]
        ]
        rows += [[k, "not allowed (never injected)", ""] for k in report["secrets_not_allowed"]]
        emit(to_table(["KEY", "SOURCE", "REQUIRED"], rows))
        return
    emit(to_yaml(report) if fmt.lower() == "yaml" else to_json(report))


@secret.command("delete")
@click.argument("component_id")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option(
    "--purge-history",
    is_flag=True,
    help="Also destroy every earlier value of these keys (a leaked secret).",
)
@plugin_dir_option
def delete_cmd(
    component_id: str, keys: tuple[str, ...], purge_history: bool, plugin_dir: Path | None
) -> None:
    """Delete secrets by key; keys that do not exist are ignored."""
    validate_component_id(component_id)
    removed, purged = _ops(plugin_dir).delete(component_id, keys, purge_history=purge_history)
    result: dict[str, object] = {
        "status": "success",
        "component_id": component_id,
        "message": f"Deleted {len(removed)} secret(s) from component {component_id}",
        "deleted_keys": removed,
    }
    if purge_history:
        result["purged_history"] = purged
    emit(to_json(result))


# ------------------------------------------------------------------------- encryption


def _reseal_command(
    component_id: str | None, all_: bool, plugin_dir: Path | None, mode: str
) -> None:
    ops = _ops(plugin_dir)
    ids = ops.target_ids(component_id, all_, f"secret {mode}")
    done = ops.reseal(ids, mode)
    verb = "Encrypted" if mode == "encrypt" else "Decrypted"
    emit(
        to_json(
            {
                "status": "success",
                "components": done,
                "message": f"{verb} {sum(done.values())} value(s) in {len(ids)} component(s)",
            }
        )
    )


@secret.command("encrypt")
@click.argument("component_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Every component's secrets.")
@plugin_dir_option
def encrypt_cmd(component_id: str | None, all_: bool, plugin_dir: Path | None) -> None:
    """Encrypt values at rest (AES-256-GCM per value; keys and comments stay readable)."""
    _reseal_command(component_id, all_, plugin_dir, "encrypt")


@secret.command("decrypt")
@click.argument("component_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Every component's secrets.")
@plugin_dir_option
def decrypt_cmd(component_id: str | None, all_: bool, plugin_dir: Path | None) -> None:
    """Turn encrypted values back into plaintext YAML."""
    _reseal_command(component_id, all_, plugin_dir, "decrypt")


@secret.group("key")
def key_group() -> None:
    """The encryption key: where it comes from, and rotating it."""


@key_group.command("status")
@plugin_dir_option
def key_status_cmd(plugin_dir: Path | None) -> None:
    """Say which key custody is active (never the key) and what is encrypted."""
    emit(to_json({"status": "success", **_ops(plugin_dir).key_status()}))


@key_group.command("rotate")
@plugin_dir_option
def key_rotate_cmd(plugin_dir: Path | None) -> None:
    """Re-encrypt everything with a new key, crash-safely (re-run to finish an interrupted one)."""
    done = _ops(plugin_dir).rotate_key()
    emit(
        to_json(
            {
                "status": "success",
                "custody": done.custody,
                "message": f"Rotated the key: re-encrypted {done.values} value(s) in "
                f"{done.components} component(s)",
            }
        )
    )


# ------------------------------------------------------------------------- history


@secret.command("history")
@click.argument("component_id")
@click.argument("key", required=False)
@output_option
@plugin_dir_option
def history_cmd(component_id: str, key: str | None, fmt: str, plugin_dir: Path | None) -> None:
    """Show versions of a component's secrets: time, actor, operation, keyed fingerprint.

    Never a value: the fingerprint is an HMAC keyed by the encryption key, so equal values show
    equal fingerprints without revealing anything.
    """
    validate_component_id(component_id)
    if key is not None:
        validate_secret_key(key)
    versions = _ops(plugin_dir).history(component_id, key)
    emit(views.history_output(component_id, versions, fmt))


@secret.command("rollback")
@click.argument("component_id")
@click.argument("key")
@click.option("--to", "version", type=int, default=None, help="Version to restore (see history).")
@plugin_dir_option
def rollback_cmd(component_id: str, key: str, version: int | None, plugin_dir: Path | None) -> None:
    """Restore a secret's earlier value (default: the one before the current); never prints it."""
    validate_component_id(component_id)
    validate_secret_key(key)
    restored = _ops(plugin_dir).rollback(component_id, key, version)
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "key": key,
                "restored_version": restored,
                "message": f"Rolled back {key} of component {component_id} to version {restored}",
            }
        )
    )


@secret.command("purge-history")
@click.argument("component_id")
@click.argument("keys", nargs=-1, metavar="[KEY...]")
@click.option("-y", "--yes", is_flag=True, help="Skip the confirmation.")
@plugin_dir_option
def purge_history_cmd(
    component_id: str, keys: tuple[str, ...], yes: bool, plugin_dir: Path | None
) -> None:
    """Destroy every earlier value of KEYs (default: of all keys), e.g. after a leak.

    Current values stay; only rollback targets go. Asks first (--yes to skip).
    """
    validate_component_id(component_id)
    for key in keys:
        validate_secret_key(key)
    ops = _ops(plugin_dir)
    if not yes:
        prompts.confirm_purge(component_id, keys)
    purged = ops.purge_history(component_id, list(keys) or None)
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "purged_keys": purged,
                "message": f"Purged the history of {len(purged)} key(s) of component "
                f"{component_id}",
            }
        )
    )


# ------------------------------------------------------------------------- audit


@secret.command("audit")
@click.argument("component_id", required=False)
@click.option("--verify", is_flag=True, help="Check the hash chain; name the first bad line.")
@output_option
def audit_cmd(component_id: str | None, verify: bool, fmt: str) -> None:
    """Show the audit log (keys and events, never values), or verify it."""
    if component_id is not None:
        validate_component_id(component_id)
    system = _system(None)
    log = system.audit
    plaintext = system.secrets.plaintext_report()
    if component_id is not None:
        plaintext = {c: k for c, k in plaintext.items() if c == component_id}
    for cid, keys in plaintext.items():
        views.plaintext_warning(cid, keys)
    extra = {"plaintext_in_encrypted_files": plaintext} if plaintext else {}
    if verify:
        result = log.verify()
        if not result.ok:
            where = f" at line {result.line}" if result.line else ""
            raise AuditLogError(
                f"audit log {log.path} fails verification{where}",
                why=result.problem,
                fix="the log was tampered with or damaged; keep a copy for investigation",
            )
        emit(
            to_json(
                {
                    "status": "success",
                    "verified": True,
                    "lines": result.lines,
                    "path": str(log.path),
                    **extra,
                }
            )
        )
        return
    emit(views.audit_output(log.events(component_id), extra, fmt))


# ------------------------------------------------------------------------- import / export

TRANSFER_FORMATS = ("yaml", "json", "env")


@secret.command("import")
@click.argument("component_id")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(TRANSFER_FORMATS, case_sensitive=False),
    default=None,
    help="Input format (default: from the file name, else yaml).",
)
@click.option("--replace", is_flag=True, help="Delete keys that the file does not have.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--force", is_flag=True, help="Import even if the component is not loaded.")
@plugin_dir_option
def import_cmd(  # noqa: PLR0917 - click passes options positionally by name
    component_id: str,
    source: str,
    fmt: str | None,
    replace: bool,
    dry_run: bool,
    force: bool,
    plugin_dir: Path | None,
) -> None:
    """Import secrets from a yaml, json or env file (or - for stdin), all or nothing."""
    from wassette.secretstore import transfer

    validate_component_id(component_id)
    if source == "-":
        raw = sys.stdin.buffer.read() if sys.stdin is not None else b""
        name = "<stdin>"
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {source}", why=os_reason(exc)) from None
        name = source
    fmt = (fmt or transfer.guess_format(name if source != "-" else "")).lower()
    items = transfer.parse(raw, fmt, name)  # everything is checked before anything changes
    system = _system(plugin_dir)
    if not force and not dry_run:
        _require_loaded(system, component_id)
    plan = system.secrets.plan_import(component_id, items, replace=replace)
    if not dry_run:
        system.secrets.apply_import(component_id, items, plan, replace=replace)
    added, updated, unchanged, removed = plan.added, plan.updated, plan.unchanged, plan.removed
    emit(
        to_json(
            {
                "status": "success",
                "component_id": component_id,
                "dry_run": dry_run,
                "added": added,
                "updated": updated,
                "unchanged": unchanged,
                "removed": removed,
                "message": f"{'Would import' if dry_run else 'Imported'} {len(items)} secret(s) "
                f"into component {component_id} ({len(added)} added, {len(updated)} updated, "
                f"{len(removed)} removed)",
                **_references(items, component_id, system),
            }
        )
    )


@secret.command("export")
@click.argument("component_id")
@click.option(
    "-o",
    "--output",
    "--output-format",
    "fmt",
    type=click.Choice(TRANSFER_FORMATS, case_sensitive=False),
    default="yaml",
    show_default=True,
    help="Output format (reads back with `secret import`).",
)
@click.option("-y", "--yes", is_flag=True, help="Skip the confirmation.")
@plugin_dir_option
def export_cmd(component_id: str, fmt: str, yes: bool, plugin_dir: Path | None) -> None:
    """Print a component's secrets WITH values (asks first, like --show-values)."""
    from wassette.secretstore import transfer

    validate_component_id(component_id)
    ops = _ops(plugin_dir)
    secrets = dict(ops.read(component_id))
    if not yes:
        prompts.confirm_reveal(component_id, "Export secret values of")
    shown = ops.disclose("export", component_id, secrets, format=fmt.lower())
    click.echo(transfer.render(dict(shown), fmt.lower()), nl=False)
