"""Results of the secret operations that plan or report in bulk (import, key rotation).

Apart from :mod:`wassette.secretstore.operations` because building a ``NamedTuple`` class costs
~1 ms, and the command scripts run most (``secret list``) uses neither.
"""

from __future__ import annotations

from typing import NamedTuple


class ImportPlan(NamedTuple):
    """What an import changes, by key name (never values)."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]

    @property
    def changes_anything(self) -> bool:
        """Whether applying the plan writes anything."""
        return bool(self.added or self.updated or self.removed)


class RotationResult(NamedTuple):
    """A finished key rotation: values re-encrypted, components visited, custody kind."""

    values: int
    components: int
    custody: str
