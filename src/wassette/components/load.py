"""Fetch + install in one call: what ``component load <uri>`` and the ``load-component`` tool do.

Two decisions belong to the operator, and are asked of the caller's
:class:`~wassette.approval.Approver` (a terminal prompt, ``--replace``/``--accept-policy``,
the human behind an MCP client, a manifest):

- **replacing a component from another source** (``replace-component``): the id's policy and
  secrets would apply to another publisher's binary. Asked *before* anything is fetched when
  the recorded source differs (so a refusal costs no download); for a component of unknown
  source (see :mod:`wassette.components.provenance`) after the fetch, unless the bytes are the
  ones installed. Declined: :class:`~wassette.errors.NotApprovedError`, nothing changed.
- **a policy that arrived with the component** (``accept-policy``): shown in plain words and
  installed only if approved; on a reload only what it would add to the installed policy is
  asked about (the operator's revocations stand). Declined: the component is installed
  without it, the proposal is kept privately (``<id>.proposal.json``, see
  :mod:`wassette.components.pending`) and the result says
  what was proposed and the command that accepts exactly that.

The caller supplies the validation hooks (the runtime compiles the wasm, the policy layer
parses a policy) so this module stays free of wasmtime and YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wassette import layout
from wassette.approval import ApprovalRequest, Approver, Decision, refuse_all
from wassette.components import provenance
from wassette.components.pending import (
    ACCEPT_COMMAND,
    accept_command,
    accept_proposal,
    discard_proposal,
    pending_proposal_view,
    read_proposal,
    write_proposal,
)
from wassette.components.registry import InstallResult, install, is_installed
from wassette.components.sources import FetchOptions, fetch, source_for
from wassette.errors import (
    ComponentError,
    NotApprovedError,
    WassetteError,
)
from wassette.policy import proposal as proposals
from wassette.policy.model import Policy

if TYPE_CHECKING:
    from wassette.policy.store import PolicyStore

__all__ = [
    "ACCEPT_COMMAND",
    "LOADED",
    "RELOADED",
    "LoadOutcome",
    "PolicyOutcome",
    "accept_command",
    "accept_proposal",
    "discard_proposal",
    "load_component",
    "pending_proposal_view",
    "read_proposal",
]

LOADED = "component loaded successfully"
RELOADED = "component reloaded successfully"


@dataclass(frozen=True)
class PolicyOutcome:
    """What happened to a policy that arrived with the component.

    ``status``: ``accepted`` (approved and applied), ``pending`` (not approved: installed
    without it, kept for ``component accept-policy``) or ``nothing new`` (the installed policy
    already allows all of it). ``permissions`` describes what it would add, in plain words.
    """

    status: str
    permissions: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    how: str | None = None
    reason: str = ""

    def to_json(self, component_id: str) -> dict[str, Any]:
        """The ``policy_proposal`` block of a load result."""
        out: dict[str, Any] = {"status": self.status, "permissions": list(self.permissions)}
        if self.dropped:
            out["dropped"] = list(self.dropped)
        if self.status == "accepted":
            out["approved_by"] = self.how
            out["message"] = "the proposed permissions were approved and added to the policy"
        elif self.status == "pending":
            out["accept_with"] = accept_command(component_id)
            out["message"] = (
                "the component was installed WITHOUT these permissions"
                + (f" ({self.reason})" if self.reason else "")
                + f"; review them, then run `{accept_command(component_id)}` to grant exactly "
                "these (or grant single ones with `wassette permission grant`)"
            )
        else:
            out["message"] = "the installed policy already allows everything it asks for"
        return out


@dataclass(frozen=True)
class LoadOutcome:
    """The result of :func:`load_component`.

    ``status`` is Wassette's wording. ``id_note`` says how the id was sanitised from the URI,
    if it was (worth printing on stderr). ``digest`` is the sha256 of the installed wasm.
    ``change`` is ``new``, ``reload`` (same source, same bytes), ``upgrade`` (same source, new
    bytes), ``replace`` (another source, approved) or ``adopt`` (a component of unknown source
    loaded again with identical bytes: its source is now recorded).
    """

    component_id: str
    reloaded: bool
    source_uri: str
    digest: str
    manifest_digest: str | None
    id_note: str | None
    installed: InstallResult
    change: str = "new"
    source: provenance.SourceRecord | None = None
    previous_uri: str | None = None
    previous_digest: str | None = None
    replaced: dict[str, Any] | None = None
    policy: PolicyOutcome | None = field(default=None)

    @property
    def status(self) -> str:
        """``component loaded successfully`` or ``component reloaded successfully``."""
        return RELOADED if self.reloaded else LOADED

    @property
    def policy_installed(self) -> bool:
        """True if this load added permissions to the component's policy (approved)."""
        return self.policy is not None and self.policy.status == "accepted"

    def to_json(self, tool_names: list[str]) -> dict[str, Any]:
        """The result shown by ``component load`` and the ``load-component`` tool."""
        out: dict[str, Any] = {
            "status": self.status,
            "id": self.component_id,
            "tools": tool_names,
            "digest": self.digest,
            "source": self.source.shown() if self.source is not None else None,
            "policy_installed": self.policy_installed,
        }
        if self.change == "upgrade":
            out["upgrade"] = {
                "from_digest": self.previous_digest,
                "to_digest": self.digest,
                "message": f"same source, new content: {self.previous_digest} -> {self.digest}",
            }
        if self.replaced is not None:
            out["replaced"] = self.replaced
        if self.change == "adopt":
            out["note"] = "source recorded (the installed bytes were identical)"
        if self.policy is not None:
            out["policy_proposal"] = self.policy.to_json(self.component_id)
        return out


