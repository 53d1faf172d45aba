"""The policy file format: YAML <-> :class:`~wassette.policy.model.Policy`.

The format is docs/spec.md section 3, plus ``permissions.resources.limits.timeout``
(``"30s"``, ``"500ms"``, ``"2m"``), ``limits.max_invocations`` (calls one warm instance may
serve; default 1, a fresh instance per call) and an optional ``required: true`` on environment
entries::

    version: "1.0"
    description: "..."
    permissions:
      storage:
        allow:
          - uri: "fs:///home/me/data"     # a trailing /** or /* means the directory itself
            access: ["read", "write"]
      network:
        allow:
          - host: "api.example.com"
      environment:
        allow:
          - key: "API_KEY"
            required: true
          - key: "LOG_LEVEL"
            value: "debug"
      resources:
        limits:
          memory: "512Mi"
          timeout: "30s"
          max_invocations: 1

Validation errors are :class:`~wassette.errors.PolicyError` naming the field path
(``permissions.network.allow[2].host``), the reason and the line and column when known. They
never repeat a value from the file: the file may hold policy-defined environment values, and
YAML syntax errors have the quoted parts of the parser's own message cut out.

Unknown fields are errors. ``deny`` lists, ``cidr`` network entries and ``limits.cpu`` are
accepted, because Wassette accepts them, but they are not enforced, and a warning says so.

Edits keep what a person wrote: :func:`load_document` returns ruamel's round-trip document and
:func:`sync_document` changes only the entries that differ from a target policy, so comments
and the spelling of untouched entries survive a grant or a revoke.

This module is the format's front door; the work is done in three modules behind it:
:mod:`~wassette.policy.yamldoc` (the YAML library: loading with guards, dumping, node
positions), :mod:`~wassette.policy.validate` (document -> Policy) and
:mod:`~wassette.policy.sync` (Policy -> document).
"""

from __future__ import annotations

from typing import Any

from wassette.policy import view
from wassette.policy.model import Policy
from wassette.policy.sync import dump_policy, sync_document
from wassette.policy.validate import document_to_policy, parse_policy
from wassette.policy.yamldoc import (
    MAX_POLICY_BYTES,
    Pos,
    dump_document,
    items_with_pos,
    key_pos,
    load_document,
    value_pos,
)

__all__ = [
    "MAX_POLICY_BYTES",
    "Pos",
    "document_to_policy",
    "dump_document",
    "dump_policy",
    "items_with_pos",
    "key_pos",
    "load_document",
    "parse_policy",
    "policy_to_dict",
    "sync_document",
    "value_pos",
]


def policy_to_dict(policy: Policy, *, show_values: bool = False) -> dict[str, Any]:
    """Re-exported from :mod:`wassette.policy.view` (no YAML involved)."""
    return view.policy_to_dict(policy, show_values=show_values)
