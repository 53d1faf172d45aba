"""Fetch + install in one call: what ``component load <uri>`` and the ``load-component`` tool do.

The caller supplies the validation hooks (the runtime compiles the wasm, the policy layer
parses a policy) so this module stays free of wasmtime and YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wassette.components.registry import InstallResult, install
from wassette.components.sources import FetchOptions, fetch

LOADED = "component loaded successfully"
RELOADED = "component reloaded successfully"


@dataclass(frozen=True)
class LoadOutcome:
    """The result of :func:`load_component`.

    ``status`` is Wassette's wording. ``id_note`` says how the id was sanitised from the URI,
    if it was (worth printing on stderr). ``digest`` is the sha256 of the installed wasm.
    """

    component_id: str
    reloaded: bool
    source_uri: str
    digest: str
    manifest_digest: str | None
    id_note: str | None
    policy_installed: bool
    installed: InstallResult

    @property
    def status(self) -> str:
        """``component loaded successfully`` or ``component reloaded successfully``."""
        return RELOADED if self.reloaded else LOADED


def load_component(
    uri: str,
    component_dir: Path,
    options: FetchOptions | None = None,
    *,
    validate: Callable[[Path], object] | None = None,
    validate_policy: Callable[[bytes], object] | None = None,
) -> LoadOutcome:
    """Fetch ``uri`` and install it into ``component_dir`` (validated before replacing).

    Any failure (fetch, integrity, validation) leaves an installed previous version as it
    was and no temporary files behind.
    """
    with fetch(uri, options) as fetched:
        result = install(
            component_dir,
            fetched.component_id,
            fetched.wasm_path,
            policy_bytes=fetched.policy_bytes,
            validate=validate,
            validate_policy=validate_policy,
            expected_digest=fetched.digest,
        )
        return LoadOutcome(
            component_id=result.component_id,
            reloaded=result.reloaded,
            source_uri=uri,
            digest=fetched.digest,
            manifest_digest=fetched.manifest_digest,
            id_note=fetched.id_note,
            policy_installed=result.policy_replaced,
            installed=result,
        )
