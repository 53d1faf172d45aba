"""What arrives with a component is a request, end to end: real CLI subprocesses, a real
docker-registry, the official MCP client in-process.

- A hostile publisher's policy layer (``fs:///``, the server's ``VAULT_TOKEN`` unredacted, a
  ``value:`` shadowing the operator's secret, many hosts) is effective in no part without
  approval; the proposal is shown; accepting applies exactly what was shown; a reload after
  ``permission reset`` restores nothing; a reload with a wider policy reports the difference
  and does not widen.
- A swap (``component load file:///elsewhere/victim.wasm`` over an installed ``victim``) is
  refused on the CLI without ``--replace`` and over MCP, and the attacker's binary gets none
  of victim's secrets; with ``--replace`` the output lists what now applies to it.

The victim and most publishers are tiny WAT components (compiled in milliseconds); the
env-reader (a real componentize-py component) plays the binary that must read nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.componentbuild import build_component
from tests.components.conftest import oci_registry  # noqa: F401 - a session fixture
from tests.components.ocipush import push_component as push
from tests.components.registry_server import RegistryServer
from tests.components.test_provenance import tiny
from tests.conftest import CANARY, Home, run_cli, run_cli_in_pty
from tests.e2e.flows import text
from tests.policy.test_proposal import hostile
from wassette.config import load_settings
from wassette.manager import ComponentManager
from wassette.secretstore.factory import open_backend
from wassette.server.app import WassetteMCP

PUBLISHER_CANARY = "CANARY-publisher-value-8840"
VAULT_CANARY = "CANARY-vault-token-3317"

HOSTILE = hostile(PUBLISHER_CANARY).encode()


def mild(data_dir: Path, extra: str = "") -> bytes:
    return f"""version: "1.0"
permissions:
  storage:
    allow:
      - uri: "fs://{data_dir}"
        access: ["read"]{extra}
  network:
    allow:
      - host: "api.example.com"
  environment:
    allow:
      - key: API_KEY
        value: "{PUBLISHER_CANARY}"
      - key: LOG_LEVEL
        redact: false
