"""The provisioning manifest: Wassette's format read exactly, our marked extensions, located
errors before anything is fetched, and provisioning (idempotence, digest pins, retries,
value_from) against a real ComponentManager with real components."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.componentbuild import build_component
from tests.conftest import Home
from tests.manifest.watcomponents import write_answer
from wassette.errors import (
    ConfigError,
    PolicyError,
    SourceIntegrityError,
    SourceUnreachableError,
)
from wassette.manifest import (
    RetryPolicy,
    export_manifest,
    parse_manifest,
    plan,
    provision,
    read_state,
)
from wassette.policy.model import Access
from wassette.policy.parser import parse_policy

PIN = "sha256:" + "ab" * 32
CANARY = "CANARY-manifest-4411"

# The four examples of Wassette's manifest documentation, as its users write them.
SIMPLE = """\
version: 1
components:
  - uri: oci://ghcr.io/microsoft/time-server-js:latest
    permissions: {}
"""
MULTI = """\
version: 1
components:
  - uri: oci://ghcr.io/microsoft/get-weather-js:latest
    name: weather
    permissions:
      network:
        allow:
          - host: api.openweathermap.org
  - uri: file:///opt/components/fs.wasm
    name: files
    permissions:
      storage:
        allow:
          - uri: fs:///tmp/workspace
            access: [read, write]
"""
SECRETS = """\
version: 1
components:
  - uri: oci://ghcr.io/microsoft/get-weather-js:latest
    permissions:
      network:
        allow:
          - host: api.openweathermap.org
      environment:
        allow:
          - key: OPENWEATHER_API_KEY
            value_from: WEATHER_KEY
          - key: LOG_LEVEL
"""
PRODUCTION = f"""\
version: 1
components:
  - uri: oci://ghcr.io/microsoft/get-weather-js:1.2.3
    name: weather-service
    digest: {PIN}
    permissions:
      network:
        allow:
          - host: api.openweathermap.org
      resources:
        memory_bytes: 134217728
    retry_policy:
      attempts: 3
      backoff:
        type: exponential
        base_ms: 100
"""


def test_simple_example_keeps_the_components_policy() -> None:
    m = parse_manifest(SIMPLE)
    (c,) = m.components
    assert c.component_id == "microsoft_time-server-js"
    assert c.policy is None  # permissions: {} keeps what the component has
    assert c.retry == RetryPolicy()


def test_multi_component_example() -> None:
    m = parse_manifest(MULTI)
    weather, files = m.components
    assert weather.label == "weather"
    assert weather.policy is not None
    assert [n.host for n in weather.policy.network] == ["api.openweathermap.org"]
    assert files.policy is not None
    (storage,) = files.policy.storage
    assert storage.path == "/tmp/workspace"
    assert storage.access == frozenset({Access.READ, Access.WRITE})


def test_secrets_example_value_from() -> None:
    (c,) = parse_manifest(SECRETS).components
    assert dict(c.value_from) == {"OPENWEATHER_API_KEY": "WEATHER_KEY"}
    assert c.policy is not None
    assert [e.key for e in c.policy.environment] == ["OPENWEATHER_API_KEY", "LOG_LEVEL"]
    assert all(e.value is None for e in c.policy.environment)


def test_production_example_digest_and_retry() -> None:
    (c,) = parse_manifest(PRODUCTION).components
    assert c.digest == PIN
    assert c.policy is not None and c.policy.memory_limit_bytes == 134217728
    assert c.retry == RetryPolicy(attempts=3, kind="exponential", step_ms=100)
    assert [c.retry.delay_after(n) for n in (1, 2)] == [0.1, 0.2]


def test_backoff_spellings_and_linear() -> None:
    text = SIMPLE.replace(
        "permissions: {}",
        "permissions: {}\n    retry_policy: {attempts: 4, backoff: {linear: {increment_ms: 50}}}",
    )
    (c,) = parse_manifest(text).components
    assert c.retry == RetryPolicy(4, "linear", 50)
    assert [c.retry.delay_after(n) for n in (1, 2, 3)] == [0.05, 0.1, 0.15]
    tagged = text.replace("{linear: {increment_ms: 50}}", "{type: linear, increment_ms: 50}")
    assert parse_manifest(tagged).components[0].retry == RetryPolicy(4, "linear", 50)


def test_extensions_required_redact_timeout_and_references() -> None:
    text = """\