@dataclass
class _Existing:
    """What is installed under the id before the load (read before fetching)."""

    installed: bool
    record: provenance.SourceRecord | None

    def same_as_now(self, component_dir: Path, cid: str) -> bool:
        now = provenance.read_record(component_dir, cid) if self.installed else None
        return is_installed(component_dir, cid) == self.installed and now == self.record


def _secret_keys(secret_keys: Callable[[str], list[str]] | None, cid: str) -> list[str] | str:
    if secret_keys is None:
        return []
    try:
        return list(secret_keys(cid))
    except WassetteError as exc:  # the backend is down: say so rather than fail the question
        return f"unknown ({exc.message})"


def _policy_lines(store: PolicyStore, cid: str) -> list[str]:
    """The installed policy in plain words, for a replacement question (never fails)."""
    try:
        policy = store.load(cid)
    except WassetteError as exc:
        return [f"(its policy file cannot be read: {exc.message})"]
    return proposals.entries(policy) if policy is not None else []


def _ask_replace(
    approver: Approver,
    *,
    cid: str,
    old: str,
    new_uri: str,
    lines: list[str],
    keys: list[str] | str,
) -> Decision:
    shown_keys = keys if isinstance(keys, str) else (", ".join(keys) or "none")
    details = (
        f"installed from: {old}",
        f"new source: {new_uri}",
        "its policy entries would apply to the new binary: "
        + (", ".join(lines) if lines else "none"),
        f"its secrets would be readable by the new binary (keys: {shown_keys})",
    )
    request = ApprovalRequest(
        "replace-component",
        cid,
        f"Replace component '{cid}' with a binary from a different source?",
        details,
    )
    return approver(request)


def _refused(cid: str, old: str, new_uri: str, decision: Decision) -> NotApprovedError:
    reason = f" ({decision.reason})" if decision.reason else ""
    return NotApprovedError(
        f"refusing to replace component '{cid}' with a binary from another source",
        why=f"'{cid}' was installed from {old}, not {new_uri}; its policy and secrets would "
        f"apply to the new binary, and the replacement was not approved{reason}",
        fix=f"if you trust {new_uri}, run `wassette component load {new_uri} --replace`; or "
        f"load it under another id (rename the file or repository), or `wassette component "
        f"unload {cid}` first",
    )


