"""Grant-time protection in PolicyStore, its safe default, and the wiring of one Protection
(settings + serve's credential files) into the store and the manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from wassette.config import Settings
from wassette.errors import PolicyError
from wassette.manager import ComponentManager
from wassette.policy.model import Access, Policy, StoragePermission
from wassette.policy.store import PolicyStore
from wassette.secretstore.store import SecretStore
from wassette.wiring import System


def _read(path: Path | str) -> Policy:
    return Policy(storage=(StoragePermission(str(path), frozenset({Access.READ})),))


def test_a_bare_store_refuses_system_paths_and_its_own_directory(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "components")
    for uri in ("fs:///", "fs:///proc", "fs:///proc/self", "fs:///dev/fd", f"fs://{tmp_path}"):
        with pytest.raises(PolicyError, match="refusing to grant storage"):
            store.grant_storage("c", uri, ["read"])
    assert not store.exists("c")  # nothing written
    (tmp_path / "data").mkdir()
    assert store.grant_storage("c", f"fs://{tmp_path / 'data'}", ["read"]).storage


def test_every_writing_verb_is_checked_but_old_entries_do_not_block_a_revoke(
    tmp_path: Path,
) -> None:
    store = PolicyStore(tmp_path / "components")
    with pytest.raises(PolicyError):
        store.save("c", _read("/proc"))
    with pytest.raises(PolicyError):
        store.install_text(
            "c",
            'version: "1.0"\npermissions:\n  storage:\n    allow:\n'
            '      - uri: "fs:///sys"\n        access: ["read"]\n',
        )
    assert not store.exists("c")
    # A hand-written bad entry: other edits and its own revoke still work.
    store.path_for("c").write_text(
        'version: "1.0"\npermissions:\n  storage:\n    allow:\n'
        '      - uri: "fs:///proc"\n        access: ["read"]\n'
    )
    store.grant_network("c", "api.example.com")
    # Widening the bad entry is a new grant of it: refused.
    with pytest.raises(PolicyError):
        store.grant_storage("c", "fs:///proc", ["write"])
    assert store.revoke_storage("c", "fs:///proc").storage == ()


def test_a_bare_manager_gets_the_same_safe_default(tmp_path: Path) -> None:
    manager = ComponentManager(tmp_path / "components", SecretStore(tmp_path / "secrets"))
    assert manager.protection is manager.policies.protection
    hit = manager.protection.collision(str(tmp_path / "secrets"))
    assert hit is not None and hit.protected.what == "the secrets directory"
    assert manager.protection.collision(str(tmp_path)) is not None  # contains the components
    assert manager.protection.collision("/proc/self") is not None
    assert manager.protection.credential_reason("VAULT_TOKEN") is not None


def test_the_system_builds_one_protection_for_store_and_manager(tmp_path: Path) -> None:
    data = tmp_path / "data" / "wassette"
    settings = Settings(
        plugin_dir=data / "components",
        secrets_dir=data / "secrets",
        config_dir=tmp_path / "config" / "wassette",
        state_dir=tmp_path / "state" / "wassette",
    )
    token = tmp_path / "serve" / "token"
    docker = tmp_path / "docker"
    system = System(
        settings,
        environ={"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(docker)},
        explicit_env={},
        credential_files=((token, "the --auth-token-file", "holds the bearer token"),),
    )
    p = system.protection
    expected = {
        settings.secrets_dir: "the secrets directory",
        settings.config_dir: "the encryption key file",
        settings.state_dir: "the state directory",
        settings.plugin_dir: "the component directory",
        token.parent: "the --auth-token-file",
        docker: "the registry credentials file",
    }
    for path, what in expected.items():
        hit = p.collision(str(path))
        assert hit is not None and hit.protected.what == what, path
    assert system.policies.protection.paths[: len(p.paths)] == p.paths
    assert system.manager.protection.paths[: len(p.paths)] == p.paths
    with pytest.raises(PolicyError, match="the --auth-token-file"):
        system.policies.grant_storage("c", f"fs://{token.parent}", ["read"])
