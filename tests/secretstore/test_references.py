"""`vault:<path>#<key>` and `env:<NAME>` references, resolved against a real OpenBao."""

from __future__ import annotations

import logging
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.secretstore.openbao import ROOT_TOKEN, BaoServer
from wassette.errors import SecretReferenceError, WassetteError
from wassette.secretstore.backends.vault import VaultBackend
from wassette.secretstore.references import (
    EnvReference,
    ReferenceScope,
    VaultReference,
    escape_literal,
    is_reference,
    parse_reference,
    resolve_references,
)

#: The scope the resolution tests need (scoping itself is tested in test_reference_scope.py).
WIDE = ReferenceScope(
    vault=("shared",), env=("WASSETTE_TEST_HOME", "NOT_SET_ANYWHERE", "A", "PATH")
)

CANARY = "CANARY-ref-9043"


@pytest.fixture
def vault(bao_server: BaoServer) -> VaultBackend:
    return VaultBackend.from_config({"address": bao_server.address}, {"VAULT_TOKEN": ROOT_TOKEN})


@pytest.fixture
def shared_path(bao_server: BaoServer) -> str:
    """A shared secret outside the per-component tree, holding canary values."""
    path = f"shared/{uuid.uuid4().hex[:8]}"
    bao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path=path, secret={"PASSWORD": CANARY, "USER": "app"}, mount_point="secret"
    )
    return path


def test_references_resolve_and_plain_values_pass_through(
    vault: VaultBackend, shared_path: str
) -> None:
    secrets = {
        "DB_PASSWORD": f"vault:{shared_path}#PASSWORD",
        "DB_USER": f"vault:{shared_path}#USER",
        "HOME_DIR": "env:WASSETTE_TEST_HOME",
        "PLAIN": "just a value",
        "EMPTY": "",
        "LOOKALIKE": "vaults:are not references",
        "ESCAPED": "literal:vault:not/a#reference",
    }
    resolved = resolve_references(
        secrets,
        vault=vault,
        environ={"WASSETTE_TEST_HOME": "/home/x"},
        component_id="app",
        scope=WIDE,
    )
    assert resolved == {
        "DB_PASSWORD": CANARY,
        "DB_USER": "app",
        "HOME_DIR": "/home/x",
        "PLAIN": "just a value",
        "EMPTY": "",
        "LOOKALIKE": "vaults:are not references",
        "ESCAPED": "vault:not/a#reference",
    }