version: 1
components:
  - uri: file:///c/x.wasm
    permissions:
      environment:
        allow:
          - key: API_KEY
            value_from: "vault:shared/stripe#API_KEY"
            required: true
          - key: MODE
            value_from: "env:APP_MODE"
            redact: false
      resources:
        memory: 64Mi
        timeout: 30s
"""
    (c,) = parse_manifest(text).components
    assert c.policy is not None
    api, mode = c.policy.environment
    assert api.required and api.redact
    assert not mode.redact
    assert c.policy.timeout_seconds == 30.0
    assert c.policy.memory_limit_bytes == 64 << 20
    assert dict(c.value_from) == {"API_KEY": "vault:shared/stripe#API_KEY", "MODE": "env:APP_MODE"}


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_manifest(text, source="m.yaml")
    assert info.value.exit_code == 4
    return info.value.message


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("version: 2\ncomponents: []\n", "version", 1),
        ("version: 1\ncomponents: []\n", "components", 2),
        ("version: 1\n", "components", None),
        ("components:\n  - uri: file:///x.wasm\n    permissions: {}\n", "version", None),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n",
            "components[0]",
            3,
        ),
        (
            "version: 1\ncomponents:\n  - uri: ftp://x/y.wasm\n    permissions: {}\n",
            "components[0].uri",
            3,
        ),
        (
            "version: 1\ncomponents:\n  - uri: http://x/y.wasm\n    permissions: {}\n",
            "components[0].uri",
            3,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    digest: sha256:abc\n"
            "    permissions: {}\n",
            "components[0].digest",
            4,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      netwrok:\n        allow:\n          - host: a.example\n",
            "components[0].permissions",
            5,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      allow:\n        - host: a.example\n",
            "components[0].permissions",
            5,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      network:\n        allow: []\n",
            "components[0].permissions.network.allow",
            6,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      storage:\n        allow:\n          - uri: /tmp\n            access: [read]\n",
            "components[0].permissions.storage.allow[0].uri",
            7,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      storage:\n        allow:\n          - uri: fs:///tmp\n"
            "            access: read\n",
            "components[0].permissions.storage.allow[0].access",
            8,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
            "      environment:\n        allow:\n          - key: A\n          - key: A\n",
            "components[0].permissions.environment.allow[1].key",
            8,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions: {}\n"
            "  - uri: file:///x.wasm\n    permissions: {}\n",
            "components[1].uri",
            5,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///a/x.wasm\n    permissions: {}\n"
            "  - uri: file:///b/x.wasm\n    permissions: {}\n",
            "components[1].uri",
            5,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions: {}\n"
            "    retry_policy: {attempts: 0}\n",
            "components[0].retry_policy.attempts",
            5,
        ),
        (
            "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions: {}\n"
            "    retry_policy: {attempts: 2, backoff: {cubic: {base_ms: 1}}}\n",
            "components[0].retry_policy.backoff",
            5,
        ),
        ("version: 1\ncomponents:\n  - uri: [unclosed\n", "", 4),
    ],
)
def test_located_errors(text: str, path: str, line: int | None) -> None:
    message = _error(text)
    assert "m.yaml" in message
    if path:
        assert f": {path}: " in message or message.split(": ")[2] == path, message
    if line is not None:
        assert f"line {line}," in message, message


def test_errors_never_echo_values() -> None:
    text = (
        "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
        f"      environment:\n        allow:\n          - key: A\n            value: {CANARY}\n"
        f"            value_from: {CANARY}\n"
    )
    message = _error(text)
    assert CANARY not in message
    assert CANARY not in _error(f"version: 1\ncomponents: {{'{CANARY}': [}}\n")


def test_storage_entries_read_as_a_policy_file_reads_them() -> None:
    # One reader for both formats: a directory listed twice is one entry with both accesses,
    # and the same mistake gets the same located reason and fix, as a ConfigError here.
    manifest_text = (
        "version: 1\ncomponents:\n  - uri: file:///x.wasm\n    permissions:\n"
        "      storage:\n        allow:\n"
        "          - {uri: fs:///srv/data, access: [read]}\n"
        "          - {uri: fs:///srv/data/, access: [write]}\n"
    )
    (comp,) = parse_manifest(manifest_text).components
    assert comp.policy is not None
    from_policy = parse_policy(
        "permissions:\n  storage:\n    allow:\n"
        "      - {uri: fs:///srv/data, access: [read]}\n"
        "      - {uri: fs:///srv/data/, access: [write]}\n"
    )
    assert comp.policy.storage == from_policy.storage
    (entry,) = comp.policy.storage
    assert entry.access == frozenset({Access.READ, Access.WRITE})
    missing = manifest_text.replace(", access: [write]", "")
    with pytest.raises(ConfigError) as caught:
        parse_manifest(missing, source="m.yaml")
    assert caught.value.what == "invalid manifest m.yaml"
    assert caught.value.why == (
        "components[0].permissions.storage.allow[1]: the field access is missing"
        " (line 8, column 13)"
    )
    assert caught.value.fix == 'add access: ["read"]'
    with pytest.raises(PolicyError) as as_policy:
        parse_policy(
            "permissions:\n  storage:\n    allow:\n      - {uri: fs:///srv/data}\n",
            source="p.yaml",
        )
    assert as_policy.value.fix == caught.value.fix


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_manifest_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_manifest(text)


# --- provisioning against a real manager ---------------------------------------------------


@pytest.fixture
def system(home: Home) -> object:
    from wassette.config import load_settings
    from wassette.wiring import System

    env = {**home.env, "WEATHER_KEY": CANARY, "APP_MODE": "blue"}
    settings = load_settings(environ=env, plugin_dir=home.plugin_dir)
    assert str(settings.plugin_dir).startswith(str(home.root))
    return System(settings, env)


def _manifest_for(wasm: Path, extra: str = "", digest: str | None = None) -> str:
    pin = f"    digest: {digest}\n" if digest else ""
    return (
        "version: 1\ncomponents:\n"
        f"  - uri: {wasm.as_uri()}\n    name: reader\n{pin}"
        "    permissions:\n      environment:\n        allow:\n"
        "          - key: API_KEY\n            value_from: WEATHER_KEY\n"
        "            redact: false\n"
        "          - key: MODE\n            value_from: env:APP_MODE\n"
        "            redact: false\n" + extra
    )


def test_provision_is_idempotent_and_value_from_is_resolved_per_call(
    system: object, tmp_path: Path
) -> None:
    from wassette.manifest import file_sha256

    wasm = tmp_path / "env_reader.wasm"
    shutil.copyfile(build_component("env-reader"), wasm)
    digest = file_sha256(wasm)
    manager = system.manager  # type: ignore[attr-defined]
    m = parse_manifest(_manifest_for(wasm, digest=digest))
    steps: list[str] = []
    first = provision(m, manager, progress=steps.append)
    assert [o.status for o in first.outcomes] == ["installed"], first.outcomes
    assert any("fetching" in s for s in steps)
    assert read_state(manager.component_dir)["env_reader"]["digest"] == digest
    stamp = manager.wasm_path("env_reader").stat().st_mtime_ns

    # Same manifest again: nothing fetched, nothing rewritten.
    assert [c.action for c in plan(m, manager)] == ["unchanged"]
    again = provision(m, manager)
    assert [o.status for o in again.outcomes] == ["unchanged"]
    assert not again.changed
    assert manager.wasm_path("env_reader").stat().st_mtime_ns == stamp

    # value_from: API_KEY reads WEATHER_KEY of the server's environment at call time.
    result = manager.call_tool("get-var", {"key": "API_KEY"})
    assert result.structured == {"result": CANARY}
    assert manager.status("env_reader")["environment"][0]["source"] == "inherited"
    # Our extension: value_from as a reference, resolved per call.
    assert manager.call_tool("get-var", {"key": "MODE"}).structured == {"result": "blue"}
    # The variable named by value_from is not itself visible under its own name.
    assert manager.call_tool("get-var", {"key": "WEATHER_KEY"}).structured == {"result": None}

    exported = export_manifest(manager)
    assert 'value_from: "WEATHER_KEY"' in exported
    assert digest in exported
    assert CANARY not in exported
    reparsed = parse_manifest(exported).components[0]
    assert reparsed.policy == m.components[0].policy
    assert reparsed.digest == digest


def test_bad_digest_fails_and_keeps_nothing(system: object, tmp_path: Path) -> None:
    wasm = tmp_path / "env_reader.wasm"
    shutil.copyfile(build_component("env-reader"), wasm)
    manager = system.manager  # type: ignore[attr-defined]
    report = provision(parse_manifest(_manifest_for(wasm, digest=PIN)), manager)
    (o,) = report.outcomes
    assert o.status == "failed"
    assert isinstance(o.error, SourceIntegrityError)
    assert manager.component_ids() == []
    err = report.error()
    assert "1 of 1" in err.message and "reader" in err.message


def test_retry_policy_applies_to_unreachable_sources(system: object) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = (
        f"version: 1\ncomponents:\n  - uri: oci://127.0.0.1:{port}/x/y:1\n    permissions: {{}}\n"
        "    retry_policy: {attempts: 3, backoff: {exponential: {base_ms: 40}}}\n"
    )
    slept: list[float] = []
    report = provision(
        parse_manifest(text),
        system.manager,  # type: ignore[attr-defined]
        sleep=slept.append,
    )
    (o,) = report.outcomes
    assert isinstance(o.error, SourceUnreachableError)
    assert o.attempts == 3
    assert slept == [0.04, 0.08]


def test_reapply_removes_only_what_a_manifest_provisioned(system: object, tmp_path: Path) -> None:
    manager = system.manager  # type: ignore[attr-defined]
    a = write_answer(tmp_path / "first.wasm")
    # A component loaded by hand (not by the manifest) must survive re-applies.
    write_answer(manager.component_dir / "by_hand.wasm", tool="by-hand")

    def manifest(*paths: Path) -> str:
        body = "".join(f"  - uri: {p.as_uri()}\n    permissions: {{}}\n" for p in paths)
        return "version: 1\ncomponents:\n" + body

    first = provision(parse_manifest(manifest(a)), manager)
    assert [o.status for o in first.outcomes] == ["installed"]
    other = write_answer(tmp_path / "other.wasm", value=7)
    second = provision(parse_manifest(manifest(other)), manager, remove_missing=True)
    statuses = {o.component_id: o.status for o in second.outcomes}
    assert statuses == {"other": "installed", "first": "removed"}
    assert manager.component_ids() == ["by_hand", "other"]
    assert re.search(r"1 installed, 1 removed", second.summary())
    assert set(read_state(manager.component_dir)) == {"other"}
    # A changed file behind the same uri is fetched again (no pin: the source may move).
    write_answer(other, value=8)
    third = provision(parse_manifest(manifest(other)), manager, remove_missing=True)
    assert [o.status for o in third.outcomes] == ["updated"]
    assert manager.call_tool("answer", {}).structured == {"result": 8}
