"""``wassette manifest export``: today's components as a manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wassette.errors import WassetteError
from wassette.manifest.state import file_sha256, read_state


def export_manifest(manager: Any) -> str:
    """Today's components, digests and policies as manifest YAML (reproducible deployments).

    The source URI is the one a manifest provisioned the component from; a component loaded
    by hand has no recorded source, so it is exported as ``file://`` its installed wasm, with
    a comment saying so. Policy-defined environment values are never exported (they are
    secret): the entry keeps its key, and a comment says the value was left out.
    """
    state = read_state(manager.component_dir)
    lines = [
        "# Exported by `wassette manifest export`.",
        "version: 1",
        "components:",
    ]
    for cid in manager.component_ids():
        wasm = manager.wasm_path(cid)
        digest = file_sha256(wasm)
        rec = state.get(cid, {})
        uri = rec.get("uri")
        if not isinstance(uri, str):
            lines.append(f"  # {cid}: loaded by hand; its source is not recorded")
            uri = wasm.resolve().as_uri()
        lines.append(f"  - uri: {_yaml_str(uri)}")
        name = rec.get("name")
        if isinstance(name, str):
            lines.append(f"    name: {_yaml_str(name)}")
        lines.append(f"    digest: {digest}")
        lines.extend(_policy_lines(manager, cid, state.get(cid, {})))
    if len(lines) == 3:
        lines[-1] = "components: []  # nothing is installed (a manifest needs at least one)"
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _policy_lines(  # noqa: PLR0912 - one branch per policy field
    manager: Any, cid: str, rec: Mapping[str, Any]
) -> list[str]:
    from wassette.policy.fields import format_timeout

    try:
        policy = manager.policy(cid)
    except WassetteError as exc:
        return [f"    # the policy cannot be read: {exc.message}", "    permissions: {}"]
    if policy is None:
        return ["    permissions: {}  # no policy: nothing is allowed"]
    value_from = manager.value_sources(cid) if hasattr(manager, "value_sources") else {}
    out = ["    permissions:"]
    if policy.network:
        out += ["      network:", "        allow:"]
        out += [f"          - host: {_yaml_str(n.entry)}" for n in policy.network]
    if policy.storage:
        out += ["      storage:", "        allow:"]
        for s in policy.storage:
            out += [
                f"          - uri: {_yaml_str(s.uri)}",
                f"            access: [{', '.join(s.access_list())}]",
            ]
    if policy.environment:
        out += ["      environment:", "        allow:"]
        for e in policy.environment:
            out.append(f"          - key: {e.key}")
            if e.key in value_from:
                out.append(f"            value_from: {_yaml_str(value_from[e.key])}")
            if e.value is not None:
                out.append("            # a policy-defined value is set; not exported (secret)")
            if e.required:
                out.append("            required: true")
            if not e.redact:
                out.append("            redact: false")
    if policy.memory_limit_bytes is not None or policy.timeout_seconds is not None:
        out.append("      resources:")
        if policy.memory_limit_bytes is not None:
            out.append(f"        memory_bytes: {policy.memory_limit_bytes}")
        if policy.timeout_seconds is not None:
            out.append(f"        timeout: {format_timeout(policy.timeout_seconds)}")
    if len(out) == 1:
        return ["    permissions: {}  # the policy allows nothing"]
    return out
