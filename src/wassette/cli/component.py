"""``wassette component load | unload | list | accept-policy``."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from wassette.approval import ApprovalRequest, Approver, Decision
from wassette.cli.common import manager_for, plugin_dir_option, require_component, system_for
from wassette.cli.output import emit, output_option, render, to_table
from wassette.cli.textio import ask_yes_no

#: The flag that approves each kind of request without asking.
_FLAGS = {"replace-component": "--replace", "accept-policy": "--accept-policy"}


def terminal_approver(flags: dict[str, bool], stdin: IO[str] | None = None) -> Approver:
    """The CLI's approver: a flag the operator gave approves its kind of request; otherwise
    the person at the terminal is asked ``[y/N]`` on stderr; without a terminal, nobody can
    answer and the request is not approved (the reason names the flag)."""

    def ask(request: ApprovalRequest) -> Decision:
        flag = _FLAGS.get(request.action)
        if flag is not None and flags.get(flag):
            return Decision(True, "operator")
        answer = ask_yes_no(f"{request.text()}\nApprove?", stdin)
        if answer is None:
            hint = f"; pass {flag} to approve it" if flag else ""
            return Decision(False, "unavailable", f"standard input is not a terminal{hint}")
        if answer:
            return Decision(True, "operator")
        return Decision(False, "declined", "you answered no")

    return ask


def _notes(out: dict[str, Any]) -> None:
    """Plain words on stderr for what a person must not miss in the JSON."""
    replaced = out.get("replaced")
    if replaced:
        click.echo(f"warning: {replaced['message']}", err=True)
    upgrade = out.get("upgrade")
    if upgrade:
        click.echo(f"note: upgraded: {upgrade['message']}", err=True)
    proposal = out.get("policy_proposal")
    if proposal and proposal["status"] == "pending":
        click.echo(
            "note: the policy shipped with this component was NOT installed; it asks to:",
            err=True,
        )
        for line in proposal["permissions"]:
            click.echo(f"  - {line}", err=True)
        click.echo(f"  accept exactly these with: {proposal['accept_with']}", err=True)
    elif proposal and proposal["status"] == "accepted":
        click.echo("note: granted what the policy shipped with this component asked:", err=True)
        for line in proposal["permissions"]:
            click.echo(f"  - {line}", err=True)
    if proposal:
        for line in proposal.get("dropped", []):
            click.echo(f"note: {line}", err=True)


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into an exception while loading, so the staged download is deleted by
    the same cleanup that runs on Ctrl-C (the default action would kill us on the spot)."""

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group("component")
def component() -> None:
    """Load, unload and list components (file://, https:// and oci:// sources)."""


@component.command("load")
@click.argument("uri")
@click.option("--digest", default=None, help="Expected sha256:... of the wasm (https, oci).")
@click.option(
    "--insecure-registry", is_flag=True, help="Allow plain http to a non-loopback OCI registry."
)
@click.option(
    "--replace",
    is_flag=True,
    help="Allow replacing a component installed from another source (its policy and secrets "
    "then apply to the new binary).",
)
@click.option(
    "--accept-policy",
    is_flag=True,
    help="Grant what a policy shipped with the component asks for (shown in the output).",
)
@click.option(
    "--timeout",
    default=None,
    help="Seconds the whole fetch may take (default: fetch_timeout, else 120).",
)
@plugin_dir_option
def load_cmd(  # noqa: PLR0917 - click passes options positionally by name
    uri: str,
    digest: str | None,
    insecure_registry: bool,
    replace: bool,
    accept_policy: bool,
    timeout: str | None,
    plugin_dir: Path | None,
) -> None:
    """Fetch, validate and install a component.

    Loading an id again from the same source reloads (or upgrades) it. Loading it from a
    different source is refused unless you confirm at the prompt or pass --replace. A policy
    shipped with the component is only a proposal: it is granted if you confirm at the
    prompt or pass --accept-policy; otherwise the component is installed without it and
    `wassette component accept-policy <id>` grants exactly what was shown.
    """
    from wassette.components.sources.environment import options_from_environment
    from wassette.components.sources.progress import stderr_progress
    from wassette.config import parse_fetch_timeout

    system = system_for(plugin_dir)
    manager = system.manager
    options = options_from_environment(
        os.environ,
        Path.home(),
        digest=digest,
        insecure=insecure_registry,
        progress=stderr_progress(sys.stderr, uri),
        total_timeout=(
            system.settings.fetch_timeout
            if timeout is None
            else parse_fetch_timeout(timeout, "--timeout")
        ),
    )
    approver = terminal_approver({"--replace": replace, "--accept-policy": accept_policy})
    with _terminate_cleanly():
        outcome, tools = manager.load(uri, options, approver=approver)
    if outcome.id_note:
        click.echo(f"note: {outcome.id_note}", err=True)
    out = outcome.to_json([t.name for t in tools])
    _notes(out)
    emit(render(out, "json"))


@component.command("accept-policy")
@click.argument("component_id")
@plugin_dir_option
def accept_policy_cmd(component_id: str, plugin_dir: Path | None) -> None:
    """Grant exactly the permissions a component's shipped policy proposed at its last load.

    `wassette inspect <id>` shows a pending proposal; single permissions can be granted
    instead with `wassette permission grant`.
    """
    manager = manager_for(plugin_dir)
    emit(render(manager.accept_policy(component_id), "json"))


@component.command("unload")
@click.argument("component_id")
@plugin_dir_option
def unload_cmd(component_id: str, plugin_dir: Path | None) -> None:
    """Remove a component (its wasm, compiled artifact, metadata and policy).

    Its secrets are kept: delete them with `wassette secret delete`.
    """
    manager = manager_for(plugin_dir)
    require_component(manager.component_dir, component_id)
    from wassette.results import unloaded

    removed = manager.unload(component_id)
    emit(render(unloaded(component_id, removed, manager.secrets.list_keys(component_id)), "json"))


@component.command("list")
@output_option
@plugin_dir_option
def list_cmd(fmt: str, plugin_dir: Path | None) -> None:
    """List the loaded components: tool counts, policy, and where each came from."""
    manager = manager_for(plugin_dir)
    rows: list[dict[str, object]] = []
    for cid in manager.component_ids():
        try:
            tools: int | None = len(manager.tools_of(cid))
        except Exception:  # noqa: BLE001 - one broken component must not hide the others
            tools = None
        source = manager.source(cid)
        rows.append(
            {
                "id": cid,
                "tools": tools,
                "policy": manager.policies.exists(cid),
                "source": source["uri"],
                "digest": source["digest"],
            }
        )
    if fmt.lower() == "table":
        emit(
            to_table(
                ["ID", "TOOLS", "POLICY", "SOURCE", "DIGEST"],
                [
                    [
                        str(r["id"]),
                        "?" if r["tools"] is None else str(r["tools"]),
                        "yes" if r["policy"] else "no",
                        str(r["source"] or "unknown"),
                        str(r["digest"])[:19] if r["digest"] else "-",
                    ]
                    for r in rows
                ],
            )
        )
        return
    emit(render({"components": rows, "total": len(rows)}, fmt))