def _ask_policy(
    approver: Approver,
    *,
    cid: str,
    uri: str,
    added: Policy,
    dropped: tuple[str, ...],
    first: bool,
) -> Decision:
    lines = proposals.describe(added)
    summary = (
        f"Component '{cid}' from {uri} ships a policy asking to:"
        if first
        else f"Reloading '{cid}' from {uri}: its shipped policy asks for more than the "
        "installed policy allows:"
    )
    details = tuple(lines) + tuple(f"(not proposed) {d}" for d in dropped)
    return approver(ApprovalRequest("accept-policy", cid, summary + " Grant these?", details))


def load_component(
    uri: str,
    component_dir: Path,
    options: FetchOptions | None = None,
    *,
    approver: Approver | None = None,
    validate: Callable[[Path], object] | None = None,
    validate_policy: Callable[[bytes], object] | None = None,
    policies: PolicyStore | None = None,
    secret_keys: Callable[[str], list[str]] | None = None,
    default_timeout: float = 60.0,
) -> LoadOutcome:
    """Fetch ``uri`` and install it into ``component_dir`` (validated before replacing).

    ``approver`` answers the two questions in the module doc (default: nobody can approve,
    so a replacement is refused and a shipped policy stays a proposal). ``validate_policy``
    parses a shipped policy into a :class:`Policy` (default: the policy parser).
    ``secret_keys`` lists an id's secret keys, to tell the approver what a replacement would
    hand over. Any failure (fetch, integrity, validation, refusal) leaves an installed
    previous version as it was and no temporary files behind.
    """
    from wassette.policy.store import PolicyStore

    approve = approver if approver is not None else refuse_all("unavailable", "nobody to ask")
    store = policies if policies is not None else PolicyStore(component_dir)
    options = options or FetchOptions()
    name = provenance.name_source(uri, options)
    cid = source_for(uri).component_id
    existing = _Existing(is_installed(component_dir, cid), None)
    if existing.installed:
        existing.record = provenance.read_record(component_dir, cid)
    change = "reload" if existing.installed else "new"
    replaced: dict[str, Any] | None = None

    def replacement(
        old_shown: str, keys: list[str] | str, old_digest: str | None
    ) -> dict[str, Any]:
        lines = _policy_lines(store, cid)
        decision = _ask_replace(
            approve, cid=cid, old=old_shown, new_uri=name.uri, lines=lines, keys=keys
        )
        if not decision.approved:
            raise _refused(cid, old_shown, name.uri, decision)
        shown_keys = ", ".join(keys) if isinstance(keys, list) else keys
        return {
            "previous_source": existing.record.uri if existing.record else None,
            "previous_digest": old_digest,
            "approved_by": decision.how,
            "now_applies": {"policy": lines, "secret_keys": keys},
            "message": (
                f"'{cid}' now runs the binary from {name.uri} (was: {old_shown}); these policy "
                f"entries now apply to it: {', '.join(lines) if lines else 'none'}; these "
                f"secrets are now readable by it: {shown_keys or 'none'}"
            ),
        }

    record = existing.record
    if record is not None and record.identity != name.identity:
        # Another source: ask before fetching anything from it.
        change = "replace"
        replaced = replacement(record.uri, _secret_keys(secret_keys, cid), record.digest)

    with fetch(uri, options) as fetched:
        previous_digest = record.digest if record is not None else None
        if existing.installed and record is None:
            installed_digest = provenance.sha256_file(layout.path(component_dir, cid, layout.WASM))
            previous_digest = installed_digest
            if installed_digest == fetched.digest:
                change = "adopt"  # the very bytes installed: nothing changes but the record
            else:
                change = "replace"
                replaced = replacement(
                    "an unknown source (installed before sources were recorded, or copied in "
                    "by hand)",
                    _secret_keys(secret_keys, cid),
                    installed_digest,
                )
        elif change == "reload" and record is not None and record.digest != fetched.digest:
            change = "upgrade"

        shipped: proposals.Proposal | None = None
        if fetched.policy_bytes is not None:
            parse = validate_policy or _parse_policy(uri)
            parsed = parse(fetched.policy_bytes)
            if not isinstance(parsed, Policy):  # a hook that only validates: parse it here
                parsed = _parse_policy(uri)(fetched.policy_bytes)
            shipped = proposals.sanitize(parsed, store.protection)

        def unchanged() -> None:
            # Under the install lock: what we asked about (or decided without asking) must
            # still be what is installed, or another load won the race.
            if not existing.same_as_now(component_dir, cid):
                raise ComponentError(
                    f"component '{cid}' changed while it was being loaded",
                    why="another load or unload of the same id finished first",
                    fix="check `wassette component list`, then load it again",
                )

        result = install(
            component_dir,
            fetched.component_id,
            fetched.wasm_path,
            validate=validate,
            expected_digest=fetched.digest,
            source=name,
            manifest_digest=fetched.manifest_digest,
            precondition=unchanged,
        )

    # Whatever proposal an earlier load left is about an earlier binary: drop it.
    discard_proposal(component_dir, cid)
    policy_outcome = None
    if shipped is not None:
        policy_outcome = _handle_proposal(
            approve,
            store=store,
            component_dir=component_dir,
            cid=cid,
            uri=name.uri,
            record=result.source,
            shipped=shipped,
            default_timeout=default_timeout,
        )
    return LoadOutcome(
        component_id=result.component_id,
        reloaded=result.reloaded,
        source_uri=uri,
        digest=fetched.digest,
        manifest_digest=fetched.manifest_digest,
        id_note=fetched.id_note,
        installed=result,
        change=change,
        source=result.source,
        previous_uri=record.uri if record is not None else None,
        previous_digest=previous_digest,
        replaced=replaced,
        policy=policy_outcome,
    )


