"""Applying a manifest to a component manager, and planning it without fetching anything.

:func:`provision` fetches what is missing or changed (verifying pins, with the manifest's retry
policy), installs the manifest's policies, and reports per component. It is idempotent: a
component already installed with the pinned digest is not fetched again, and a policy that
already matches is not rewritten. :func:`plan` says what it would do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wassette.errors import ComponentError, SourceUnreachableError, WassetteError
from wassette.manifest.model import Manifest, ManifestComponent
from wassette.manifest.state import file_sha256, read_state, write_state
from wassette.policy.model import Policy

log = logging.getLogger(__name__)

Action = Literal["install", "update", "refresh", "unchanged", "remove"]


@dataclass(frozen=True)
class PlannedChange:
    """What applying the manifest would do to one component (nothing fetched to know it)."""

    component_id: str
    label: str
    action: Action
    policy_change: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "component_id": self.component_id,
            "name": self.label,
            "action": self.action,
            "policy_change": self.policy_change,
            "reason": self.reason,
        }


def plan(
    manifest: Manifest, manager: Any, *, previous: Mapping[str, Any] | None = None
) -> list[PlannedChange]:
    """What :func:`provision` would change, without fetching anything.

    ``previous`` is the provisioning state of earlier manifests (default: the state file):
    components it lists that this manifest no longer declares are planned for removal.
    """
    state = read_state(manager.component_dir) if previous is None else previous
    installed = set(manager.component_ids())
    out: list[PlannedChange] = []
    for comp in manifest.components:
        cid = comp.component_id
        policy_change = comp.policy is not None and _policy_differs(manager, cid, comp.policy)
        if cid not in installed:
            out.append(
                PlannedChange(cid, comp.label, "install", comp.policy is not None, "not installed")
            )
            continue
        current = file_sha256(manager.wasm_path(cid))
        if comp.digest is not None:
            if current == comp.digest:
                out.append(
                    PlannedChange(
                        cid,
                        comp.label,
                        "unchanged",
                        policy_change,
                        "installed digest matches the pin",
                    )
                )
            else:
                out.append(
                    PlannedChange(
                        cid,
                        comp.label,
                        "update",
                        policy_change,
                        "installed digest differs from the pin",
                    )
                )
            continue
        recorded = state.get(cid, {})
        if (
            recorded.get("uri") == comp.uri
            and recorded.get("digest") == current
            and comp.uri.lower().startswith("file://")
        ):
            out.append(
                PlannedChange(
                    cid, comp.label, "unchanged", policy_change, "file source already installed"
                )
            )
        else:
            out.append(
                PlannedChange(
                    cid,
                    comp.label,
                    "refresh",
                    policy_change,
                    "no digest pinned: fetched again in case the source moved",
                )
            )
    declared = {c.component_id for c in manifest.components}
    for cid, _rec in sorted(state.items()):
        if cid not in declared and cid in installed:
            out.append(PlannedChange(cid, cid, "remove", False, "no longer in the manifest"))
    return out


def _policy_differs(manager: Any, cid: str, policy: Policy) -> bool:
    try:
        current = manager.policy(cid)
    except WassetteError:
        return True
    return bool(current != policy)


@dataclass
class Outcome:
    """What provisioning did for one component."""

    component_id: str
    label: str
    uri: str
    status: Literal["installed", "updated", "unchanged", "failed", "removed"]
    attempts: int = 0
    seconds: float = 0.0
    digest: str | None = None
    policy_applied: bool = False
    error: WassetteError | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "component_id": self.component_id,
            "name": self.label,
            "uri": self.uri,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "digest": self.digest,
            "policy_applied": self.policy_applied,
        }
        if self.error is not None:
            out["error"] = self.error.message
            if self.error.fix:
                out["hint"] = self.error.fix
        return out


@dataclass
class ProvisionReport:
    """Every component's outcome, in manifest order (removals last)."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def changed(self) -> bool:
        """Whether the set of tools may have changed (something installed, updated, removed)."""
        return any(o.status in ("installed", "updated", "removed") for o in self.outcomes)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"

    def error(self) -> ComponentError:
        """The fail-fast error: which components failed and why."""
        lines = [
            f"{o.label} ({o.uri}): {o.error.message if o.error else 'failed'}" for o in self.failed
        ]
        return ComponentError(
            f"{len(self.failed)} of {len(self.outcomes)} manifest component(s) failed to provision",
            why="; ".join(lines),
            fix="fix the failing entries (or pass --continue-on-provisioning-failure to serve "
            "the components that did load)",
        )


#: ``progress(step_text)``: one line per step of provisioning, for the terminal.
Progress = Callable[[str], None]


