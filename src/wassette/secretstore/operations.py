"""What the operator can do to secrets, each with its history and audit in the one right order.

The CLI (``cli/secret.py``) prompts and renders; everything it changes goes through here, over
whatever backend the factory chose. No code here knows *which* backend that is: optional
abilities (per-key versions, encryption at rest) are reached through the backend's accessors
(:meth:`~wassette.secretstore.backend.SecretBackend.versions`, ``local_encryption()``), and an
operation the backend lacks is refused before anything changes.

The order, for every change:

1. validate everything (keys, values, sizes, ids) - nothing is touched on bad input;
2. the backend makes the change; a local store records the value's history under the same
   lock, put in place only once the value is stored (so history never holds a value that was
   not stored);
3. then the audit record. If that append fails, the change stands and the operator is told
   exactly that (:class:`~wassette.errors.ChangedButNotAuditedError`, its own exit code).

Disclosures (``list --show-values``, ``export``) go the other way round: the audit record is
written *first*, and nothing is shown if it cannot be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wassette.errors import AuditLogError, ChangedButNotAuditedError, UsageError
from wassette.ids import validate_component_id, validate_secret_key
from wassette.secretstore.backend import Fingerprint, KeyVersions, LocalEncryption, SecretBackend

if TYPE_CHECKING:
    from wassette.secretstore.audit import AuditLog
    from wassette.secretstore.history import VersionInfo
    from wassette.secretstore.keys import KeyCustody
    from wassette.secretstore.plans import ImportPlan, RotationResult

CHANGED_NOT_AUDITED = "the secret WAS changed; its audit record could not be written"


class SecretOperations:
    """Secret operations over one backend, one audit log and the process's key custody.

    ``custody`` returns the one :class:`~wassette.secretstore.keys.KeyCustody` of the process
    (built by the composition root); it is called only by operations that need a key.
    """

    def __init__(
        self,
        backend: SecretBackend,
        audit: AuditLog,
        custody: Callable[[], KeyCustody],
    ) -> None:
        self.backend = backend
        self.audit = audit
        self._custody = custody

    # ------------------------------------------------------------------ abilities

    def _unsupported(self, what: str) -> UsageError:
        return UsageError(
            f"{what} is not supported on this backend ({self.backend.name})",
            why="it is a feature of the local YAML secrets store",
            fix='use secrets_backend = "file" for it; Vault/OpenBao keeps its own encryption, '
            "versions and audit devices",
        )

    def _versions(self, what: str) -> KeyVersions:
        versions = self.backend.versions()
        if versions is None:
            raise self._unsupported(what)
        return versions

    def _local(self, what: str) -> LocalEncryption:
        local = self.backend.local_encryption()
        if local is None:
            raise self._unsupported(what)
        return local

    def _changed(
        self,
        event: str,
        component_id: str | None,
        keys: Sequence[str] = (),
        *,
        what: str = CHANGED_NOT_AUDITED,
        **detail: Any,
    ) -> None:
        """Audit a change that has been made; a failure says the change stands."""
        try:
            self.audit.record(event, component_id, keys, **detail)
        except AuditLogError as exc:
            raise ChangedButNotAuditedError(what, exc) from None

    def fingerprinter(self, component_id: str) -> Fingerprint:
        """Keyed fingerprints (HMAC with a subkey of the custody's key) for one component."""
        from wassette.secretstore import crypto

        fp_key = self._custody().keys(create=True).fingerprint_key
        return lambda name, value: crypto.fingerprint(fp_key, component_id, name, value)

    # ------------------------------------------------------------------ reads

    def read(self, component_id: str) -> Mapping[str, str]:
        """All secrets of a component, for the caller to show or not (nothing is audited)."""
        return self.backend.get_all(validate_component_id(component_id))

    def disclose(
        self, event: str, component_id: str, secrets: Mapping[str, str], **detail: Any
    ) -> Mapping[str, str]:
        """Record that ``secrets`` are about to be shown, then hand them over.

        The audit record comes first: if it cannot be written, nothing is shown (the error is
        the audit log's own, exit 5: nothing happened).
        """
        self.audit.record(event, component_id, sorted(secrets), **detail)
        return secrets

    def plaintext_keys(self, component_id: str) -> list[str]:
        """Keys in the clear inside an otherwise encrypted file ([] without local encryption)."""
        local = self.backend.local_encryption()
        return [] if local is None else local.plaintext_keys(component_id)

    def plaintext_report(self) -> dict[str, list[str]]:
        """Every component whose encrypted file holds plaintext values -> those keys."""
        local = self.backend.local_encryption()
        if local is None:
            return {}
        report = {}
        for cid in local.all_component_ids():
            keys = local.plaintext_keys(cid)
            if keys:
                report[cid] = keys
        return report

    # ------------------------------------------------------------------ changes

    def set(self, component_id: str, items: Mapping[str, str]) -> None:
        """Add or update ``items``, then audit."""
        from wassette.secretstore.records import validate_secret_value

        validate_component_id(component_id)
        for key, value in items.items():
            validate_secret_key(key)
            validate_secret_value(key, value)
        self.backend.set_many(component_id, items)
        self._changed("set", component_id, sorted(items))

    def delete(
        self, component_id: str, keys: Iterable[str], *, purge_history: bool = False
    ) -> tuple[list[str], list[str]]:
        """Delete ``keys`` (missing ones ignored); with ``purge_history`` also every earlier
        value of them. Returns (keys deleted, keys whose history was purged)."""
        validate_component_id(component_id)
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            validate_secret_key(key)
        versions = self._versions("secret delete --purge-history") if purge_history else None
        removed = self.backend.delete_many(component_id, wanted)
        purged = versions.purge_key_history(component_id, wanted) if versions else []
        if removed or purged:
            detail: dict[str, Any] = {"purged_history": purged} if purge_history else {}
            self._changed("delete", component_id, removed, **detail)
        return removed, purged

    def plan_import(
        self, component_id: str, items: Mapping[str, str], *, replace: bool
    ) -> ImportPlan:
        """What importing ``items`` would change (compared with the current values)."""
        from wassette.secretstore.plans import ImportPlan

        current = self.read(component_id)
        return ImportPlan(
            added=sorted(k for k in items if k not in current),
            updated=sorted(k for k in items if k in current and current[k] != items[k]),
            unchanged=sorted(k for k in items if k in current and current[k] == items[k]),
            removed=sorted(k for k in current if k not in items) if replace else [],
        )

    def apply_import(
        self, component_id: str, items: Mapping[str, str], plan: ImportPlan, *, replace: bool
    ) -> None:
        """Apply an import (all keys in one write where the backend can), then audit."""
        if not plan.changes_anything:
            return
        # Unchanged keys are passed too: with ``replace``, every key not here is deleted.
        self.backend.apply_changes(component_id, dict(items), op="import", replace=replace)
        self._changed(
            "import",
            component_id,
            sorted(plan.added + plan.updated + plan.removed),
            added=len(plan.added),
            updated=len(plan.updated),
            removed=len(plan.removed),
        )

    # ------------------------------------------------------------------ versions

    def history(self, component_id: str, key: str | None) -> dict[str, list[VersionInfo]]:
        """Versions per key with keyed fingerprints (never values)."""
        validate_component_id(component_id)
        if key is not None:
            validate_secret_key(key)
        versions = self._versions("secret history")
        return versions.key_history(component_id, key, self.fingerprinter(component_id))

    def rollback(self, component_id: str, key: str, version: int | None) -> int:
        """Restore an earlier value of ``key``; return the version restored; then audit."""
        validate_component_id(component_id)
        validate_secret_key(key)
        restored = self._versions("secret rollback").rollback_key(component_id, key, version)
        self._changed("rollback", component_id, [key], to=restored)
        return restored

    def purge_history(self, component_id: str, keys: Sequence[str] | None) -> list[str]:
        """Destroy every earlier value of ``keys`` (None: all keys); current values stay."""
        validate_component_id(component_id)
        for key in keys or ():
            validate_secret_key(key)
        purged = self._versions("secret purge-history").purge_key_history(component_id, keys)
        if purged:
            self._changed(
                "purge-history",
                component_id,
                purged,
                what="the history WAS purged; its audit record could not be written",
            )
        return purged

    # ------------------------------------------------------------------ encryption at rest

    def target_ids(self, component_id: str | None, all_: bool, what: str) -> list[str]:
        """One component, or (``all_``) every component with secrets or history."""
        local = self._local(what)
        if all_ == (component_id is not None):
            raise UsageError(
                "give either a component id or --all", fix="e.g. `wassette secret encrypt --all`"
            )
        if component_id is not None:
            return [validate_component_id(component_id)]
        return local.all_component_ids()

    def reseal(self, ids: Sequence[str], mode: str) -> dict[str, int]:
        """``encrypt`` or ``decrypt`` each component's values; audit each one that changed."""
        local = self._local(f"secret {mode}")
        done: dict[str, int] = {}
        for cid in ids:
            count = local.encrypt(cid) if mode == "encrypt" else local.decrypt(cid)
            done[cid] = count
            if count:
                self._changed(
                    mode,
                    cid,
                    what=f"the values WERE {mode}ed; the audit record could not be written",
                    values=count,
                )
        return done

    def key_status(self) -> dict[str, object]:
        """Which key custody is active (never the key) and what is encrypted."""
        local = self._local("secret key status")
        encrypted = [cid for cid in local.all_component_ids() if local.is_encrypted(cid)]
        return {
            **self._custody().status(),
            "encrypt_new": local.encrypt_new,
            "encrypted_components": encrypted,
        }

    def rotate_key(self) -> RotationResult:
        """Re-encrypt everything with a new key, crash-safely (re-run finishes an interrupted
        rotation), then audit."""
        local = self._local("secret key rotate")
        custody = self._custody()
        custody.rotatable()
        with custody.rotation_lock():
            # 1. the new key is stored as *pending* first: from here on every reader tries both
            #    keys and every writer encrypts with the new one;
            new_key = custody.begin_rotation()
            # 2. every file (and history) is re-encrypted under its own lock, atomically;
            ids = local.all_component_ids()
            count = sum(local.reencrypt(cid) for cid in ids)
            # 3. only then does the new key replace the old one.
            custody.commit_rotation(new_key)
        self._changed(
            "key-rotate",
            None,
            what="the key WAS rotated; its audit record could not be written",
            values=count,
            components=len(ids),
        )
        from wassette.secretstore.plans import RotationResult

        return RotationResult(count, len(ids), custody.kind())
