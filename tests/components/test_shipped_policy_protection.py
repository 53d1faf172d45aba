"""A policy shipped in a component's OCI artifact is untrusted (its publisher is): one that
grants a protected path makes the load fail, and nothing is installed."""

from __future__ import annotations

import pytest

from tests.components.ocipush import POLICY_LAYER, WASM_LAYER, Pusher
from tests.components.registry_server import RegistryServer
from tests.conftest import Home, run_cli


@pytest.mark.parametrize("target", ["/proc/self", "HOME"])
def test_a_shipped_policy_granting_a_protected_path_is_refused(
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
    proc = run_cli(home, "component", "load", uri)
    assert proc.returncode == 6, proc.stderr  # PolicyError
    assert f"refusing to grant storage fs://{path} to the component loaded from {uri}" in (
        proc.stderr
    )
    # Nothing installed (globbing a directory that does not exist finds nothing either).
    assert list(home.plugin_dir.glob("*.wasm")) == []
    assert list(home.plugin_dir.glob("*.policy.yaml")) == []
