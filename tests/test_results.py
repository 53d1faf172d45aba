"""The shared result documents: Wassette 0.8.0's status wording for each verb and kind, and no
policy-defined value in any of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wassette import results
from wassette.policy.model import EnvironmentPermission, Policy


@pytest.mark.parametrize(
    ("verb", "kind", "status"),
    [
        ("granted", "storage", "permission granted successfully"),
        ("granted", "network", "permission granted successfully"),
        ("granted", results.ENVIRONMENT_KIND, "permission granted successfully"),
        ("granted", "memory", "permission granted successfully"),
        ("revoked", "storage", "permission revoked successfully"),
        ("revoked", "network", "permission revoked"),
        ("revoked", results.ENVIRONMENT_KIND, "permission revoked"),
        ("revoked", "timeout", "permission revoked successfully"),
    ],
)
def test_status_wording(verb: str, kind: str, status: str) -> None:
    details = {"uri": "fs:///data"} if kind == "storage" else {}
    out = results.permission_changed(verb, "c", kind, details, None)
    assert out["status"] == status
    assert out["permission_type"] == kind
    assert out["policy"] is None
    assert ("uri" in out) == (verb == "revoked" and kind == "storage")


def test_no_policy_value_leaks_into_any_result(tmp_path: Path) -> None:
    canary = "canary-policy-value-42"
    policy = Policy(environment=(EnvironmentPermission("API_KEY", value=canary),))
    path = tmp_path / "c.policy.yaml"
    path.write_text("x")
    docs = [
        results.permission_changed("granted", "c", results.ENVIRONMENT_KIND, {"key": "K"}, policy),
        results.policy_result("c", policy, path),
    ]
    assert canary not in json.dumps(docs)
    assert docs[1]["policy"]["permissions"]["environment"]["allow"] == [
        {"key": "API_KEY", "value_set": True}
    ]
    assert docs[1]["policy_info"]["local_path"] == str(path)
    assert results.policy_result("c", None, path)["policy_file"] is None