def provision(  # noqa: PLR0915 - one pass, every outcome recorded
    manifest: Manifest,
    manager: Any,
    *,
    fetch_options: Callable[[str, str | None], Any] | None = None,
    remove_missing: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> ProvisionReport:
    """Bring ``manager``'s components in line with ``manifest``; attempt every entry.

    Never raises for one component's failure: each is an :class:`Outcome` (the caller decides
    between fail-fast and continue). ``fetch_options(uri, digest)`` builds the FetchOptions for
    a fetch (registry credentials, CA file...; the digest pin is set on them). With
    ``remove_missing``, components an earlier manifest provisioned and this one no longer
    declares are unloaded (re-apply); components loaded by hand are never touched.
    """
    from wassette.approval import approve_all
    from wassette.components.sources import FetchOptions

    say = progress or (lambda _text: None)
    state = read_state(manager.component_dir)
    installed = set(manager.component_ids())
    report = ProvisionReport()
    approver = approve_all("manifest")
    total = len(manifest.components)
    for n, comp in enumerate(manifest.components, 1):
        cid = comp.component_id
        outcome = Outcome(cid, comp.label, comp.uri, "unchanged")
        started = time.monotonic()
        say(f"[{n}/{total}] {comp.label}: checking {comp.uri}")
        try:
            needs_fetch = True
            if cid in installed:
                current = file_sha256(manager.wasm_path(cid))
                recorded = state.get(cid, {})
                if (comp.digest is not None and current == comp.digest) or (
                    comp.digest is None
                    and comp.uri.lower().startswith("file://")
                    and recorded.get("uri") == comp.uri
                    and recorded.get("digest") == current
                    and _file_digest_of_uri(comp.uri) == current
                ):
                    needs_fetch = False
                outcome.digest = current
            if needs_fetch:
                base = fetch_options(comp.uri, comp.digest) if fetch_options else None
                options = base if base is not None else FetchOptions()
                if comp.digest is not None:
                    options = _with_digest(options, comp.digest)
                say(f"[{n}/{total}] {comp.label}: fetching and compiling")
                load_outcome = _load_with_retry(
                    manager, comp, options, approver, outcome, sleep, say
                )
                outcome.digest = load_outcome.digest
                outcome.status = "updated" if cid in installed else "installed"
            # A fetched component may have brought its own policy: the manifest's wins.
            if comp.policy is not None and _policy_differs(manager, cid, comp.policy):
                manager.policies.save(cid, comp.policy)
                outcome.policy_applied = True
            manager.set_value_sources(cid, comp.value_from)
            # The first metadata load: the tools are known before the server says ready.
            manager.tools_of(cid)
            state[cid] = {"uri": comp.uri, "digest": outcome.digest, "name": comp.name}
        except WassetteError as exc:
            outcome.status = "failed"
            outcome.error = exc
            log.error(
                "manifest: %s (%s) failed to provision: %s", comp.label, comp.uri, exc.message
            )
        outcome.seconds = time.monotonic() - started
        say(f"[{n}/{total}] {comp.label}: {outcome.status} ({outcome.seconds:.1f}s)")
        report.outcomes.append(outcome)
    if remove_missing:
        declared = {c.component_id for c in manifest.components}
        for cid in sorted(set(state) - declared):
            if cid in manager.component_ids():
                try:
                    manager.unload(cid)
                    report.outcomes.append(Outcome(cid, cid, state[cid].get("uri", ""), "removed"))
                    say(f"{cid}: removed (no longer in the manifest)")
                except WassetteError as exc:
                    report.outcomes.append(
                        Outcome(cid, cid, state[cid].get("uri", ""), "failed", error=exc)
                    )
                    continue
            manager.set_value_sources(cid, {})
            state.pop(cid, None)
    try:
        write_state(manager.component_dir, state)
    except OSError as exc:
        log.warning("cannot record the manifest state: %s", exc.strerror)
    return report


def _file_digest_of_uri(uri: str) -> str | None:
    path = Path(uri[len("file://") :])
    try:
        return file_sha256(path)
    except OSError:
        return None


def _with_digest(options: Any, digest: str) -> Any:
    import dataclasses

    return dataclasses.replace(options, digest=digest)


def _load_with_retry(  # noqa: PLR0917 - internal helper
    manager: Any,
    comp: ManifestComponent,
    options: Any,
    approver: Any,
    outcome: Outcome,
    sleep: Callable[[float], None],
    say: Progress,
) -> Any:
    attempt = 0
    while True:
        attempt += 1
        outcome.attempts = attempt
        try:
            # The manifest is the operator's: whatever the load would ask (replacing a
            # component, accepting its shipped policy) is approved by the manifest.
            return _manager_load(manager, comp.uri, options, approver)
        except SourceUnreachableError as exc:
            if attempt >= comp.retry.attempts:
                raise
            delay = comp.retry.delay_after(attempt)
            say(
                f"{comp.label}: {exc.message}; retrying in {delay:.1f}s "
                f"({attempt}/{comp.retry.attempts})"
            )
            sleep(delay)


def _manager_load(manager: Any, uri: str, options: Any, approver: Any) -> Any:
    outcome, _tools = manager.load(uri, options, approver=approver)
    return outcome
