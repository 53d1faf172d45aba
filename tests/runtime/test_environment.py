"""build_capabilities: the one translation from policy to sandbox grants (docs/spec.md, 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wassette.errors import PolicyError
from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)
from wassette.runtime.capabilities import DENY_ALL, Capabilities, EnvTier, Preopen
from wassette.runtime.environment import build_capabilities, missing_required_keys

K = "API_KEY"
SECRET_CANARY = "CANARY-secret-4411"  # noqa: S105 - a canary, not a credential
INHERITED_CANARY = "CANARY-inherited-8822"
EXPLICIT_CANARY = "CANARY-explicit-9933"

# A realistic inherited environment: everything here must stay out unless allow-listed.
SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/op",
    "AWS_SECRET_ACCESS_KEY": INHERITED_CANARY,
    "GITHUB_TOKEN": INHERITED_CANARY,
}


def caps(
    policy: Policy | None,
    *,
    secrets: dict[str, str] | None = None,
    explicit: dict[str, str] | None = None,
    inherited: dict[str, str] | None = None,
) -> Capabilities:
    return build_capabilities(
        policy,
        secrets=secrets or {},
        explicit_env=explicit or {},
        inherited_env=inherited or {},
    )


def allow(*entries: EnvironmentPermission) -> Policy:
    return Policy(environment=entries)


# (policy value, operator value, secret, inherited) -> (value seen, tier); None = absent
PRECEDENCE = [
    ("pol", "op", "sec", "inh", ("pol", EnvTier.POLICY)),
    ("pol", None, "sec", "inh", ("pol", EnvTier.POLICY)),
    ("pol", None, None, None, ("pol", EnvTier.POLICY)),
    ("", "op", "sec", "inh", ("", EnvTier.POLICY)),  # an empty value is still a value
    (None, "op", "sec", "inh", ("op", EnvTier.POLICY)),
    (None, "op", None, None, ("op", EnvTier.POLICY)),
    (None, None, "sec", "inh", ("sec", EnvTier.SECRET)),  # the secret beats the server env
    (None, None, "sec", None, ("sec", EnvTier.SECRET)),
    (None, None, "", "inh", ("", EnvTier.SECRET)),
    (None, None, None, "inh", ("inh", EnvTier.INHERITED)),
    (None, None, None, None, None),
]


@pytest.mark.parametrize(
    ("policy_value", "operator", "secret", "inherited", "expected"), PRECEDENCE
)
def test_precedence_for_an_allow_listed_key(
    policy_value: str | None,
    operator: str | None,
    secret: str | None,
    inherited: str | None,
    expected: tuple[str, EnvTier] | None,
) -> None:
    c = caps(
        allow(EnvironmentPermission(K, value=policy_value)),
        explicit={K: operator} if operator is not None else {},
        secrets={K: secret} if secret is not None else {},
        inherited={K: inherited} if inherited is not None else {},
    )
    if expected is None:
        assert c.env == () and c.env_tiers == ()
    else:
        assert c.env == ((K, expected[0]),)
        assert c.env_tiers == ((K, expected[1]),)


def test_no_policy_grants_nothing_whatever_the_sources() -> None:
    c = caps(
        None,
        secrets={K: SECRET_CANARY},
        explicit={K: EXPLICIT_CANARY},
        inherited=SERVER_ENV | {K: INHERITED_CANARY},
    )
    assert c == DENY_ALL
    assert c.env == () and c.preopens == () and c.network == ()
    assert not c.allows_request("https", "example.com", 443)


def test_a_secret_whose_key_is_not_allow_listed_never_reaches_the_guest() -> None:
    c = caps(
        allow(EnvironmentPermission("LOG_LEVEL")),
        secrets={K: SECRET_CANARY, "DATABASE_URL": SECRET_CANARY, "LOG_LEVEL": "debug"},
    )
    assert c.env == (("LOG_LEVEL", "debug"),)
    assert all(SECRET_CANARY not in value for _, value in c.env)


def test_inherited_env_never_leaks_without_the_allow_list() -> None:
    c = caps(allow(EnvironmentPermission("LOG_LEVEL")), inherited=SERVER_ENV)
    assert c.env == ()
    c = caps(Policy(), inherited=SERVER_ENV)
    assert c.env == ()
    c = caps(allow(EnvironmentPermission("HOME")), inherited=SERVER_ENV)
    assert c.env == (("HOME", "/home/op"),)
    assert c.env_tiers == (("HOME", EnvTier.INHERITED),)


def test_operator_values_need_the_allow_list_too() -> None:
    c = caps(allow(EnvironmentPermission("A")), explicit={"A": "1", "B": EXPLICIT_CANARY})
    assert c.env == (("A", "1"),)


def test_keys_are_exact_and_case_sensitive() -> None:
    c = caps(allow(EnvironmentPermission("api_key")), secrets={K: SECRET_CANARY})
    assert c.env == ()


def test_env_follows_policy_order_and_tiers_are_parallel() -> None:
    policy = allow(
        EnvironmentPermission("C", value="c"),
        EnvironmentPermission("A"),
        EnvironmentPermission("MISSING"),
        EnvironmentPermission("B"),
    )
    c = caps(policy, secrets={"A": "a"}, inherited={"B": "b"})
    assert c.env == (("C", "c"), ("A", "a"), ("B", "b"))
    assert c.env_tiers == (("C", EnvTier.POLICY), ("A", EnvTier.SECRET), ("B", EnvTier.INHERITED))


sources = st.dictionaries(st.sampled_from(["A", "B", "C", "D", "E"]), st.text(max_size=5))


@given(
    st.lists(st.sampled_from(["A", "B", "C"]), unique=True),
    st.dictionaries(st.sampled_from(["A", "B", "C"]), st.text(max_size=5)),
    sources,
    sources,
    sources,
)
def test_precedence_property(
    allowed: list[str],
    policy_values: dict[str, str],
    explicit: dict[str, str],
    secrets: dict[str, str],
    inherited: dict[str, str],
) -> None:
    policy = allow(*(EnvironmentPermission(k, value=policy_values.get(k)) for k in allowed))
    c = caps(policy, secrets=secrets, explicit=explicit, inherited=inherited)
    env = dict(c.env)
    assert set(env) <= set(allowed)  # nothing outside the allow list, from any source
    for key in allowed:
        tiers = [
            (policy_values, EnvTier.POLICY),
            (explicit, EnvTier.POLICY),
            (secrets, EnvTier.SECRET),
            (inherited, EnvTier.INHERITED),
        ]
        first = next(((src[key], tier) for src, tier in tiers if key in src), None)
        if first is None:
            assert key not in env
        else:
            assert env[key] == first[0]
            assert dict(c.env_tiers)[key] == first[1]


def test_storage_becomes_preopens_at_the_same_path(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    rw = tmp_path / "rw dir"
    ro.mkdir()
    rw.mkdir()
    policy = Policy(
        storage=(
            StoragePermission(str(ro), frozenset({Access.READ})),
            StoragePermission(str(rw), frozenset({Access.READ, Access.WRITE})),
            StoragePermission(str(tmp_path), frozenset({Access.WRITE})),
        )
    )
    c = caps(policy)
    assert c.preopens == (
        Preopen(host_path=ro, guest_path=str(ro), writable=False),
        Preopen(host_path=rw, guest_path=str(rw), writable=True),
        Preopen(host_path=tmp_path, guest_path=str(tmp_path), writable=True),
    )


def test_a_missing_storage_directory_is_a_policy_error_naming_the_entry(tmp_path: Path) -> None:
    policy = Policy(
        storage=(
            StoragePermission(str(tmp_path), frozenset({Access.READ})),
            StoragePermission(str(tmp_path / "gone"), frozenset({Access.READ})),
        )
    )
    with pytest.raises(PolicyError) as caught:
        caps(policy)
    message = str(caught.value)
    assert "permissions.storage.allow[1]" in message
    assert f"fs://{tmp_path}/gone" in message
    assert "does not exist" in message
    assert "permission revoke storage" in message


def test_a_file_is_not_a_storage_directory(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(PolicyError, match="is not a directory"):
        caps(Policy(storage=(StoragePermission(str(target), frozenset({Access.READ})),)))


def test_network_and_limits_are_copied() -> None:
    policy = Policy(
        network=(
            NetworkPermission("api.example.com"),
            NetworkPermission("*.cdn.example.com", scheme="https"),
            NetworkPermission("::1", port=8080),
        ),
        memory_limit_bytes=64 << 20,
        timeout_seconds=2.5,
    )
    c = caps(policy)
    assert c.memory_limit_bytes == 64 << 20
    assert c.timeout_seconds == 2.5
    assert c.allows_request("http", "api.example.com", 80)
    assert c.allows_request("https", "img.cdn.example.com", 443)
    assert not c.allows_request("http", "img.cdn.example.com", 80)
    assert not c.allows_request("https", "cdn.example.com", 443)
    assert c.allows_request("http", "::1", 8080)
    assert not c.allows_request("http", "::1", 8081)
    assert not c.allows_request("https", "evil.com", 443)


def test_default_timeout_applies_without_a_policy_limit() -> None:
    assert caps(Policy()).timeout_seconds == 60.0
    assert caps(Policy()).memory_limit_bytes is None
    kwargs: dict[str, dict[str, str]] = {"secrets": {}, "explicit_env": {}, "inherited_env": {}}
    assert build_capabilities(Policy(), default_timeout=5.0, **kwargs).timeout_seconds == 5.0
    none = build_capabilities(None, default_timeout=5.0, **kwargs)
    assert none.timeout_seconds == 5.0 and none.env == () and none.preopens == ()


def test_missing_required_keys() -> None:
    policy = allow(
        EnvironmentPermission("A", required=True),
        EnvironmentPermission("B", required=True),
        EnvironmentPermission("C"),
        EnvironmentPermission("D", value="d", required=True),
    )
    c = caps(policy, secrets={"A": "a"})
    assert missing_required_keys(policy, c) == ["B"]
    assert missing_required_keys(None, DENY_ALL) == []


def test_the_translation_is_pure() -> None:
    code = (
        "import sys, wassette.runtime.environment\n"
        "assert 'wasmtime' not in sys.modules, 'wasmtime imported'\n"
        "assert 'ruamel' not in sys.modules, 'yaml imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
