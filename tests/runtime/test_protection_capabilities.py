"""build_capabilities under a Protection: credential keys skip the inherited tier, and a
storage entry reaching a protected path fails the call before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from wassette.errors import PolicyError
from wassette.policy.model import Access, EnvironmentPermission, Policy, StoragePermission
from wassette.policy.protection import Protection
from wassette.runtime.capabilities import EnvTier
from wassette.runtime.environment import build_capabilities

CANARY = "CANARY-servercred-5c1e"
CREDENTIAL_KEYS = ["WASSETTE_SECRETS_KEY", "VAULT_TOKEN", "WASSETTE_OCI_PASSWORD", "BAO_TOKEN"]


def _env_policy(*keys: str) -> Policy:
    return Policy(environment=tuple(EnvironmentPermission(k) for k in keys))


@pytest.mark.parametrize("protection", [None, Protection.minimal()], ids=["default", "given"])
def test_inherited_credentials_are_never_injected(protection: Protection | None) -> None:
    inherited = {k: CANARY for k in CREDENTIAL_KEYS} | {"LANG": "C.UTF-8"}
    caps = build_capabilities(
        _env_policy(*CREDENTIAL_KEYS, "LANG"),
        secrets={},
        explicit_env={},
        inherited_env=inherited,
        protection=protection,
    )
    assert caps.env == (("LANG", "C.UTF-8"),)
    assert CANARY not in repr(caps) and CANARY not in str(caps.env_blocked)
    blocked = dict(caps.env_blocked)
    assert sorted(blocked) == sorted(CREDENTIAL_KEYS)
    assert all(key in reason for key, reason in blocked.items())


@pytest.mark.parametrize("key", CREDENTIAL_KEYS)
def test_the_operator_or_the_components_own_secret_may_supply_a_credential_key(key: str) -> None:
    policy = _env_policy(key)
    from_secret = build_capabilities(
        policy, secrets={key: "own"}, explicit_env={}, inherited_env={key: CANARY}
    )
    assert from_secret.env == ((key, "own"),)
    assert from_secret.env_tiers == ((key, EnvTier.SECRET),)
    from_operator = build_capabilities(
        policy, secrets={}, explicit_env={key: "op"}, inherited_env={key: CANARY}
    )
    assert from_operator.env == ((key, "op"),)
    assert from_operator.env_blocked == ()


def _storage(*paths: Path | str) -> Policy:
    return Policy(storage=tuple(StoragePermission(str(p), frozenset({Access.READ})) for p in paths))


def test_a_protected_storage_entry_fails_the_call_naming_entry_and_command(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    ok = tmp_path / "ok"
    ok.mkdir()
    protection = Protection.minimal().plus(secrets, "the secrets directory", "holds secrets")
    with pytest.raises(PolicyError) as info:
        build_capabilities(
            _storage(ok, tmp_path),
            secrets={},
            explicit_env={},
            inherited_env={},
            protection=protection,
            component_id="fs-tool",
        )
    err = info.value
    assert f"permissions.storage.allow[1] (fs://{tmp_path})" in err.what
    assert err.fix is not None
    assert f"wassette permission revoke storage fs-tool fs://{tmp_path}" in err.fix


def test_a_symlink_is_checked_at_call_time_and_the_preopen_uses_the_checked_path(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    protection = Protection.minimal().plus(secrets, "the secrets directory", "holds secrets")
    kwargs: dict[str, object] = {
        "secrets": {},
        "explicit_env": {},
        "inherited_env": {},
        "protection": protection,
    }
    caps = build_capabilities(_storage(link), **kwargs)  # type: ignore[arg-type]
    assert caps.preopens[0].host_path == real  # what was checked is what gets opened
    assert caps.preopens[0].guest_path == str(link)
    link.unlink()
    link.symlink_to(secrets)  # swapped after the grant
    with pytest.raises(PolicyError, match=r"allow\[0\]"):
        build_capabilities(_storage(link), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/", "/proc", "/proc/self", "/sys", "/dev", "/dev/fd"])
def test_system_paths_fail_even_without_a_protection(path: str) -> None:
    with pytest.raises(PolicyError, match="protected path"):
        build_capabilities(_storage(path), secrets={}, explicit_env={}, inherited_env={})