def _parse_policy(uri: str) -> Callable[[bytes], Policy]:
    def parse(data: bytes) -> Policy:
        from wassette.policy.parser import parse_policy

        return parse_policy(data, source="the policy shipped with " + uri)

    return parse


def _handle_proposal(
    approve: Approver,
    *,
    store: PolicyStore,
    component_dir: Path,
    cid: str,
    uri: str,
    record: provenance.SourceRecord | None,
    shipped: proposals.Proposal,
    default_timeout: float,
) -> PolicyOutcome:
    # Against the policy as it is now: a first load (or one after `permission reset`) has
    # none, so everything is asked about; otherwise only what would be added.
    try:
        current = store.load(cid)
    except WassetteError as exc:
        # The component is installed already; a damaged policy file is the operator's to
        # fix, and nothing from the publisher is granted on top of a file we cannot read.
        write_proposal(
            component_dir,
            cid=cid,
            record=record,
            added=shipped.policy,
            lines=tuple(proposals.describe(shipped.policy)),
            dropped=shipped.dropped,
        )
        return PolicyOutcome(
            "pending",
            tuple(proposals.describe(shipped.policy)),
            shipped.dropped,
            "unavailable",
            f"the installed policy cannot be read: {exc.message}",
        )
    first = current is None
    added = proposals.widening(current, shipped.policy, default_timeout=default_timeout)
    lines = tuple(proposals.describe(added))
    if proposals.is_empty(added):
        return PolicyOutcome("nothing new", (), shipped.dropped)
    decision = _ask_policy(
        approve, cid=cid, uri=uri, added=added, dropped=shipped.dropped, first=first
    )
    if decision.approved:
        store.update(cid, lambda now: proposals.merge(now, added))
        return PolicyOutcome("accepted", lines, shipped.dropped, decision.how)
    write_proposal(
        component_dir, cid=cid, record=record, added=added, lines=lines, dropped=shipped.dropped
    )
    return PolicyOutcome("pending", lines, shipped.dropped, decision.how, decision.reason)
