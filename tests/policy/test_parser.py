"""The policy file format: what it accepts, how it refuses, and that it round-trips."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.policy.strategies import policies
from wassette.errors import PolicyError
from wassette.policy import parser
from wassette.policy.model import (
    Access,
    EnvironmentPermission,
    NetworkPermission,
    Policy,
    StoragePermission,
)

CANARY = "CANARY-pol-7d1e"

REFERENCE = """\
version: "1.0"
description: "an example"
permissions:
  storage:
    allow:
      - uri: "fs:///home/me/data/**"        # absolute host path
        access: ["read", "write"]
  network:
    allow:
      - host: "api.example.com"
      - host: "https://api.other.com"
  environment:
    allow:
      - key: "API_KEY"
      - key: "LOG_LEVEL"
        value: "debug"
  resources:
    limits:
      memory: "512Mi"
      timeout: "30s"
"""


def parse(text: str) -> Policy:
    return parser.parse_policy(textwrap.dedent(text), source="test.policy.yaml")


def refused(text: str | bytes) -> str:
    """The message of the PolicyError that parsing ``text`` raises."""
    data = textwrap.dedent(text) if isinstance(text, str) else text
    with pytest.raises(PolicyError) as caught:
        parser.parse_policy(data, source="test.policy.yaml")
    message = str(caught.value)
    assert "test.policy.yaml" in message
    assert CANARY not in message
    assert CANARY not in repr(caught.value.args)
    return message


def test_reference_example() -> None:
    policy = parse(REFERENCE)
    assert policy == Policy(
        description="an example",
        storage=(StoragePermission("/home/me/data", frozenset({Access.READ, Access.WRITE})),),
        network=(
            NetworkPermission("api.example.com"),
            NetworkPermission("api.other.com", scheme="https"),
        ),
        environment=(
            EnvironmentPermission("API_KEY"),
            EnvironmentPermission("LOG_LEVEL", value="debug"),
        ),
        memory_limit_bytes=512 << 20,
        timeout_seconds=30.0,
    )


def test_env_value_is_kept_out_of_repr() -> None:
    policy = parse(f'permissions: {{environment: {{allow: [{{key: K, value: "{CANARY}"}}]}}}}')
    assert policy.environment[0].value == CANARY
    assert CANARY not in repr(policy)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "permissions:\n"])
def test_empty_documents_grant_nothing(text: str) -> None:
    assert parse(text) == Policy()


def test_version_forms() -> None:
    assert parse('version: "1.0"') == Policy()
    assert parse("version: 1.0") == Policy()
    assert parse("version: 1") == Policy()
    message = refused('version: "2.0"')
    assert "version" in message
    assert "line 1, column 10" in message
    refused("version: true")


def test_bom_is_accepted() -> None:
    assert parser.parse_policy(b"\xef\xbb\xbfversion: '1.0'\n") == Policy()


@pytest.mark.parametrize(
    ("text", "path", "reason", "where"),
    [
        ("- a\n- b\n", "top level", "must be a mapping", ""),
        ("permisions: {}\n", "top level", "unknown field 'permisions'", "line 1, column 1"),
        ('version: "1.0"\nfoo: 1\nbar: 2\n', "top level", "unknown fields 'foo', 'bar'", "line 2"),
        ("description: 5\n", "description", "must be a string", "line 1, column 14"),
        ("permissions: []\n", "permissions", "must be a mapping", "line 1, column 14"),
        (
            "permissions:\n  files: {}\n",
            "permissions",
            "unknown field 'files'",
            "line 2, column 3",
        ),
        (
            "permissions:\n  storage:\n    allowed: []\n",
            "permissions.storage",
            "unknown field 'allowed'",
            "line 3, column 5",
        ),
        (
            "permissions:\n  storage:\n    allow: {}\n",
            "permissions.storage.allow",
            "must be a list",
            "line 3",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - fs:///x\n",
            "permissions.storage.allow[0]",
            "must be a mapping",
            "line 4, column 9",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - access: [read]\n",
            "permissions.storage.allow[0]",
            "uri is missing",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - uri: fs:///x\n",
            "permissions.storage.allow[0]",
            "access is missing",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 5, access: [read]}\n",
            "permissions.storage.allow[0].uri",
            "must be a string",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 'fs://x', access: [read]}\n",
            "permissions.storage.allow[0].uri",
            "absolute",
            "line 4, column 15",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 'fs:///x', access: read}\n",
            "permissions.storage.allow[0].access",
            "must be a list",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 'fs:///x', access: [exec]}\n",
            "permissions.storage.allow[0].access",
            "'read' and 'write'",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 'fs:///x', access: [1]}\n",
            "permissions.storage.allow[0].access[0]",
            "must be a string",
            "line 4",
        ),
        (
            "permissions:\n  storage:\n    allow:\n      - {uri: 'fs:///x', access: [], mode: 1}\n",
            "permissions.storage.allow[0]",
            "unknown field 'mode'",
            "line 4",
        ),
        (
            "permissions:\n  network:\n    allow:\n"
            "      - host: a.com\n      - host: b.com\n      - host: '*'\n",
            "permissions.network.allow[2].host",
            "lone '*'",
            "line 6, column 15",
        ),
        (
            "permissions:\n  network:\n    allow:\n      - {host: a.com, cidr: 10.0.0.0/8}\n",
            "permissions.network.allow[0]",
            "exactly one of host or cidr",
            "line 4",
        ),
        (
            "permissions:\n  network:\n    allow:\n      - {}\n",
            "permissions.network.allow[0]",
            "exactly one of host or cidr",
            "line 4",
        ),
        (
            "permissions:\n  network:\n    allow:\n      - {host: a.com, port: 80}\n",
            "permissions.network.allow[0]",
            "unknown field 'port'",
            "line 4",
        ),
        (
            "permissions:\n  network:\n    allow:\n      - host: 8080\n",
            "permissions.network.allow[0].host",
            "must be a string",
            "line 4",
        ),
        (
            "permissions:\n  environment:\n    allow:\n      - value: x\n",
            "permissions.environment.allow[0]",
            "key is missing",
            "line 4",
        ),
        (
            "permissions:\n  environment:\n    allow:\n      - key: 'BAD-KEY'\n",
            "permissions.environment.allow[0].key",
            "not a valid environment variable name",
            "line 4, column 14",
        ),
        (
            "permissions:\n  environment:\n    allow:\n      - {key: A, required: 'yes'}\n",
            "permissions.environment.allow[0].required",
            "true or false",
            "line 4",
        ),
        (
            "permissions:\n  environment:\n    allow:\n      - {key: A}\n      - {key: B}\n"
            "      - {key: A}\n",
            "permissions.environment.allow[2].key",
            "already listed at permissions.environment.allow[0]",
            "line 6",
        ),
        (
            "permissions:\n  resources:\n    memory: 1Gi\n",
            "permissions.resources",
            "unknown field 'memory'",
            "line 3",
        ),
        (
            "permissions:\n  resources:\n    limits: 1Gi\n",
            "permissions.resources.limits",
            "must be a mapping",
            "line 3",
        ),
        (
            "permissions:\n  resources:\n    limits:\n      memory: 512MB\n",
            "permissions.resources.limits.memory",
            "not a size",
            "line 4, column 15",
        ),
        (
            "permissions:\n  resources:\n    limits:\n      timeout: 5sec\n",
            "permissions.resources.limits.timeout",
            "not a duration",
            "line 4, column 16",
        ),
        (
            "permissions:\n  resources:\n    limits:\n      disk: 1Gi\n",
            "permissions.resources.limits",
            "unknown field 'disk'",
            "line 4",
        ),
        (
            "permissions:\n  network:\n    deny: nope\n",
            "permissions.network.deny",
            "must be a list",
            "line 3",
        ),
    ],
)
def test_validation_errors_name_the_field(text: str, path: str, reason: str, where: str) -> None:
    message = refused(text)
    assert f"{path}: " in message
    assert reason in message
    assert where in message


def test_unknown_field_fix_lists_the_allowed_ones() -> None:
    message = refused("permissions:\n  storage:\n    allowed: []\n")
    assert "allow, deny" in message


@pytest.mark.parametrize(
    "text",
    [
        f'permissions:\n  environment:\n    allow:\n      - key: A\n        value: ["{CANARY}"]\n',
        f"permissions:\n  environment:\n    allow:\n      - key: A\n"
        f"        value: {{x: {CANARY}}}\n",
        f'permissions:\n  environment:\n    allow:\n      - key: A\n        value: "{CANARY}\\0"\n',
        f'permissions:\n  environment:\n    allow:\n      - {{key: A, value: "{CANARY}"}}\n'
        f'      - {{key: A, value: "{CANARY}"}}\n',
        f'permissions:\n  environment:\n    allow:\n      - {{key: A, value: "{CANARY}", x: 1}}\n',
        f'permissions:\n  environment:\n    allow:\n      - {{key: A, value: "{CANARY}"}}\n'
        "  x: 1\n",
    ],
)
def test_invalid_env_values_are_never_echoed(text: str) -> None:
    refused(text)  # asserts the canary is absent


@pytest.mark.parametrize(
    "text",
    [
        f'a: "x"\na: "{CANARY}"\n',
        f'permissions:\n  environment:\n    allow:\n      - key: A\n        value: "{CANARY}"\n'
        f'        value: "{CANARY}2"\n',
        f'value: "{CANARY}\n',
        f"value: '{CANARY}\n",
        f'value: "{CANARY}" x\n',
        f"value: {CANARY}: x: y\n",
        f"value: [{CANARY}\n",
        f"value: !!int {CANARY}\n",
        f"value: !!float {CANARY}\n",
        f"value: !!bool {CANARY}\n",
        f"value: !!timestamp {CANARY}\n",
        f"value: !!binary {CANARY}\n",
        f"value: *{CANARY}\n",
        f'value: "\\q{CANARY}"\n',
        f"\tvalue: {CANARY}\n",
        f"value: {CANARY}\x07\n",
        f"value: &a {CANARY}\n<<: [1]\n",
        f"%YAML 9.9\n---\nvalue: {CANARY}\n",
        f"!<{CANARY}> x\n",
        "[" * 5000,
    ],
)
def test_yaml_syntax_errors_are_located_and_redacted(text: str) -> None:
    message = refused(text)
    assert "not valid YAML" in message or "cannot read" in message or "invalid policy" in message


def test_syntax_error_position() -> None:
    message = refused('version: "1.0"\npermissions:\n  storage: [\n')
    assert "line 4" in message


def test_not_utf8_and_too_large() -> None:
    assert "UTF-8" in refused(b"version: '1.0'\ndescription: '\xff\xfe'\n")
    big = "# " + "x" * parser.MAX_POLICY_BYTES + "\n"
    assert "larger than" in refused(big)
    assert "larger than" in refused(big.encode())


def test_compat_fields_are_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    text = """\
    permissions:
      storage:
        deny:
          - uri: "fs:///etc"
      network:
        allow:
          - host: "api.example.com"
          - cidr: "10.0.0.0/8"
        deny:
          - host: "evil.example.com"
      environment:
        deny: []
      resources:
        limits:
          cpu: "500m"
          memory: "1Gi"
    """
    with caplog.at_level(logging.WARNING, logger="wassette.policy"):
        policy = parse(text)
    assert policy == Policy(
        network=(NetworkPermission("api.example.com"),), memory_limit_bytes=1 << 30
    )
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for path in (
        "permissions.storage.deny",
        "permissions.network.allow[1].cidr",
        "permissions.network.deny",
        "permissions.environment.deny",
        "permissions.resources.limits.cpu",
    ):
        assert path in warned
    assert warned.count("NOT enforced") == 5
    assert "10.0.0.0" not in warned and "evil" not in warned


def test_duplicates_merge_or_dedupe() -> None:
    policy = parse(
        """\
        permissions:
          storage:
            allow:
              - {uri: "fs:///data/**", access: [read]}
              - {uri: "fs:///other", access: [read]}
              - {uri: "fs:///data", access: [write]}
          network:
            allow:
              - host: API.example.com
              - host: api.example.com.
        """
    )
    assert policy.storage == (
        StoragePermission("/data", frozenset({Access.READ, Access.WRITE})),
        StoragePermission("/other", frozenset({Access.READ})),
    )
    assert policy.network == (NetworkPermission("api.example.com"),)


def test_required_and_null_fields() -> None:
    policy = parse(
        """\
        description: null
        permissions:
          storage:
          network:
            allow:
          environment:
            allow:
              - {key: A, required: true, value: null}
              - {key: B, required: false}
        """
    )
    assert policy == Policy(
        environment=(EnvironmentPermission("A", required=True), EnvironmentPermission("B"))
    )


@settings(max_examples=150, deadline=None)
@given(policies())
def test_round_trip(policy: Policy) -> None:
    text = parser.dump_policy(policy)
    assert parser.parse_policy(text) == policy
    # The canonical text is stable: dumping what was read gives the same text.
    assert parser.dump_policy(parser.parse_policy(text)) == text


def test_dump_is_the_reference_shape() -> None:
    text = parser.dump_policy(parse(REFERENCE))
    assert text.startswith('version: "1.0"\n')
    assert '      - uri: "fs:///home/me/data"\n        access: ["read", "write"]\n' in text
    assert '      memory: "512Mi"\n      timeout: "30s"\n' in text


def test_policy_to_dict_hides_values_unless_asked() -> None:
    policy = parse(REFERENCE.replace('value: "debug"', f'value: "{CANARY}"'))
    view = parser.policy_to_dict(policy)
    text = json.dumps(view)
    assert CANARY not in text
    assert view["permissions"]["environment"]["allow"][1] == {"key": "LOG_LEVEL", "value_set": True}
    assert view["permissions"]["storage"]["allow"] == [
        {"uri": "fs:///home/me/data", "access": ["read", "write"]}
    ]
    assert view["permissions"]["resources"] == {"limits": {"memory": "512Mi", "timeout": "30s"}}
    shown = parser.policy_to_dict(policy, show_values=True)
    assert shown["permissions"]["environment"]["allow"][1]["value"] == CANARY
    assert parser.policy_to_dict(Policy()) == {"version": "1.0", "permissions": {}}


@settings(max_examples=100, deadline=None)
@given(policies(), policies(), st.booleans())
def test_sync_turns_any_document_into_any_policy(before: Policy, after: Policy, flow: bool) -> None:
    """Editing a document in place (what grants do) yields exactly the target policy, whether
    the document was written in block style or as one JSON/flow line."""
    if flow:
        view = parser.policy_to_dict(before, show_values=True)
        # JSON escapes astral characters as surrogate pairs, which YAML readers do not join.
        assume(all(ord(c) <= 0xFFFF for c in json.dumps(view, ensure_ascii=False)))
        text = json.dumps(view)
    else:
        text = parser.dump_policy(before)
    doc = parser.load_document(text)
    assert parser.document_to_policy(doc) == before
    edited = parser.dump_document(parser.sync_document(doc, after))
    assert parser.parse_policy(edited) == after


def test_the_documented_example_is_valid() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = parser.parse_policy(example)
    assert policy.environment[0] == EnvironmentPermission("API_KEY", required=True)
    assert [n.entry for n in policy.network] == [
        "api.example.com",
        "*.cdn.example.com",
        "https://api.other.com",
        "127.0.0.1:8080",
    ]
    assert (policy.memory_limit_bytes, policy.timeout_seconds) == (512 << 20, 30.0)
