"""Real components run through the component manager under their *current* policy and secrets.

This is the spec's promise made real: secrets are injected as environment variables when a
component is instantiated, only those the policy allows, with the precedence policy > secret >
inherited, and a `secret set` from anywhere is seen by the very next call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.componentbuild import install_component
from tests.conftest import CANARY, Home, run_cli
from wassette.errors import (
    ComponentMemoryError,
    ComponentTimeoutError,
    ComponentTrapError,
    InvalidArgumentsError,
    NotFoundError,
    PolicyError,
    SecretReferenceError,
)
from wassette.manager import ComponentManager
from wassette.policy.store import PolicyStore
from wassette.secretstore.audit import AuditLog
from wassette.secretstore.references import ReferenceScope
from wassette.secretstore.store import SecretStore

Factory = Callable[..., ComponentManager]


@pytest.fixture
def make(tmp_path: Path) -> Factory:
    plugin_dir = tmp_path / "components"
    secrets_dir = tmp_path / "secrets"

    def factory(**kwargs: object) -> ComponentManager:
        kwargs.setdefault("inherited_env", {})
        return ComponentManager(plugin_dir, SecretStore(secrets_dir), **kwargs)  # type: ignore[arg-type]

    return factory


def env_of(manager: ComponentManager, tool: str = "list-vars") -> dict[str, str]:
    result = manager.call_tool(tool, {})
    assert result.structured is not None
    return {k: v for k, v in result.structured["result"]}


def test_no_policy_means_the_guest_sees_nothing(make: Factory, tmp_path: Path) -> None:
    manager = make(inherited_env={"HOME": "/root", "API_KEY": CANARY})
    install_component("env-reader", manager.component_dir)
    install_component("fs-tool", manager.component_dir)
    manager.secrets.set_many("env-reader", {"API_KEY": CANARY})
    assert env_of(manager) == {}  # 0 env vars: no inherited env, no secrets
    secret_file = tmp_path / "secrets" / "env-reader.secrets.yaml"
    for path in (str(secret_file), "/", "/etc/passwd", str(tmp_path)):
        result = manager.call_tool("read-file", {"path": path})
        assert result.structured is not None
        assert "err" in result.structured["result"], path  # 0 files


def test_env_tiers_and_precedence(make: Factory) -> None:
    manager = make(
        explicit_env={"OPERATOR": "from-operator", "BOTH": "operator-loses-to-policy-value"},
        inherited_env={
            "POLICY_KEY": "inherited",
            "SECRET_KEY": "inherited",
            "INHERITED_KEY": "inherited-value",
            "NOT_ALLOWED": "inherited",
        },
    )
    install_component("env-reader", manager.component_dir)
    policies = PolicyStore(manager.component_dir)
    # redact=False: the test reads the values back through the tool's result.
    policies.grant_environment_variable("env-reader", "POLICY_KEY", "policy-value", redact=False)
    policies.grant_environment_variable("env-reader", "BOTH", "policy-value-2", redact=False)
    for key in ("OPERATOR", "SECRET_KEY", "INHERITED_KEY", "ABSENT"):
        policies.grant_environment_variable("env-reader", key, redact=False)
    manager.secrets.set_many(
        "env-reader",
        {
            "POLICY_KEY": "secret-loses",
            "OPERATOR": "secret-loses-to-operator",
            "SECRET_KEY": "secret-value",
            "NOT_ALLOWED": CANARY,
        },
    )
    got = env_of(manager)
    assert got == {
        "POLICY_KEY": "policy-value",  # tier 1: the policy's own value
        "BOTH": "policy-value-2",  # ... beats the operator's
        "OPERATOR": "from-operator",  # tier 1: operator (serve --env / config)
        "SECRET_KEY": "secret-value",  # tier 2 beats inherited
        "INHERITED_KEY": "inherited-value",  # tier 3
    }
    assert "NOT_ALLOWED" not in got and "ABSENT" not in got
    tiers = dict(manager.capabilities("env-reader").env_tiers)
    assert {k: str(v) for k, v in tiers.items()} == {
        "POLICY_KEY": "policy",
        "BOTH": "policy",
        "OPERATOR": "policy",
        "SECRET_KEY": "secret",
        "INHERITED_KEY": "inherited",
    }


def test_a_secret_changed_between_calls_is_seen_by_the_next(make: Factory, home: Home) -> None:
    manager = make()
    install_component("env-reader", manager.component_dir)
    # Opted out of redaction, so the value itself is visible to the test.
    PolicyStore(manager.component_dir).grant_environment_variable(
        "env-reader", "API_KEY", redact=False
    )
    assert env_of(manager) == {}
    manager.secrets.set_many("env-reader", {"API_KEY": "first-value"})
    assert env_of(manager) == {"API_KEY": "first-value"}
    # Another process rotates it: the same long-lived manager sees it on the next call.
    run_cli(
        home,
        *("secret", "set", "env-reader", "API_KEY=second-value", "--force"),
        *("--plugin-dir", str(manager.component_dir)),
        env={"WASSETTE_SECRETS_DIR": str(manager.component_dir.parent / "secrets")},
        check=True,
    )
    assert env_of(manager) == {"API_KEY": "second-value"}
    manager.secrets.delete_many("env-reader", ["API_KEY"])
    assert env_of(manager) == {}


def test_a_component_cannot_read_another_components_secrets(make: Factory) -> None:
    manager = make()
    install_component("env-reader", manager.component_dir, "one")
    install_component("env-reader", manager.component_dir, "two")
    PolicyStore(manager.component_dir).grant_environment_variable("two", "API_KEY")
    manager.secrets.set_many("one", {"API_KEY": CANARY})
    # `one` and `two` export the same tool names; the manager offers the first, so call
    # through the component's own capabilities to be explicit about which one runs.
    from wassette.runtime.invoke import invoke

    caps = manager.capabilities("two")
    result = invoke(manager.loaded("two"), ("list-vars",), [], caps)
    assert result.value == []
    assert CANARY not in repr(caps)


def test_injected_secrets_are_redacted_from_results_unless_opted_out(make: Factory) -> None:
    manager = make()
    install_component("env-reader", manager.component_dir)
    install_component("misbehaver", manager.component_dir)
    store = PolicyStore(manager.component_dir)
    store.grant_environment_variable("env-reader", "API_KEY")
    store.grant_environment_variable("env-reader", "SHORT")
    manager.secrets.set_many("env-reader", {"API_KEY": CANARY, "SHORT": "abc"})
    result = manager.call_tool("get-var", {"key": "API_KEY"})
    assert result.structured == {"result": "[REDACTED:API_KEY]"}
    assert CANARY not in result.text
    assert manager.call_tool("get-var", {"key": "SHORT"}).structured == {"result": "abc"}
    listed = manager.call_tool("list-vars", {})
    assert CANARY not in json.dumps(listed.structured)
    # stderr and errors of a component that echoes its secret
    store.grant_environment_variable("misbehaver", "TOKEN")
    manager.secrets.set_many("misbehaver", {"TOKEN": CANARY})
    with pytest.raises(ComponentTrapError) as info:
        manager.call_tool("crash", {"reason": f"leaking {CANARY}"})
    assert CANARY not in str(info.value) and "[REDACTED:TOKEN]" in str(info.value)
    chat = manager.call_tool("chatter", {"text": f"x{CANARY}y"})
    assert chat.structured == {"result": "x[REDACTED:TOKEN]y"}
    assert CANARY not in chat.stdout + chat.stderr
    # The policy opts a key out.
    store.grant_environment_variable("env-reader", "API_KEY", redact=False)
    assert "redact: false" in (manager.component_dir / "env-reader.policy.yaml").read_text()
    assert manager.call_tool("get-var", {"key": "API_KEY"}).structured == {"result": CANARY}


def test_required_keys_fail_before_the_guest_runs(make: Factory) -> None:
    manager = make()
    install_component("env-reader", manager.component_dir)
    PolicyStore(manager.component_dir).grant_environment_variable(
        "env-reader", "API_KEY", required=True
    )
    with pytest.raises(PolicyError) as info:
        manager.call_tool("list-vars", {})
    assert "API_KEY" in str(info.value)
    assert "wassette secret set env-reader API_KEY=<value>" in str(info.value)
    manager.secrets.set_many("env-reader", {"API_KEY": "present-value"})
    assert "API_KEY" in env_of(manager)


def test_references_resolve_and_dangle_by_name(make: Factory) -> None:
    # env: references resolve only for names the operator listed for this component.
    scopes = {"env-reader": ReferenceScope(env=("SHARED_TOKEN", "NOT_SET_ANYWHERE"))}
    manager = make(inherited_env={"SHARED_TOKEN": "from-server-env"}, reference_scopes=scopes)
    install_component("env-reader", manager.component_dir)
    store = PolicyStore(manager.component_dir)
    store.grant_environment_variable("env-reader", "TOKEN", redact=False)
    manager.secrets.set_many("env-reader", {"TOKEN": "env:SHARED_TOKEN"})
    assert env_of(manager) == {"TOKEN": "from-server-env"}
    manager.secrets.set_many("env-reader", {"TOKEN": "env:NOT_SET_ANYWHERE"})
    with pytest.raises(SecretReferenceError) as info:
        manager.call_tool("list-vars", {})
    assert "env:NOT_SET_ANYWHERE" in str(info.value)
    # A reference under a key the policy does not allow is never even resolved.
    manager.secrets.set_many("env-reader", {"TOKEN": "plain", "OTHER": "env:NOT_SET_ANYWHERE"})
    assert env_of(manager) == {"TOKEN": "plain"}


def test_injections_are_audited_without_values(make: Factory, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "state" / "audit.log")
    manager = make(audit=audit, inherited_env={"HOME": "/home/x"})
    install_component("env-reader", manager.component_dir)
    store = PolicyStore(manager.component_dir)
    store.grant_environment_variable("env-reader", "API_KEY")
    store.grant_environment_variable("env-reader", "HOME")
    manager.secrets.set_many("env-reader", {"API_KEY": CANARY})
    for _ in range(5):
        manager.call_tool("list-vars", {})
    assert manager.injections is not None
    manager.injections.flush()
    events = [e for e in audit.events("env-reader") if e["event"] == "inject"]
    # Identical injections within the coalescing window share one line, with their count.
    assert sum(e.get("count", 1) for e in events) == 5
    assert len(events) < 5
    assert events[0]["keys"] == {"API_KEY": "secret", "HOME": "inherited"}
    assert CANARY not in (tmp_path / "state" / "audit.log").read_text()
    assert audit.verify().ok


def test_read_only_storage_refuses_writes(make: Factory, tmp_path: Path) -> None:
    manager = make()
    install_component("fs-tool", manager.component_dir)
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("hello")
    store = PolicyStore(manager.component_dir)
    store.grant_storage("fs-tool", f"fs://{data}", ["read"])
    assert manager.call_tool("read-file", {"path": str(data / "in.txt")}).structured == {
        "result": {"ok": "hello"}
    }
    denied = manager.call_tool("write-file", {"path": str(data / "out.txt"), "contents": "x"})
    assert denied.structured is not None and "err" in denied.structured["result"]
    assert not (data / "out.txt").exists()
    store.grant_storage("fs-tool", f"fs://{data}", ["read", "write"])
    manager.call_tool("write-file", {"path": str(data / "out.txt"), "contents": "x"})
    assert (data / "out.txt").read_text() == "x"


def test_failures_are_clean_and_the_next_call_works(make: Factory) -> None:
    manager = make()
    install_component("misbehaver", manager.component_dir)
    store = PolicyStore(manager.component_dir)
    store.grant_timeout("misbehaver", "1s")
    started = time.monotonic()
    with pytest.raises(ComponentTimeoutError) as info:
        manager.call_tool("spin", {})
    assert time.monotonic() - started < 2.0  # timeout + 1 s
    assert "wassette permission grant timeout misbehaver" in str(info.value)
    with pytest.raises(ComponentTimeoutError):
        manager.call_tool("nap", {"seconds": 30.0})  # blocked in a host call
    assert time.monotonic() - started < 4.0
    store.grant_memory("misbehaver", "64Mi")
    with pytest.raises(ComponentMemoryError):
        manager.call_tool("hog", {"megabytes": 512})
    with pytest.raises(InvalidArgumentsError) as bad:
        manager.call_tool("hog", {"megabytes": -1})
    assert "megabytes" in str(bad.value)
    with pytest.raises(NotFoundError):
        manager.call_tool("no-such-tool", {})
    assert manager.call_tool("ok", {}).structured == {"result": "ok"}


def test_tool_listing_comes_from_metadata_without_compiling(make: Factory) -> None:
    manager = make()
    install_component("env-reader", manager.component_dir, warm=False)
    first = [t.name for t in manager.all_tools()]  # compiles once, writes metadata
    assert first == ["get-var", "list-vars"]
    meta = json.loads((manager.component_dir / "env-reader.tools.json").read_text())
    assert [t["name"] for t in meta["tools"]] == first
    fresh = make()  # a new process: no memory cache
    (manager.component_dir / "env-reader.compiled").unlink()  # nothing compiled either
    started = time.monotonic()
    assert [t.name for t in fresh.all_tools()] == first
    assert time.monotonic() - started < 0.5
    assert not (manager.component_dir / "env-reader.compiled").exists()
