"""The validated manifest: what :func:`~wassette.manifest.parse.parse_manifest` builds and
:func:`~wassette.manifest.provision.provision` applies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from wassette.policy.model import Policy

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_ATTEMPTS = 20
MAX_BACKOFF_MS = 600_000


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try fetching a component, and how long to wait between tries.

    ``kind`` is ``exponential`` (wait ``step_ms * 2**(n-1)`` before try n+1) or ``linear``
    (wait ``step_ms * n``). Only failures to *reach* a source are retried: a digest mismatch,
    a missing tag or a refused credential would fail the same way again.
    """

    attempts: int = 1
    kind: Literal["exponential", "linear"] = "exponential"
    step_ms: int = 0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if self.kind == "exponential":
            ms = self.step_ms * (2 ** (attempt - 1))
        else:
            ms = self.step_ms * attempt
        return float(min(ms, MAX_BACKOFF_MS)) / 1000.0


@dataclass(frozen=True)
class ManifestComponent:
    """One entry of ``components:``.

    ``policy`` is None for ``permissions: {}`` (Wassette: keep the policy the component has).
    ``value_from`` maps an environment key to the server variable (or reference) it reads.
    """

    index: int
    uri: str
    component_id: str
    name: str | None = None
    digest: str | None = None
    policy: Policy | None = None
    value_from: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    line: int | None = None

    @property
    def label(self) -> str:
        """How logs and summaries name the entry: its name, else its id."""
        return self.name or self.component_id


@dataclass(frozen=True)
class Manifest:
    """A validated manifest."""

    source: str
    components: tuple[ManifestComponent, ...]

    def by_id(self) -> dict[str, ManifestComponent]:
        """The entries by component id."""
        return {c.component_id: c for c in self.components}