""".encode()


def cli(home: Home, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    proc = run_cli(home, *args, env=env)
    assert proc.returncode == code, f"wassette {' '.join(args[:3])}: {proc.stderr}"
    for canary in (PUBLISHER_CANARY, VAULT_CANARY, CANARY):
        assert canary not in proc.stdout + proc.stderr, f"{canary} leaked by {args[:2]}"
    return (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def test_a_hostile_policy_layer_is_effective_in_no_part_without_approval(
    home: Home,
    oci_registry: RegistryServer,  # noqa: F811
) -> None:
    reader = build_component("env-reader").read_bytes()
    uri = push(oci_registry, "hostile/api-client", "1.0", reader, HOSTILE)
    cid = "hostile_api-client"
    server_env = {"VAULT_TOKEN": VAULT_CANARY}
    out, err = cli(home, "component", "load", uri, env=server_env)
    assert out["policy_installed"] is False
    proposal = out["policy_proposal"]
    assert proposal["status"] == "pending"
    assert proposal["accept_with"] == f"wassette component accept-policy {cid}"
    shown = "\n".join(proposal["permissions"])
    # fs:/// is a protected path: dropped from the proposal and said so, never offered.
    assert "files in /" not in shown
    assert "storage fs:/// was dropped" in "\n".join(proposal["dropped"])
    assert "VAULT_TOKEN" in shown and "looks like a credential" in shown
    assert "any subdomain of attacker.example" in shown and "exfil.example.net" in shown
    dropped = "\n".join(proposal["dropped"])
    assert "value for API_KEY was dropped" in dropped
    assert "'redact: false' for VAULT_TOKEN" in dropped
    assert "was NOT installed" in err and f"wassette component accept-policy {cid}" in err
    # Nothing of it is in force: no policy file, the component sees no variable at all.
    assert not (home.plugin_dir / f"{cid}.policy.yaml").exists()
    got, _ = cli(home, "policy", "get", cid)
    assert got["policy"] is None
    cli(home, "secret", "set", cid, f"API_KEY={CANARY}")
    listed, _ = cli(home, "tool", "invoke", "list-vars", env=server_env)
    assert listed["result"] == []
    # The proposal is kept privately, without the publisher's value, and shown by inspect.
    kept = home.plugin_dir / f"{cid}.proposal.json"
    assert (kept.stat().st_mode & 0o777) == 0o600
    assert PUBLISHER_CANARY not in kept.read_text()
    info, _ = cli(home, "inspect", cid)
    assert info["policy_proposal"]["permissions"] == proposal["permissions"]
    assert info["source"]["uri"] == uri


def test_accepting_applies_exactly_what_was_shown_and_revocations_stand(
    home: Home,
    oci_registry: RegistryServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uri = push(oci_registry, "prov/mild", "1.0", tiny("mild"), mild(data))
    cid = "prov_mild"
    out, _ = cli(home, "component", "load", uri)
    shown = out["policy_proposal"]["permissions"]
    assert len(shown) == 4 and out["policy_proposal"]["status"] == "pending"
    accepted, _ = cli(home, "component", "accept-policy", cid)
    assert accepted["granted"] == shown
    assert '"event":"accept-policy"' in _audit(home).read_text()
    exact = {
        "version": "1.0",
        "permissions": {
            "storage": {"allow": [{"uri": f"fs://{data}", "access": ["read"]}]},
            "network": {"allow": [{"host": "api.example.com"}]},
            # No publisher value, no redact: false: the operator's tiers decide.
            "environment": {"allow": [{"key": "API_KEY"}, {"key": "LOG_LEVEL"}]},
        },
    }
    assert accepted["policy"] == exact
    assert cli(home, "policy", "get", cid)[0]["policy"] == exact
    cli(home, "component", "accept-policy", cid, code=3)  # nothing pending any more
    # The operator's secret is what API_KEY resolves to: no publisher value shadows it.
    cli(home, "secret", "set", cid, f"API_KEY={CANARY}")
    status, _ = cli(home, "secret", "status", cid)
    assert {e["key"]: e["source"] for e in status["environment"]}["API_KEY"] == "secret"

    # A reload after `permission reset` restores nothing, and says what it would.
    cli(home, "permission", "reset", cid)
    out, _ = cli(home, "component", "load", uri)
    assert out["policy_installed"] is False and out["policy_proposal"]["permissions"] == shown
    assert cli(home, "policy", "get", cid)[0]["policy"] is None
    # ... unless the operator accepts it on the command line.
    out, err = cli(home, "component", "load", uri, "--accept-policy")
    assert out["policy_installed"] is True and out["policy_proposal"]["approved_by"] == "operator"
    assert "granted what the policy shipped with this component asked" in err
    assert "value for API_KEY was dropped" in err
    assert cli(home, "policy", "get", cid)[0]["policy"] == exact

    # A revoked entry stays revoked: the reload only proposes it again.
    cli(home, "permission", "revoke", "network", cid, "api.example.com")
    out, _ = cli(home, "component", "load", uri)
    assert out["policy_proposal"]["permissions"] == ["send HTTP requests to api.example.com"]
    assert "network" not in cli(home, "policy", "get", cid)[0]["policy"]["permissions"]

    # The tag moves to a build whose policy asks for more: an upgrade, the difference is
    # reported, and the policy is not widened.
    before = cli(home, "policy", "get", cid)[0]["policy"]
    # (Not tmp_path itself: it holds the test's home, a protected path, and would be dropped.)
    wider_dir = tmp_path / "wider"
    wider_dir.mkdir()
    wider = mild(data, extra=f'\n      - uri: "fs://{wider_dir}"\n        access: ["write"]')
    push(oci_registry, "prov/mild", "1.0", tiny("mild-v2"), wider)
    out, err = cli(home, "component", "load", uri)
    assert out["upgrade"]["to_digest"] == out["digest"] != out["upgrade"]["from_digest"]
    assert "upgraded" in err
    assert sorted(out["policy_proposal"]["permissions"]) == sorted(
        [f"write files in {wider_dir}", "send HTTP requests to api.example.com"]
    )
    assert cli(home, "policy", "get", cid)[0]["policy"] == before


@pytest.mark.parametrize(("answer", "installed"), [(b"y\n", True), (b"n\n", False)])
def test_on_a_terminal_the_operator_is_asked(
    home: Home,
    oci_registry: RegistryServer,  # noqa: F811
    tmp_path: Path,
    answer: bytes,
    installed: bool,
) -> None:
    uri = push(oci_registry, "prov/asked", "1.0", tiny("asked"), mild(tmp_path))
    code, stdout, stderr = run_cli_in_pty(home, ["component", "load", uri], b"[y/N]", answer)
    assert code == 0, stderr
    assert "ships a policy asking to" in stderr and "api.example.com" in stderr
    assert json.loads(stdout)["policy_installed"] is installed
    assert (home.plugin_dir / "prov_asked.policy.yaml").exists() is installed


def _audit(home: Home) -> Path:
    return home.root / "state" / "wassette" / "audit.log"


def _victim(home: Home, tmp_path: Path) -> Path:
    src = tmp_path / "a" / "victim.wasm"
    src.parent.mkdir(parents=True)
    src.write_bytes(tiny("victim"))
    cli(home, "component", "load", str(src))
    cli(home, "secret", "set", "victim", f"API_KEY={CANARY}")
    cli(home, "permission", "grant", "environment-variable", "victim", "API_KEY")
    return src


def test_a_swapped_binary_is_refused_on_the_cli_then_replace_says_what_applies(
    home: Home, tmp_path: Path
) -> None:
    victim = _victim(home, tmp_path)
    before = (home.plugin_dir / "victim.wasm").read_bytes()
    elsewhere = tmp_path / "elsewhere" / "victim.wasm"
    elsewhere.parent.mkdir()
    shutil.copyfile(build_component("env-reader"), elsewhere)
    _, err = cli(home, "component", "load", elsewhere.as_uri(), code=8)
    assert "refusing to replace component 'victim'" in err and "--replace" in err
    assert victim.as_uri() in err
    assert (home.plugin_dir / "victim.wasm").read_bytes() == before
    tools, _ = cli(home, "tool", "list")
    assert "list-vars" not in json.dumps(tools)  # the reader never got installed
    listed, _ = cli(home, "component", "list")
    assert listed["components"][0]["source"] == victim.as_uri()

    out, err = cli(home, "component", "load", elsewhere.as_uri(), "--replace")
    assert out["replaced"]["now_applies"] == {
        "policy": ["environment API_KEY"],
        "secret_keys": ["API_KEY"],
    }
    assert out["replaced"]["previous_source"] == victim.as_uri()
    assert out["source"]["uri"] == elsewhere.as_uri()
    assert "warning:" in err and "API_KEY" in err
    # The hand-over is in the audit log (key names only), and the chain still verifies.
    events = [json.loads(line) for line in _audit(home).read_text().splitlines()]
    [replace] = [e for e in events if e["event"] == "replace"]
    assert replace["keys"] == ["API_KEY"] and replace["approved_by"] == "operator"
    assert replace["previous_source"] == victim.as_uri()
    assert replace["source"] == elsewhere.as_uri()
    assert CANARY not in _audit(home).read_text()
    cli(home, "secret", "audit", "--verify")


@pytest.mark.parametrize(("answer", "code"), [(b"y\n", 0), (b"n\n", 8)])
def test_on_a_terminal_a_replacement_is_asked(
    home: Home, tmp_path: Path, answer: bytes, code: int
) -> None:
    victim = _victim(home, tmp_path)
    other = tmp_path / "b" / "victim.wasm"
    other.parent.mkdir()
    other.write_bytes(tiny("other"))
    got, stdout, stderr = run_cli_in_pty(home, ["component", "load", str(other)], b"[y/N]", answer)
    assert got == code, stderr
    assert "Replace component 'victim'" in stderr
    assert victim.as_uri() in stderr and other.as_uri() in stderr and "API_KEY" in stderr
    assert CANARY not in stdout + stderr
    installed = (home.plugin_dir / "victim.wasm").read_bytes()
    assert installed == (other.read_bytes() if code == 0 else tiny("victim"))


def test_over_mcp_a_swap_is_refused_and_a_shipped_policy_stays_a_proposal(
    home: Home,
    oci_registry: RegistryServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    _victim(home, tmp_path)
    before = (home.plugin_dir / "victim.wasm").read_bytes()
    attacker = tmp_path / "elsewhere" / "victim.wasm"
    attacker.parent.mkdir()
    attacker.write_bytes(tiny("attacker"))
    proposed = push(oci_registry, "prov/mcp", "1.0", tiny("mcp"), HOSTILE)
    settings = load_settings(plugin_dir=home.plugin_dir, environ=home.env)
    manager = ComponentManager(
        settings.plugin_dir,
        open_backend(settings, home.env),
        inherited_env={"VAULT_TOKEN": VAULT_CANARY},
    )
    # A client that cannot ask (no elicitation): under the default mcp_grants "ask" a swap
    # still needs a person, so it is refused; under "require-approval" so is the policy.
    default = WassetteMCP(manager)
    mcp = WassetteMCP(manager, mcp_grants="require-approval")

    async def go() -> None:
        async with Client(default.server, mode="legacy") as c:
            swap = await c.call_tool("load-component", {"path": attacker.as_uri()})
            assert swap.is_error and "refusing to replace component 'victim'" in text(swap)
            assert "a person must approve it" in text(swap)
        async with Client(mcp.server, mode="legacy") as c:
            swap = await c.call_tool("load-component", {"path": attacker.as_uri()})
            assert swap.is_error and "refusing to replace component 'victim'" in text(swap)
            listed = json.loads(text(await c.call_tool("list-components", {})))
            [row] = listed["components"]
            assert row["source"].endswith("/a/victim.wasm") and row["digest"].startswith("sha256:")
            loaded = await c.call_tool("load-component", {"path": proposed})
            assert not loaded.is_error, text(loaded)
            result = json.loads(text(loaded))
            assert result["policy_installed"] is False
            assert result["policy_proposal"]["status"] == "pending"
            assert "storage fs:/// was dropped" in "\n".join(result["policy_proposal"]["dropped"])
            for canary in (CANARY, VAULT_CANARY, PUBLISHER_CANARY):
                assert canary not in text(swap) + text(loaded)

    anyio.run(go)
    assert (home.plugin_dir / "victim.wasm").read_bytes() == before
    assert manager.policy("prov_mcp") is None
