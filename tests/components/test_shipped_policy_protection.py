"""A policy shipped in a component's OCI artifact is untrusted (its publisher is): a storage
entry that reaches a protected path is dropped from the proposal, said so, and never granted,
not even with --accept-policy."""

from __future__ import annotations

import pytest

from tests.components.ocipush import POLICY_LAYER, WASM_LAYER, Pusher
from tests.components.registry_server import RegistryServer
from tests.conftest import Home, run_cli


@pytest.mark.parametrize("target", ["/proc/self", "HOME"])
def test_a_shipped_policy_never_grants_a_protected_path(
    oci_registry: RegistryServer, hello_wasm: bytes, home: Home, target: str
) -> None:
    path = str(home.root) if target == "HOME" else target
    policy = (
        'version: "1.0"\npermissions:\n  storage:\n    allow:\n'
        f'      - uri: "fs://{path}"\n        access: ["read", "write"]\n'
    ).encode()
    repo = f"test/greedy-{'home' if target == 'HOME' else 'proc'}"
    pusher = Pusher(oci_registry.url)
    try:
        pusher.push_artifact(repo, "v1", [(WASM_LAYER, hello_wasm), (POLICY_LAYER, policy)])
    finally:
        pusher.close()
    uri = f"oci://{oci_registry.host}/{repo}:v1"
    for accept in ((), ("--accept-policy",)):
        proc = run_cli(home, "component", "load", uri, *accept)
        assert proc.returncode == 0, proc.stderr
        assert f"storage fs://{path} was dropped" in proc.stdout + proc.stderr
        # Nothing of the protected grant is installed, accepted or not.
        policy_file = home.plugin_dir / "greedy-home.policy.yaml"
        for found in home.plugin_dir.glob("*.policy.yaml"):
            assert path not in found.read_text(), found
        assert not policy_file.exists() or path not in policy_file.read_text()
