"""Provisioning manifests: the components a headless server must run, and what each may touch.

The format is Wassette's (``serve --manifest FILE``), read exactly, plus a few extensions that
are marked below. A manifest is written by the operator, so it is trusted: its permissions are
installed as the components' policies without asking anyone.

::

    version: 1                       # the only version there is
    components:                      # at least one
      - uri: oci://ghcr.io/org/weather:1.2.3     # oci:// https:// file:// (http:// refused)
        name: weather                # optional label for logs and summaries
        digest: sha256:<64 hex>      # optional pin of the wasm bytes
        permissions:                 # required; {} keeps the policy the component has
          network:
            allow:
              - host: api.example.com
          storage:
            allow:
              - uri: fs:///srv/data
                access: [read, write]
          environment:
            allow:
              - key: API_KEY
                value_from: WEATHER_API_KEY   # read from this variable of the server
                required: true                # extension: fail calls when unset
                redact: false                 # extension: do not redact echoes
          resources:
            memory_bytes: 67108864
            cpu_time_ms: 5000        # accepted, not enforced (use timeout)
            timeout: 30s             # extension: wall-clock limit per call
        retry_policy:                # optional, for fetching
          attempts: 3
          backoff: {type: exponential, base_ms: 200}   # Wassette 0.8.0's spelling; also
          # accepted: {exponential: {base_ms: 200}}, {type: linear, increment_ms: 500}

``value_from`` (Wassette) names another variable of the server's environment; as an
extension it may also be a secret reference, ``vault:<path>#<key>`` or ``env:<NAME>``. It is
resolved on every call, like the inherited tier: a component's own secret or an operator
``--env`` value for the key still wins, and a manifest may name any variable (it is the
operator's own choice, unlike a grant an MCP client asks for).

Validation happens before anything is fetched and reports the first problem with its field
path and its line and column, as a :class:`~wassette.errors.ConfigError`. Messages never
repeat a value from the file.

:func:`provision` applies a manifest to a component manager: it fetches what is missing or
changed (verifying pins, with the manifest's retry policy), installs the manifest's policies,
and reports per component. It is idempotent: a component already installed with the pinned
digest is not fetched again, and a policy that already matches is not rewritten.

The package: :mod:`~wassette.manifest.model` (the validated manifest),
:mod:`~wassette.manifest.parse` (YAML -> model, located errors),
:mod:`~wassette.manifest.provision` (plan and apply), :mod:`~wassette.manifest.state` (what
earlier manifests provisioned) and :mod:`~wassette.manifest.export` (today's components as a
manifest). Everything callers use is importable from ``wassette.manifest``.
"""

from __future__ import annotations

from wassette.manifest.export import export_manifest
from wassette.manifest.model import MANIFEST_VERSION, Manifest, ManifestComponent, RetryPolicy
from wassette.manifest.parse import load_manifest, parse_manifest
from wassette.manifest.provision import (
    Action,
    Outcome,
    PlannedChange,
    Progress,
    ProvisionReport,
    plan,
    provision,
)
from wassette.manifest.state import STATE_FILE, file_sha256, read_state, write_state

__all__ = [
    "MANIFEST_VERSION",
    "STATE_FILE",
    "Action",
    "Manifest",
    "ManifestComponent",
    "Outcome",
    "PlannedChange",
    "Progress",
    "ProvisionReport",
    "RetryPolicy",
    "export_manifest",
    "file_sha256",
    "load_manifest",
    "parse_manifest",
    "plan",
    "provision",
    "read_state",
    "write_state",
]