def test_one_shared_secret_feeds_several_components_and_follows_rotation(
    bao_server: BaoServer, shared_path: str
) -> None:
    vault = VaultBackend.from_config(
        {"address": bao_server.address, "cache_ttl": 0}, {"VAULT_TOKEN": ROOT_TOKEN}
    )
    ref = {"PW": f"vault:{shared_path}#PASSWORD"}
    for component in ("billing", "reports"):
        assert resolve_references(
            ref, vault=vault, environ={}, component_id=component, scope=WIDE
        ) == {"PW": CANARY}
    bao_server.root_client().secrets.kv.v2.create_or_update_secret(
        path=shared_path, secret={"PASSWORD": "rotated", "USER": "app"}, mount_point="secret"
    )
    assert resolve_references(ref, vault=vault, environ={}, scope=WIDE) == {"PW": "rotated"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vault:shared/{p}#MISSING", "has no field MISSING"),
        ("vault:shared/nothing-here-{p}#PASSWORD", "there is no secret at secret/data/shared"),
    ],
)
def test_dangling_vault_reference_names_the_reference_not_values(
    vault: VaultBackend,
    shared_path: str,
    value: str,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = value.format(p=shared_path.split("/")[1])
    with pytest.raises(SecretReferenceError) as err:
        resolve_references({"PW": ref}, vault=vault, environ={}, component_id="app", scope=WIDE)
    text = str(err.value)
    assert ref in text  # the reference itself is named
    assert "secret PW of component app" in text
    assert expected in text
    assert "bao kv" in text  # how to fix
    assert CANARY not in text
    assert CANARY not in caplog.text


def test_dangling_env_reference(vault: VaultBackend) -> None:
    with pytest.raises(SecretReferenceError) as err:
        resolve_references(
            {"K": "env:NOT_SET_ANYWHERE"},
            vault=vault,
            environ={"OTHER": CANARY},
            component_id="c",
            scope=WIDE,
        )
    assert "env:NOT_SET_ANYWHERE" in str(err.value)
    assert "secret K of component c" in str(err.value)
    assert CANARY not in str(err.value)


def test_vault_reference_without_vault_configured() -> None:
    with pytest.raises(SecretReferenceError, match=r"no Vault is configured"):
        resolve_references({"K": "vault:shared/x#K"}, vault=None, environ={}, scope=WIDE)
    # env references and plain values need no Vault
    assert resolve_references(
        {"K": "env:A", "P": "p"}, vault=None, environ={"A": "a"}, scope=WIDE
    ) == {
        "K": "a",
        "P": "p",
    }


@pytest.mark.parametrize(
    "malformed",
    [
        f"vault:{CANARY}",  # no '#'
        f"vault:#{CANARY}",  # no path
        f"vault:../{CANARY}#K",
        f"vault:a//{CANARY}#K",
        f"vault:/abs/{CANARY}#K",
        f"vault:a/{CANARY}#",  # no key
        f"vault:with space {CANARY}#K",
        f"env:{CANARY}",  # '-' is not allowed in a variable name
        "env:",
        f"env:1{CANARY}",
    ],
)
def test_malformed_reference_is_refused_without_echoing_it(malformed: str) -> None:
    with pytest.raises(SecretReferenceError) as err:
        resolve_references({"K": malformed}, vault=None, environ={}, component_id="c", scope=WIDE)
    assert "secret K of component c looks like a reference but is malformed" in str(err.value)
    assert CANARY not in str(err.value)
    assert "literal:" in str(err.value)  # how to store such a value literally


def test_parse_reference() -> None:
    assert parse_reference("vault:a/b.c/d_e-f#KEY#WITH#HASH") == VaultReference(
        "a/b.c/d_e-f", "KEY#WITH#HASH"
    )
    assert parse_reference("env:PATH") == EnvReference("PATH")
    assert parse_reference("plain") is None
    assert parse_reference("literal:vault:x") is None
    assert str(VaultReference("a/b", "K")) == "vault:a/b#K"
    assert is_reference("env:X") and is_reference("vault:") and not is_reference("Vault:x")


@given(st.text())
def test_escape_literal_round_trips_any_text(value: str) -> None:
    stored = escape_literal(value)
    assert resolve_references({"K": stored}, vault=None, environ={}, scope=WIDE) == {"K": value}


@given(st.text().filter(lambda v: not v.startswith(("vault:", "env:", "literal:"))))
def test_plain_values_pass_through_unchanged(value: str) -> None:
    assert escape_literal(value) == value
    assert resolve_references({"K": value}, vault=None, environ={}, scope=WIDE) == {"K": value}


@settings(max_examples=300)
@given(
    prefix=st.sampled_from(["vault:", "env:", "literal:", ""]),
    body=st.text(),
)
def test_fuzz_resolution_only_raises_our_errors_and_never_echoes_malformed(
    prefix: str, body: str
) -> None:
    value = prefix + body + CANARY
    try:
        resolve_references({"K": value}, vault=None, environ={"PATH": "/bin"}, scope=WIDE)
    except SecretReferenceError as exc:
        try:
            parse_reference(value)
        except ValueError:
            assert CANARY not in str(exc)  # malformed: the value is not echoed
    except WassetteError as exc:  # pragma: no cover - would be a bug
        pytest.fail(f"unexpected {type(exc).__name__}")
