"""Scoped references against a real two-tenant OpenBao.

Two tenants share one Vault; each has a token whose policy reaches only its own component's
path. The server resolves references with its own (root) token and environment. Neither
tenant's references may reach the other tenant's secrets, a shared secret the operator did not
grant, or the server's VAULT_TOKEN; the configured widening (``[references.<id>]``) works.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import Home, run_cli
from tests.secretstore.openbao import ROOT_TOKEN, BaoServer
from wassette.config import load_settings
from wassette.errors import SecretReferenceError, WassetteError
from wassette.manager import ComponentManager
from wassette.secretstore.backends.vault import VaultBackend
from wassette.secretstore.references import (
    EnvReference,
    ReferenceScope,
    VaultReference,
    in_scope,
    resolve_references,
)

STRIPE_B = "CANARY-tenant-b-stripe-5120"
DB_PASSWORD = "CANARY-shared-db-7719"  # noqa: S105 - a test canary
SERVER_TOKEN_NAME = "VAULT_TOKEN"  # noqa: S105 - a variable name


def _tenant_token(bao: BaoServer, name: str, path: str) -> str:
    root = bao.root_client()
    rules = (
        f'path "secret/data/{path}" {{ capabilities = ["create", "read", "update", "patch"] }}\n'
        f'path "secret/metadata/{path}" {{ capabilities = ["read", "list"] }}\n'
    )
    root.sys.create_or_update_policy(name=name, policy=rules)
    created = root.auth.token.create(policies=[name], no_default_policy=False, ttl="10m")
    return str(created["auth"]["client_token"])


class Tenants:
    def __init__(self, bao: BaoServer) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.a, self.b = f"tenant-a-{suffix}", f"tenant-b-{suffix}"
        self.shared = f"shared/db-{suffix}"
        root = bao.root_client()
        root.secrets.kv.v2.create_or_update_secret(
            path=self.shared, secret={"PASSWORD": DB_PASSWORD}, mount_point="secret"
        )
        self.token_a = _tenant_token(bao, self.a, f"wassette/{self.a}")
        self.token_b = _tenant_token(bao, self.b, f"wassette/{self.b}")
        self.vault_a = VaultBackend.from_config(
            {"address": bao.address}, {"VAULT_TOKEN": self.token_a}
        )
        self.vault_b = VaultBackend.from_config(
            {"address": bao.address}, {"VAULT_TOKEN": self.token_b}
        )
        self.server = VaultBackend.from_config(
            {"address": bao.address, "cache_ttl": 0}, {"VAULT_TOKEN": ROOT_TOKEN}
        )
        # Tenant B stores its own real secret with its own token.
        self.vault_b.set_many(self.b, {"STRIPE_KEY": STRIPE_B})


@pytest.fixture
def tenants(bao_server: BaoServer) -> Tenants:
    return Tenants(bao_server)


def _manager(tmp: Path, tenants: Tenants, scopes: dict[str, ReferenceScope]) -> ComponentManager:
    tmp.mkdir(exist_ok=True)
    for cid in (tenants.a, tenants.b):
        (tmp / f"{cid}.policy.yaml").write_text(
            'version: "1.0"\npermissions:\n  environment:\n    allow:\n      - key: "REF"\n'
        )
    return ComponentManager(
        tmp,
        tenants.server,
        inherited_env={SERVER_TOKEN_NAME: ROOT_TOKEN, "SHARED_TOKEN": "shared-ok"},
        reference_scopes=scopes,
    )


def _value(manager: ComponentManager, cid: str) -> str:
    return dict(manager.capabilities(cid).env)["REF"]


def test_tenant_tokens_really_are_isolated(tenants: Tenants) -> None:
    # The premise: tenant A's own token cannot read tenant B's path.
    try:
        got = dict(tenants.vault_a.read_path(f"wassette/{tenants.b}"))
    except WassetteError:
        got = {}
    assert STRIPE_B not in got.values()
    assert dict(tenants.server.get_all(tenants.b)) == {"STRIPE_KEY": STRIPE_B}


@pytest.mark.parametrize(
    "target",
    ["other-tenant", "shared-ungranted", "server-token", "server-env"],
)
def test_out_of_scope_references_fail_naming_reference_and_setting(
    tmp_path: Path, tenants: Tenants, target: str
) -> None:
    refs = {
        "other-tenant": f"vault:wassette/{tenants.b}#STRIPE_KEY",
        "shared-ungranted": f"vault:{tenants.shared}#PASSWORD",
        "server-token": f"env:{SERVER_TOKEN_NAME}",
        "server-env": "env:SHARED_TOKEN",
    }
    ref = refs[target]
    # Tenant A writes the reference into its own path with its own (limited) token.
    tenants.vault_a.set_many(tenants.a, {"REF": ref})
    manager = _manager(tmp_path / "c", tenants, {})
    with pytest.raises(SecretReferenceError) as err:
        manager.capabilities(tenants.a)
    text = f"{err.value} {err.value!r}"
    assert ref in text
    assert f"[references.{tenants.a}]" in text
    for canary in (STRIPE_B, DB_PASSWORD, ROOT_TOKEN, "shared-ok"):
        assert canary not in text


def test_own_path_references_resolve_and_widening_works(tmp_path: Path, tenants: Tenants) -> None:
    tenants.vault_a.set_many(tenants.a, {"PLAIN": "own-value"})
    tenants.vault_a.set_many(tenants.a, {"REF": f"vault:wassette/{tenants.a}#PLAIN"})
    assert _value(_manager(tmp_path / "c1", tenants, {}), tenants.a) == "own-value"
    # The operator shares the database with tenant A only.
    tenants.vault_a.set_many(tenants.a, {"REF": f"vault:{tenants.shared}#PASSWORD"})
    scopes = {tenants.a: ReferenceScope(vault=(tenants.shared,), env=("SHARED_TOKEN",))}
    manager = _manager(tmp_path / "c2", tenants, scopes)
    assert _value(manager, tenants.a) == DB_PASSWORD
    tenants.vault_a.set_many(tenants.a, {"REF": "env:SHARED_TOKEN"})
    assert _value(manager, tenants.a) == "shared-ok"
    # The widening is per component: tenant B's identical reference still fails...
    tenants.vault_b.set_many(tenants.b, {"REF": f"vault:{tenants.shared}#PASSWORD"})
    with pytest.raises(SecretReferenceError, match=f"references.{tenants.b}"):
        manager.capabilities(tenants.b)
    # ...and widening env to SHARED_TOKEN does not open VAULT_TOKEN.
    tenants.vault_a.set_many(tenants.a, {"REF": f"env:{SERVER_TOKEN_NAME}"})
    with pytest.raises(SecretReferenceError) as err:
        manager.capabilities(tenants.a)
    assert ROOT_TOKEN not in str(err.value)


def test_scope_matching_is_by_path_segment() -> None:
    scope = ReferenceScope(vault=("shared/db",), env=("A",), own_vault="wassette/x")
    assert in_scope(VaultReference("shared/db", "k"), scope)
    assert in_scope(VaultReference("shared/db/replica", "k"), scope)
    assert not in_scope(VaultReference("shared/db2", "k"), scope)
    assert not in_scope(VaultReference("shared", "k"), scope)
    assert in_scope(VaultReference("wassette/x", "k"), scope)
    assert not in_scope(VaultReference("wassette/xy", "k"), scope)
    assert in_scope(EnvReference("A"), scope)
    assert not in_scope(EnvReference("AB"), scope)
    # Default: nothing (file backend: no own Vault path).
    assert not in_scope(VaultReference("wassette/x", "k"), ReferenceScope())
    with pytest.raises(SecretReferenceError, match="outside its reference scope"):
        resolve_references({"K": "env:A"}, vault=None, environ={"A": "v"}, scope=ReferenceScope())


def test_cli_set_import_and_status_report_references(home: Home) -> None:
    home.config_file.parent.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text('[references.comp]\nvault = ["shared/db"]\nenv = ["OK_VAR"]\n')
    settings = load_settings(environ=home.env)
    assert settings.references["comp"] == ReferenceScope(vault=("shared/db",), env=("OK_VAR",))
    out = run_cli(
        home,
        "secret",
        "set",
        "comp",
        "--force",
        "A=env:OK_VAR",
        "B=env:VAULT_TOKEN",
        "C=plain",
        "D=vault:shared/db#pw",
    )
    assert out.returncode == 0, out.stderr
    refs = {r["key"]: r for r in json.loads(out.stdout)["references"]}
    assert set(refs) == {"A", "B", "D"}
    assert refs["A"]["in_scope"] and not refs["B"]["in_scope"]
    assert refs["A"]["kind"] == "env" and refs["D"]["kind"] == "vault"
    # File backend: no Vault at all, but the scope says shared/db is allowed for comp.
    assert refs["D"]["in_scope"]
    assert "env:VAULT_TOKEN" in out.stderr and "[references.comp]" in out.stderr
    env_file = home.root / "in.env"
    env_file.write_text("X=env:HOME\nY=value\n")
    imported = run_cli(home, "secret", "import", "comp", str(env_file), "--force")
    assert imported.returncode == 0, imported.stderr
    assert [r["key"] for r in json.loads(imported.stdout)["references"]] == ["X"]
    assert "OUT OF SCOPE" in imported.stderr
    # status: a stored reference shows as reference (env|vault), not as a secret.
    (home.plugin_dir).mkdir(parents=True, exist_ok=True)
    (home.plugin_dir / "comp.policy.yaml").write_text(
        'version: "1.0"\npermissions:\n  environment:\n    allow:\n'
        '      - key: "A"\n      - key: "C"\n      - key: "D"\n'
    )
    status = run_cli(home, "secret", "status", "comp")
    assert status.returncode == 0, status.stderr
    sources = {e["key"]: e["source"] for e in json.loads(status.stdout)["environment"]}
    assert sources == {"A": "reference (env)", "C": "secret", "D": "reference (vault)"}
