"""Grant and revoke as pure functions: dedupe, merge, revoke-all-for-a-directory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.policy.strategies import policies
from wassette.errors import PolicyError
from wassette.policy import grants
from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)

R = frozenset({Access.READ})
W = frozenset({Access.WRITE})
RW = R | W
CANARY = "CANARY-gr-55aa"


def test_grant_storage_appends_then_merges_access() -> None:
    p = grants.grant_storage(Policy(), "fs:///data", ["read"])
    assert p.storage == (StoragePermission("/data", R),)
    p = grants.grant_storage(p, "fs:///other/**", ["write"])
    # Same directory, other spelling: merged into the first entry, order kept.
    p = grants.grant_storage(p, "fs:///data/**", ["write"])
    assert p.storage == (StoragePermission("/data", RW), StoragePermission("/other", W))
    assert grants.grant_storage(p, "fs:///data/", ["read"]) is p  # nothing new: same object


def test_revoke_storage_removes_every_entry_for_the_directory() -> None:
    p = Policy(storage=(StoragePermission("/data", RW), StoragePermission("/x", R)))
    assert grants.revoke_storage(p, "fs:///data/**").storage == (StoragePermission("/x", R),)
    assert grants.revoke_storage(p, "fs:///nothing") is p


def test_revoke_storage_access_modes() -> None:
    p = Policy(storage=(StoragePermission("/data", RW),))
    p = grants.revoke_storage(p, "fs:///data", ["write"])
    assert p.storage == (StoragePermission("/data", R),)
    assert grants.revoke_storage(p, "fs:///data", ["read"]).storage == ()


def test_network_grants_dedupe_after_normalising() -> None:
    p = grants.grant_network(Policy(), "API.example.com")
    p = grants.grant_network(p, "api.example.com.")
    p = grants.grant_network(p, "*.example.com")
    p = grants.grant_network(p, "https://api.example.com")
    assert p.network == (
        NetworkPermission("api.example.com"),
        NetworkPermission("*.example.com"),
        NetworkPermission("api.example.com", scheme="https"),
    )
    # Revoking one entry leaves the wildcard and the scheme-restricted one alone.
    q = grants.revoke_network(p, "Api.Example.com")
    assert q.network == p.network[1:]
    assert grants.revoke_network(q, "nothing.example.com") is q


def test_environment_grants() -> None:
    p = grants.grant_environment_variable(Policy(), "API_KEY")
    assert grants.grant_environment_variable(p, "API_KEY") is p
    p = grants.grant_environment_variable(p, "LOG", "debug")
    p = grants.grant_environment_variable(p, "API_KEY", required=True)
    assert p.environment == (
        EnvironmentPermission("API_KEY", required=True),
        EnvironmentPermission("LOG", "debug"),
    )
    # A new value replaces the old one; granting without a value keeps it.
    p = grants.grant_environment_variable(p, "LOG", "info")
    assert grants.grant_environment_variable(p, "LOG") is p
    assert p.find_environment("LOG") == EnvironmentPermission("LOG", "info")
    p = grants.revoke_environment_variable(p, "LOG")
    assert p.environment_keys() == ("API_KEY",)
    assert grants.revoke_environment_variable(p, "LOG") is p


def test_memory_and_timeout() -> None:
    p = grants.grant_memory(Policy(), "512Mi")
    assert p.memory_limit_bytes == 512 << 20
    assert grants.grant_memory(p, 1024).memory_limit_bytes == 1024
    assert grants.revoke_memory(p).memory_limit_bytes is None
    p = grants.grant_timeout(p, "500ms")
    assert p.timeout_seconds == 0.5
    assert grants.revoke_timeout(p).timeout_seconds is None


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: grants.grant_storage(Policy(), "/data", ["read"]), "'/data'"),
        (lambda: grants.grant_storage(Policy(), "fs:///data", []), "access"),
        (lambda: grants.grant_storage(Policy(), "fs:///data", ["exec"]), "access"),
        (lambda: grants.revoke_storage(Policy(), "fs://rel"), "'fs://rel'"),
        (lambda: grants.grant_network(Policy(), "*"), "'*'"),
        (lambda: grants.grant_network(Policy(), "https://a.com/path"), "a.com/path"),
        (lambda: grants.revoke_network(Policy(), ""), "''"),
        (lambda: grants.grant_environment_variable(Policy(), "BAD-KEY"), "'BAD-KEY'"),
        (lambda: grants.revoke_environment_variable(Policy(), "1X"), "'1X'"),
        (lambda: grants.grant_memory(Policy(), "lots"), "'lots'"),
        (lambda: grants.grant_timeout(Policy(), "forever"), "'forever'"),
    ],
)
def test_invalid_arguments_are_policy_errors(call: object, shown: str) -> None:
    with pytest.raises(PolicyError) as caught:
        call()  # type: ignore[operator]
    assert shown in str(caught.value)
    assert caught.value.why


def test_invalid_env_value_is_not_echoed() -> None:
    with pytest.raises(PolicyError) as caught:
        grants.grant_environment_variable(Policy(), "K", f"{CANARY}\x00")
    assert CANARY not in str(caught.value)
    assert "K" in str(caught.value)


@given(policies(), st.sampled_from(["fs:///a", "fs:///b/**"]), st.sampled_from(["read", "write"]))
def test_grant_is_idempotent_and_revoke_undoes_storage(policy: Policy, uri: str, mode: str) -> None:
    once = grants.grant_storage(policy, uri, [mode])
    assert grants.grant_storage(once, uri, [mode]) == once
    path = uri.removeprefix("fs://").removesuffix("/**")
    entry = once.find_storage(path)
    assert entry is not None and Access(mode) in entry.access
    revoked = grants.revoke_storage(once, uri)
    assert revoked.find_storage(path) is None
    assert len(revoked.storage) == len(once.storage) - 1


@given(policies(), st.sampled_from(["a.example.com", "*.example.org", "http://[::1]:80"]))
def test_network_grant_then_revoke(policy: Policy, host: str) -> None:
    granted = grants.grant_network(policy, host)
    assert grants.grant_network(granted, host) is granted
    assert len(granted.network) <= len(policy.network) + 1
    revoked = grants.revoke_network(granted, host)
    assert len(revoked.network) == len(granted.network) - 1
