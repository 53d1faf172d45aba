"""Rendering for ``wassette secret ...``: what ``list``, ``history`` and ``audit`` print.

No click here: ``secret list`` runs from the click-free fast path (wassette.cli.fastpath) as
well as from its click command, through the same :func:`list_secrets`. Values appear only
where the operator asked for them (``--show-values``); keys, fingerprints and events otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette.cli.render import to_json, to_table, to_yaml
from wassette.cli.textio import echo, emit
from wassette.ids import validate_component_id

if TYPE_CHECKING:
    from wassette.secretstore.history import VersionInfo
    from wassette.secretstore.operations import SecretOperations


def plaintext_warning(component_id: str, keys: Sequence[str]) -> None:
    """Warn (stderr) about values stored in the clear inside an encrypted secrets file."""
    echo(
        f"warning: {', '.join(keys)} of {component_id} stored in plaintext in an encrypted "
        f"secrets file; seal with: wassette secret encrypt {component_id}",
        err=True,
    )


def flag_plaintext(ops: SecretOperations, component_id: str, result: dict[str, Any]) -> None:
    """Name values stored in the clear inside an encrypted file (a hand edit, most likely)."""
    clear = ops.plaintext_keys(component_id)
    if clear:
        result["plaintext_in_encrypted_file"] = clear
        plaintext_warning(component_id, clear)


def list_secrets(
    component_id: str, show_values: bool, yes: bool, fmt: str, plugin_dir: Path | None
) -> None:
    """``secret list``: the keys (or, confirmed, the values) of a component's secrets."""
    from wassette.cli.secret_prompts import confirm_reveal
    from wassette.wiring import build_system

    validate_component_id(component_id)
    ops = build_system(plugin_dir=plugin_dir).secrets
    secrets = ops.read(component_id)  # errors (corrupt file) surface before any prompt
    if show_values and not yes:
        confirm_reveal(component_id)
    keys = sorted(secrets)
    fmt = fmt.lower()
    result: dict[str, object]
    if show_values:
        # Logged before anything is shown: no audit record, no reveal.
        shown = ops.disclose("reveal", component_id, secrets, via="list")
        values = {key: shown[key] for key in keys}
        result = {"status": "success", "component_id": component_id, "secrets": values}
        table = to_table(["KEY", "VALUE"], [[k, values[k]] for k in keys])
    else:
        result = {"status": "success", "component_id": component_id, "secret_keys": keys}
        table = to_table(["KEY"], [[k] for k in keys])
    flag_plaintext(ops, component_id, result)
    if fmt == "yaml":
        emit(to_yaml(result))
    elif fmt == "table":
        emit(table)
    else:
        emit(to_json(result))


def history_output(
    component_id: str, versions: Mapping[str, Sequence[VersionInfo]], fmt: str
) -> str:
    """``secret history``: versions per key (time, actor, operation, keyed fingerprint)."""
    history = {
        name: [
            {
                "version": v.version,
                "time": v.time,
                "actor": v.actor,
                "operation": v.operation,
                "fingerprint": v.fingerprint,
                "current": v.current,
                **({"restored_version": v.restored_version} if v.restored_version else {}),
            }
            for v in rows
        ]
        for name, rows in versions.items()
    }
    result = {"status": "success", "component_id": component_id, "history": history}
    fmt = fmt.lower()
    if fmt == "yaml":
        return to_yaml(result)
    if fmt == "table":
        table_rows = [
            [
                name,
                str(v["version"]),
                str(v["time"]),
                str(v["actor"]),
                str(v["operation"]),
                str(v["fingerprint"] or "(deleted)"),
                "*" if v["current"] else "",
            ]
            for name, entries in history.items()
            for v in entries
        ]
        return to_table(
            ["KEY", "VERSION", "TIME", "ACTOR", "OPERATION", "FINGERPRINT", "CURRENT"], table_rows
        )
    return to_json(result)


def audit_output(events: Sequence[Mapping[str, Any]], extra: Mapping[str, Any], fmt: str) -> str:
    """``secret audit``: the events (keys and events, never values)."""
    fmt = fmt.lower()
    if fmt == "table":
        rows = [
            [
                str(e.get("seq", "")),
                str(e.get("time", "")),
                str(e.get("actor", "")),
                str(e.get("event", "")),
                str(e.get("component", "")),
                ",".join(e["keys"]) if isinstance(e.get("keys"), list | dict) else "",
            ]
            for e in events
        ]
        return to_table(["SEQ", "TIME", "ACTOR", "EVENT", "COMPONENT", "KEYS"], rows)
    result_doc = {"status": "success", "events": events, **extra}
    return to_yaml(result_doc) if fmt == "yaml" else to_json(result_doc)
